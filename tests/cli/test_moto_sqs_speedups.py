"""What spot_cli/local/servers.py changes in the in-process moto's SQS: it reads only the
attributes it needs (no scan of the queue per message sent or received), and every answer stays
what moto gave before."""

import hashlib

import boto3
import pytest
from moto.sqs import models as sqs_models

pytestmark = pytest.mark.aws


class _CountingScans:
    """Counts evaluations of the queue counters that scan every message."""

    def __init__(self, monkeypatch):
        self.calls = 0
        own = sqs_models.Queue.approximate_number_of_messages

        def counted(queue):
            self.calls += 1
            return own.fget(queue)

        monkeypatch.setattr(sqs_models.Queue, "approximate_number_of_messages", property(counted))


def _queue(sqs, name, **attributes):
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def test_sending_and_receiving_scan_no_queue(aws, monkeypatch):
    sqs = boto3.client("sqs")
    url = _queue(sqs, "scans")
    for start in range(0, 40, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)],
        )
    scans = _CountingScans(monkeypatch)
    sqs.send_message(QueueUrl=url, MessageBody="one more")
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 10
    # Without the change: one scan per message sent, several per message received.
    assert scans.calls == 0
    # Asked for, the counters are still there and right.
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert scans.calls > 0
    assert counts["ApproximateNumberOfMessages"] == "31"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "10"


def test_retention_still_hides_expired_messages(aws):
    sqs = boto3.client("sqs")
    url = _queue(sqs, "retention", MessageRetentionPeriod="60")
    sqs.send_message(QueueUrl=url, MessageBody="new")
    sqs.send_message(QueueUrl=url, MessageBody="old")
    queue = sqs_models.sqs_backends["123456789012"]["us-east-1"].get_queue("retention")
    old = next(m for m in queue._messages if m.body == "old")
    old.sent_timestamp -= 61_000  # sent 61 s ago: past the 60 s retention period
    bodies = [
        m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert bodies == ["new"]


def test_fifo_content_based_deduplication_still_applies(aws):
    sqs = boto3.client("sqs")
    url = _queue(sqs, "dedup.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in messages] == ["same"]
    queue = sqs_models.sqs_backends["123456789012"]["us-east-1"].get_queue("dedup.fifo")
    assert queue._messages[0].deduplication_id == hashlib.sha256(b"same").hexdigest()
