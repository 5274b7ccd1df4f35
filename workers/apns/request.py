"""The APNs request for one job: path and headers.

Header meanings from "Sending notification requests to APNs" (https://developer.apple.com/
documentation/usernotifications/sending-notification-requests-to-apns):
- ``apns-push-type``: ``alert`` for a visible notification, ``background`` for a silent
  (content-available) one — required on watchOS/iOS 13+.
- ``apns-priority``: 10 = immediately; 5 = power-considerate. Background pushes MUST use 5; we
  also use 5 for ``priority: normal``.
- ``apns-expiration``: a UNIX epoch in seconds after which APNs stops trying: the API's ``ttl``.
- ``apns-collapse-id``: the API's ``collapseKey`` (max 64 bytes, checked by the intake).
- ``apns-id``: a UUID we choose; we use the dispatch id so every retry of a dispatch carries the
  same one and APNs' answers correlate with our records.
"""

from __future__ import annotations

from hpack import HeaderTuple, NeverIndexedHeaderTuple

from shared.jobs import SendJob


def _once(name: bytes, value: bytes) -> HeaderTuple:
    """A value unique to this request: sent literally, never added to the HPACK table (adding
    it would only evict the values that do repeat: topic, push type, the JWT)."""
    return NeverIndexedHeaderTuple(name, value)


def request_headers(job: SendJob, authority: bytes, topic: str,
                    bearer: str | None, body_length: int) -> list[tuple[bytes, bytes]]:
    """Lowercase, valid headers (the connection skips h2's normalisation). The JWT is indexed:
    it repeats on every request of a connection for 30 minutes, so after the first request it
    costs one byte instead of ~200."""
    message = job["message"]
    silent = bool(message.get("silent"))
    normal = message.get("priority", "high") == "normal"
    headers = [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", authority),
        _once(b":path", b"/3/device/" + job["token"].encode()),
        (b"apns-topic", topic.encode()),
        (b"apns-push-type", b"background" if silent else b"alert"),
        (b"apns-priority", b"5" if silent or normal else b"10"),
        _once(b"apns-id", job["dispatchId"].encode()),
        (b"content-length", str(body_length).encode()),
    ]
    if job.get("ttl") is not None:
        headers.append((b"apns-expiration", str(int(job["ttl"] or 0)).encode()))
    if message.get("collapseKey"):
        headers.append((b"apns-collapse-id", message["collapseKey"].encode()))
    if bearer is not None:
        headers.append((b"authorization", b"bearer " + bearer.encode()))
    return headers
