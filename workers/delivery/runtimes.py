"""The delivery runtime of this process for a gateway, created on first use.

Keyed by pid too: a prefork child must build its own (threads and sockets do not survive fork).
"""

from __future__ import annotations

import functools
import os
import threading

from shared.settings import get_settings
from workers.delivery.registry import gateway_factory
from workers.delivery.runtime import DeliveryRuntime

_CREATE = threading.Lock()  # Celery's thread pool may ask from many threads at once


def runtime_for(gateway: str, visibility_timeout: float) -> DeliveryRuntime:
    with _CREATE:
        return _runtime(gateway, visibility_timeout, os.getpid())


@functools.cache
def _runtime(gateway: str, visibility_timeout: float, pid: int) -> DeliveryRuntime:
    return DeliveryRuntime(get_settings(), gateway_factory(gateway), gateway, visibility_timeout)
