"""FCM delivery: FCM HTTP v1 requests over the shared raw-h2 client (workers/h2client), with
firebase-admin's service-account credential, OAuth2 tokens and message encoding."""
