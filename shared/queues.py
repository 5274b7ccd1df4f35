"""Queue and task names: the one place both the intake and the workers take them from.

Each gateway has a transactional lane and a bulk lane on separate Redis lists, consumed by
separate worker processes (or with the tx lane listed first), so a campaign backlog never sits in
front of a 2FA code.
"""

from __future__ import annotations

from typing import Literal

Gateway = Literal["fcm", "apns"]
Lane = Literal["tx", "bulk"]

FCM_TX = "fcm.tx"
FCM_BULK = "fcm.bulk"
APNS_TX = "apns.tx"
APNS_BULK = "apns.bulk"
DLR = "dlr"  # send results, and the periodic jobs (they write PostgreSQL as the recorder does)
SEND_QUEUES = (FCM_TX, FCM_BULK, APNS_TX, APNS_BULK)
ALL_QUEUES = (*SEND_QUEUES, DLR)

TASK_SEND_FCM = "pushflow.send.fcm"
TASK_SEND_APNS = "pushflow.send.apns"
TASK_RECORD_RESULT = "pushflow.dlr.record"
TASK_EXPIRE_IDEMPOTENCY_KEYS = "pushflow.periodic.expire_idempotency_keys"
TASK_RELEASE_AUTOMATION = "pushflow.automation.release"  # delayed and quiet-hour sends


def gateway_for(platform: str) -> Gateway:
    return "apns" if platform == "ios" else "fcm"


def lane_queue(gateway: str, lane: Lane) -> str:
    """The send queue of ``gateway``'s ``lane`` (``apns.bulk``)."""
    return f"{gateway}.{lane}"


def send_queue(platform: str, lane: Lane = "tx") -> str:
    return lane_queue(gateway_for(platform), lane)


def lane_of(queue: str) -> Lane:
    """The lane of a send queue (``fcm.bulk`` -> ``bulk``)."""
    return "bulk" if queue.endswith(".bulk") else "tx"


def send_task(platform: str) -> str:
    return TASK_SEND_APNS if platform == "ios" else TASK_SEND_FCM
