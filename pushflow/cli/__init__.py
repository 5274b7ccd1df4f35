"""The ``pushflow`` command."""
