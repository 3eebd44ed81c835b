"""The poller against moto's SQS, with handlers that really fail chosen messages."""

import hashlib
import json
import threading
from collections import Counter

import boto3
import pytest
from botocore.parsers import ResponseParserError

from spot_cli.local.poller import (
    SQS_FAILURES_IN_A_ROW,
    EventSourceSettings,
    SqsEventSourcePoller,
    failed_message_ids,
)

pytestmark = pytest.mark.aws


# Long enough that a batch on a loaded machine is deleted before it becomes visible again
# (at 1 s, messages were processed twice under load).
def _queues(visibility=4, max_receive=3, redrive=True):
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="poller-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = {"VisibilityTimeout": str(visibility)}
    if redrive:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}
        )
    queue = sqs.create_queue(QueueName="poller", Attributes=attributes)["QueueUrl"]
    return sqs, queue, dlq


def _send(sqs, queue, bodies):
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[
                {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])
            ],
        )


def _all_bodies(sqs, url):
    bodies = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(m["Body"] for m in messages)


class RecordingHandler:
    """Fails the chosen bodies until their receive count reaches `succeed_on` (never if None)."""

    def __init__(self, fail=None, succeed_on=None, raise_once_for=None):
        self.fail = fail or set()
        self.succeed_on = succeed_on
        self.raise_once_for = raise_once_for
        self.raised = False
        self.seen = Counter()
        self.processed = Counter()
        self.batches = []
        self.lock = threading.Lock()

    def __call__(self, event, context):
        records = event["Records"]
        with self.lock:
            self.batches.append(records)
            for r in records:
                self.seen[r["body"]] += 1
        assert context.get_remaining_time_in_millis() > 0
        hit = any(r["body"] == self.raise_once_for for r in records)
        if hit and not self.raised:
            self.raised = True
            raise RuntimeError("OpenSearch unreachable")
        failures = []
        for r in records:
            count = int(r["attributes"]["ApproximateReceiveCount"])
            if r["body"] in self.fail and (self.succeed_on is None or count < self.succeed_on):
                failures.append({"itemIdentifier": r["messageId"]})
            else:
                with self.lock:
                    self.processed[r["body"]] += 1
        return {"batchItemFailures": failures}


def test_records_are_shaped_like_lambdas(aws):
    sqs, queue, _ = _queues()
    sqs.send_message(
        QueueUrl=queue,
        MessageBody='{"a": 1}',
        MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
    )
    handler = RecordingHandler()
    SqsEventSourcePoller(queue, handler, region="us-east-1").run()
    (record,) = handler.batches[0]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["awsRegion"] == "us-east-1"
    assert record["body"] == '{"a": 1}'
    assert record["md5OfBody"] == hashlib.md5(b'{"a": 1}').hexdigest()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"} <= set(
        record["attributes"]
    )
    assert record["messageAttributes"] == {
        "origin": {
            "stringValue": "test",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert record["receiptHandle"] and record["messageId"]


def test_partial_failures_are_retried_until_they_succeed(aws):
    sqs, queue, dlq = _queues(max_receive=5)
    bodies = [f"m{i}" for i in range(40)]
    flaky = {"m3", "m17", "m29"}
    _send(sqs, queue, bodies)
    handler = RecordingHandler(fail=flaky, succeed_on=3)
    stats = SqsEventSourcePoller(queue, handler, region="us-east-1").run()
    assert handler.processed == Counter(bodies)  # every message processed exactly once
    assert all(handler.seen[b] == 3 for b in flaky)
    assert all(handler.seen[b] == 1 for b in set(bodies) - flaky)
    assert stats.deleted == 40
    assert stats.failed_records == 6
    assert _all_bodies(sqs, queue) == []
    assert _all_bodies(sqs, dlq) == []


class FailingParses:
    """Makes botocore fail to parse the first `times` answers to each of `operations`, after
    moto acted on the request (a moto 500 with an HTML body fails the same way): received
    messages stay invisible until their visibility timeout, deleted ones are gone."""

    def __init__(self, client, operations, times=1):
        self.left = Counter({operation: times for operation in operations})
        for operation in operations:
            client.meta.events.register(f"before-parse.sqs.{operation}", self)

    def __call__(self, operation_model, **_):
        if self.left[operation_model.name] > 0:
            self.left[operation_model.name] -= 1
            raise ResponseParserError("Unable to parse response (a moto 500's HTML body)")


def test_failed_sqs_calls_are_polled_again_and_lose_nothing(aws):
    sqs, queue, dlq = _queues(visibility=2)
    bodies = [f"m{i}" for i in range(30)]
    _send(sqs, queue, bodies)
    handler = RecordingHandler()
    poller = SqsEventSourcePoller(queue, handler, region="us-east-1")
    failing = FailingParses(
        poller.sqs, ["ReceiveMessage", "DeleteMessageBatch", "GetQueueAttributes"]
    )
    stats = poller.run()
    assert sum(failing.left.values()) == 0, "every fault fired"
    # The lost receive's messages came back after their visibility timeout; the batch whose
    # delete failed had been deleted by moto all the same: each body processed once.
    assert handler.processed == Counter(bodies)
    assert stats.sqs_errors == 3
    assert _all_bodies(sqs, queue) == []
    assert _all_bodies(sqs, dlq) == []


def test_an_sqs_that_keeps_failing_stops_the_run_naming_the_queue(aws, monkeypatch):
    monkeypatch.setattr("spot_cli.local.poller.time.sleep", lambda _seconds: None)
    sqs, queue, _ = _queues()
    _send(sqs, queue, ["m0"])
    poller = SqsEventSourcePoller(queue, RecordingHandler(), region="us-east-1")
    FailingParses(poller.sqs, ["ReceiveMessage", "GetQueueAttributes"], times=1000)
    with pytest.raises(RuntimeError, match=f"SQS failed {SQS_FAILURES_IN_A_ROW} times in a row on"):
        poller.run()


def test_a_message_that_always_fails_ends_in_the_dlq_after_max_receive_count(aws):
    sqs, queue, dlq = _queues(max_receive=3)
    bodies = [f"m{i}" for i in range(25)] + ["poison"]
    _send(sqs, queue, bodies)
    handler = RecordingHandler(fail={"poison"})
    stats = SqsEventSourcePoller(queue, handler, region="us-east-1").run()
    assert handler.seen["poison"] == 3
    assert "poison" not in handler.processed
    assert handler.processed == Counter(bodies[:-1])
    assert _all_bodies(sqs, dlq) == ["poison"]
    assert _all_bodies(sqs, queue) == []
    assert stats.deleted == 25


def test_a_raising_handler_fails_the_whole_batch(aws):
    sqs, queue, dlq = _queues()
    bodies = [f"m{i}" for i in range(10)]
    _send(sqs, queue, bodies)
    errors = []
    handler = RecordingHandler(raise_once_for="m4")
    stats = SqsEventSourcePoller(
        queue,
        handler,
        EventSourceSettings(maximum_concurrency=1),
        region="us-east-1",
        on_handler_error=errors.append,
    ).run()
    assert [str(e) for e in errors] == ["OpenSearch unreachable"]
    failed_batch = {r["body"] for r in handler.batches[0]}
    assert "m4" in failed_batch
    assert all(handler.seen[b] == 2 for b in failed_batch)  # nothing of it was deleted
    assert handler.processed == Counter(bodies)
    assert stats.failed_invocations == 1
    assert _all_bodies(sqs, dlq) == []


def test_an_unknown_item_identifier_fails_the_whole_batch(aws):
    sqs, queue, _ = _queues()
    _send(sqs, queue, ["a", "b", "c"])
    calls = []

    def handler(event, context):
        calls.append(sorted(r["body"] for r in event["Records"]))
        if len(calls) == 1:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
        return {"batchItemFailures": []}

    stats = SqsEventSourcePoller(
        queue,
        handler,
        EventSourceSettings(maximum_concurrency=1, batching_window_seconds=0.5, batch_size=10),
        region="us-east-1",
    ).run()
    seen = Counter(b for call in calls for b in call)
    assert set(calls[0]) <= {"a", "b", "c"}
    assert all(seen[b] == 2 for b in calls[0])
    assert stats.failed_invocations == 1
    assert stats.deleted == 3


def test_the_batching_window_gathers_batches_larger_than_one_receive(aws):
    # As deployed, the visibility timeout is far longer than the batching window.
    sqs, queue, _ = _queues(visibility=30)
    bodies = [f"m{i}" for i in range(35)]
    _send(sqs, queue, bodies)
    handler = RecordingHandler()
    SqsEventSourcePoller(
        queue,
        handler,
        EventSourceSettings(batch_size=50, batching_window_seconds=2, maximum_concurrency=1),
        region="us-east-1",
    ).run()
    assert len(handler.batches[0]) > 10
    assert all(len(b) <= 50 for b in handler.batches)
    assert handler.processed == Counter(bodies)


def test_explicit_redrive_for_a_queue_without_a_redrive_policy(aws):
    sqs, queue, dlq = _queues(redrive=False)
    _send(sqs, queue, ["ok", "poison"])
    handler = RecordingHandler(fail={"poison"})
    stats = SqsEventSourcePoller(
        queue,
        handler,
        EventSourceSettings(dead_letter_queue_url=dlq, max_receive_count=2),
        region="us-east-1",
    ).run()
    assert handler.seen["poison"] == 2
    assert stats.moved_to_dlq == 1
    assert _all_bodies(sqs, dlq) == ["poison"]
    assert _all_bodies(sqs, queue) == []


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a"}),
    ],
)
def test_valid_responses(response, expected):
    assert failed_message_ids(response, {"a", "b"}) == expected


@pytest.mark.parametrize(
    "response",
    [
        "ok",
        {"batchItemFailures": "a"},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "a"}]},
        {"batchItemFailures": [{"itemIdentifier": "zzz"}]},
    ],
)
def test_invalid_responses_fail_the_batch(response):
    with pytest.raises(ValueError, match=r"."):
        failed_message_ids(response, {"a", "b"})


def test_settings_follow_lambdas_rules():
    with pytest.raises(ValueError, match="batching window"):
        EventSourceSettings(batch_size=100)
    with pytest.raises(ValueError, match="between"):
        EventSourceSettings(batch_size=0)
