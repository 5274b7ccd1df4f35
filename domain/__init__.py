"""The domain core: what a push, a dispatch, a device, an API key and a webhook configuration
are, and the rules for changing them, whoever calls (the HTTP API, the CLI, the workers, the
panel, automation, campaigns). One subpackage per concern; functions take a database connection
and return typed rows (dataclasses), never HTTP envelopes. Imports ``shared`` only."""
