"""Which request id a task's arguments carry (pure function)."""

from __future__ import annotations

from workers.observability import process_type_for, request_id_of


def test_single_job_batch_and_mixed_batch() -> None:
    assert request_id_of([{"requestId": "a1", "token": "t"}], {}) == "a1"
    assert request_id_of([], {"job": {"requestId": "b2"}}) == "b2"
    assert request_id_of([[{"requestId": "c3"}, {"requestId": "c3"}]], None) == "c3"
    assert request_id_of([[{"requestId": "c3"}, {"requestId": "d4"}]], None) is None
    assert request_id_of([[], "x", 3], None) is None


def test_process_type_from_the_consumed_queues() -> None:
    assert process_type_for(["apns.tx", "apns.bulk"]) == "worker-apns"
    assert process_type_for(["fcm.tx"]) == "worker-fcm"
    assert process_type_for(["dlr"]) == "dlr"
    assert process_type_for(["fcm.tx", "apns.tx"]) == "worker"
