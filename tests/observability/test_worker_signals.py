"""Pure parts of workers.observability: request ids of task arguments, process types, DLR counts."""

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


def test_dlr_batches_are_counted_by_status() -> None:
    from prometheus_client import REGISTRY

    from workers.observability import count_recorded_results

    def value(status: str) -> float:
        return REGISTRY.get_sample_value("pushflow_dlr_results_total", {"status": status}) or 0.0

    def batches() -> float:
        return REGISTRY.get_sample_value("pushflow_dlr_batch_size_count", {}) or 0.0

    before = (value("sent"), value("failed"), value("queued"), value("invalid"), batches())
    count_recorded_results([[{"status": "sent"}, {"status": "sent"}, {"status": "failed"},
                             {"status": "queued"}, {"status": "bogus"}, "not a result"]])
    assert (value("sent"), value("failed"), value("queued"), value("invalid"), batches()) == (
        before[0] + 2, before[1] + 1, before[2] + 1, before[3] + 2, before[4] + 1)
