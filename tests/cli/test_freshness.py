"""Freshness (spot_cli/local/freshness.py): from the message's SentTimestamp to the return of a
handler call that did not fail it; retried messages are measured when they finally succeed."""

import json
import time

import pytest

from spot_cli.local.freshness import FreshnessRecorder, freshness_summary


def _record(message_id, event_id, sent_seconds_ago):
    sent = int((time.time() - sent_seconds_ago) * 1000)
    return {
        "messageId": message_id,
        "body": json.dumps({"id": event_id}),
        "attributes": {"SentTimestamp": str(sent)},
    }


def test_only_records_the_handler_did_not_fail_are_measured():
    answers = [{"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"batchItemFailures": []}]
    recorder = FreshnessRecorder(lambda event, context: answers.pop(0))
    recorder({"Records": [_record("m1", "e1", 2.0), _record("m2", "e2", 5.0)]}, None)
    assert set(recorder.seconds) == {"e1"}
    assert recorder.seconds["e1"] == pytest.approx(2.0, abs=0.5)
    # The redelivery keeps its first SentTimestamp: the retry's wait counts.
    recorder({"Records": [_record("m2", "e2", 9.0), {"messageId": "m3", "body": "not json"}]}, None)
    assert recorder.seconds["e2"] == pytest.approx(9.0, abs=0.5)
    assert recorder.summary(["e1", "e2", "poison"])["events"] == 2


def test_percentiles_interpolate_between_ranks():
    summary = freshness_summary([float(v) for v in range(1, 101)])
    assert summary == {"events": 100, "p50": 50.5, "p95": 95.05, "p99": 99.01, "max": 100.0}
    assert freshness_summary([3.0])["p99"] == 3.0
    assert freshness_summary([]) == {"events": 0}
