"""The webhook sender: delivers signed delivery-report events (``pushflow webhooks-worker``)."""
