"""Several pollers on one queue, as the demo drains the hub's queue: with the visibility timeout
at the deployed 6x function timeout, no healthy record is received twice or reaches the DLQ;
with one shorter than a batch's time in the poller, the queue hands held records out again."""

import ast
import threading
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest

from spot_cli.local.capture_path import (
    VISIBILITY_TIMEOUT_FACTOR,
    QueueSettings,
    create_regional_pipeline,
)
from spot_cli.local.poller import EventSourceSettings, SqsEventSourcePoller
from spot_cli.redrive import depth

pytestmark = pytest.mark.aws

FUNCTION_TIMEOUT = 2
BATCH_SECONDS = 1.2  # inside the function timeout, longer than the short visibility below


class SlowHandler:
    """Takes `seconds(records)` per batch, succeeds for every record, counts deliveries."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.seen = Counter()
        self.lock = threading.Lock()
        self.concurrent = 0
        self.most_concurrent = 0

    def __call__(self, event, context):
        with self.lock:
            self.concurrent += 1
            self.most_concurrent = max(self.most_concurrent, self.concurrent)
            self.seen.update(r["body"] for r in event["Records"])
        time.sleep(self.seconds(event["Records"]))
        with self.lock:
            self.concurrent -= 1
        return {"batchItemFailures": []}


def _drain(settings: QueueSettings, name: str, seconds=lambda records: BATCH_SECONDS):
    pipeline = create_regional_pipeline("us-east-1", name, settings)
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies = [f"record-{i}" for i in range(60)]
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=pipeline.queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])
            ],
        )
    handler = SlowHandler(seconds)
    stats = SqsEventSourcePoller(
        pipeline.queue_url,
        handler,
        EventSourceSettings(
            batch_size=10,
            maximum_concurrency=3,
            thread_safe_handler=True,
            function_timeout_seconds=FUNCTION_TIMEOUT,
            max_seconds=60,
        ),
    ).run()
    return bodies, handler, stats, depth(sqs, pipeline.dlq_url)


def _deployed_factor() -> int:
    """The stack's factor, read from its source (importing aws_cdk costs seconds)."""
    source = Path(__file__).resolve().parents[2] / "spot_insights" / "ingest_pipeline.py"
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "VISIBILITY_TIMEOUT_FACTOR" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("VISIBILITY_TIMEOUT_FACTOR is gone from spot_insights/ingest_pipeline.py")


def test_the_local_visibility_timeout_follows_the_deployed_rule(aws):
    deployed = _deployed_factor()
    assert deployed == VISIBILITY_TIMEOUT_FACTOR
    settings = QueueSettings(function_timeout_seconds=FUNCTION_TIMEOUT)
    pipeline = create_regional_pipeline("us-east-1", "rule", settings)
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=pipeline.queue_url, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    assert int(attributes["VisibilityTimeout"]) == deployed * FUNCTION_TIMEOUT
    # The demo's own settings: the default queue covers the local function's timeout 6x.
    default = QueueSettings()
    assert default.visibility_timeout == deployed * default.function_timeout_seconds


def test_three_pollers_deliver_each_healthy_record_once_and_none_to_the_dlq(aws):
    settings = QueueSettings(function_timeout_seconds=FUNCTION_TIMEOUT, max_receive_count=2)
    bodies, handler, stats, dead = _drain(settings, "concurrent")
    assert handler.most_concurrent >= 2  # the batches really overlapped
    assert handler.seen == Counter(bodies)  # every record once, none twice
    assert dead == 0
    assert stats.deleted == len(bodies) and stats.failed_records == 0
    assert BATCH_SECONDS < stats.longest_batch_seconds < settings.visibility_timeout


def test_a_visibility_timeout_shorter_than_a_batch_redelivers_held_records(aws):
    # The cause of healthy records in the demo's DLQ at concurrency 2 (5 s against batches
    # held longer): here 1 s against one batch held 2.5 s while the other pollers go on.
    settings = QueueSettings(visibility_timeout_seconds=1, max_receive_count=2)
    _, handler, stats, dead = _drain(
        settings,
        "too-short",
        lambda records: 2.5 if any(r["body"] == "record-0" for r in records) else 0.2,
    )
    assert stats.longest_batch_seconds > settings.visibility_timeout
    assert max(handler.seen.values()) > 1 or dead > 0
