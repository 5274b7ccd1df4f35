"""FCM delivery: FCM HTTP v1 requests over the shared raw-h2 client (workers/h2client), with
firebase-admin's service-account credential and OAuth2 tokens; the message body is
``shared.gateway_payloads.fcm_message``."""
