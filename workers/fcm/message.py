"""A job → a firebase-admin ``messaging.Message`` (the same fields
``shared.gateway_payloads.fcm_message`` describes as JSON, which is what the size rule measures)."""

from __future__ import annotations

import time

from firebase_admin import messaging

from shared.jobs import SendJob


def build_message(job: SendJob, now: float | None = None) -> messaging.Message:
    m = job["message"]
    silent = bool(m.get("silent"))
    android_notification = None
    notification = None
    if not silent:
        notification = messaging.Notification(title=m.get("title"), body=m.get("content"),
                                              image=m.get("image"))
        if m.get("sound") or "badge" in m:
            android_notification = messaging.AndroidNotification(
                sound=m.get("sound"), notification_count=m.get("badge"))
    ttl = None
    if job.get("ttl") is not None:
        ttl = max(0, int((job["ttl"] or 0) - (now if now is not None else time.time())))
    android = messaging.AndroidConfig(
        priority="high" if m.get("priority", "high") == "high" else "normal",
        ttl=ttl, collapse_key=m.get("collapseKey"), notification=android_notification)
    return messaging.Message(token=job["token"], notification=notification, android=android,
                             data=dict(m["data"]) if m.get("data") else None)
