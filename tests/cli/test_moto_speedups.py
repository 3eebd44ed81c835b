"""What spot_cli/local/servers.py changes in the in-process moto: SQS reads only the attributes
it needs (no scan of the queue per message sent or received) and deletes with one scan; EC2
reads a resource's own tags. Every answer stays what moto gave before."""

import hashlib

import boto3
import pytest
from moto.ec2.models import core as ec2_core
from moto.ec2.models import tags as ec2_tags
from moto.sqs import models as sqs_models

from tests.support.moto_ec2 import image_id

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


def test_deletes_scan_until_the_message_and_answer_as_moto_does(aws, monkeypatch):
    sqs = boto3.client("sqs")
    url = _queue(sqs, "deletes", VisibilityTimeout="0")
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
    )
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    # Received again (visibility 0): the first receipt handle still deletes it, as in moto.
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    assert again["MessageId"] == first["MessageId"]
    checked = []
    own = sqs_models.Message.had_receipt_handle

    def counted(message, handle):
        checked.append(message.body)
        return own(message, handle)

    monkeypatch.setattr(sqs_models.Message, "had_receipt_handle", counted)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert checked == [first["Body"]]  # one look: it was the queue's first message
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])  # deleted: accepted
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "9"


def test_an_instances_tags_are_its_own_without_scanning_every_tag(aws, monkeypatch):
    ec2 = boto3.client("ec2")
    image = image_id(ec2)
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(
            ImageId=image,
            MinCount=3,
            MaxCount=3,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "a"}]}
            ],
        )["Instances"]
    ]
    ec2.create_tags(Resources=[ids[0]], Tags=[{"Key": "only", "Value": "first"}])
    scans = []
    own = ec2_tags.TagBackend.describe_tags
    monkeypatch.setattr(
        ec2_tags.TagBackend,
        "describe_tags",
        lambda backend, filters=None: scans.append(filters) or own(backend, filters),
    )
    described = {
        i["InstanceId"]: sorted((t["Key"], t["Value"]) for t in i.get("Tags", []))
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    assert scans == []
    assert described == {
        ids[0]: [("only", "first"), ("team", "a")],
        ids[1]: [("team", "a")],
        ids[2]: [("team", "a")],
    }
    # The same list, in the same form, as moto's own filter gives.
    backend = ec2_core.TaggedEC2Resource.get_tags.moto_own
    from moto.ec2.models import ec2_backends  # noqa: PLC0415

    instance = ec2_backends["123456789012"]["us-east-1"].get_instance(ids[0])
    assert ec2_core.TaggedEC2Resource.get_tags(instance) == backend(instance)


class _JoinsWhileRead:
    """An in-flight entry whose group is read while another thread adds to the set."""

    def __init__(self, pending):
        self.pending = pending

    @property
    def group_id(self):
        self.pending.add(object())
        return "g"


def test_in_flight_groups_are_read_from_a_snapshot(aws):
    sqs = boto3.client("sqs")
    _queue(sqs, "snapshot")
    queue = sqs_models.sqs_backends["123456789012"]["us-east-1"].get_queue("snapshot")
    pending = set()
    pending.add(_JoinsWhileRead(pending))
    queue._pending_messages = pending
    # moto's own comprehension raises "Set changed size during iteration" here.
    assert queue.pending_message_groups == {"g"}
