"""Delivery-report webhooks: an app's configuration, signing secrets and the delivery log
(``config``); the secrets' format and the signatures (``signing``)."""
