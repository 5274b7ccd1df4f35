"""The raw-h2 asyncio HTTP/2 client both send gateways (APNs, FCM v1) use: one connection module
(``connection``) and a pool of long-lived connections per origin (``pool``)."""

from workers.h2client.connection import ConnectionLost, NotSent, Response
from workers.h2client.pool import ConnectionPool, tls_context

__all__ = ["ConnectionLost", "ConnectionPool", "NotSent", "Response", "tls_context"]
