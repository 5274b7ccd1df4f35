"""FCM delivery through firebase-admin (HTTP v1, OAuth2, ``send_each_async`` over httpx/HTTP/2)
on the process's one long-lived event loop."""
