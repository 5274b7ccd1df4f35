"""Apps (tenants) and their API keys (``store``), and the announcement that an app's keys changed
which every API process hears (``announce``)."""
