"""Sandbox gateways that speak the real FCM v1 and APNs protocols, for development and tests."""
