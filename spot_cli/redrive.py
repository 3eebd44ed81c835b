"""Move the dead-letter queue's messages back to the queue they came from.

`move-task` uses SQS's own message move task (StartMessageMoveTask) and follows it with
ListMessageMoveTasks. `copy` receives, re-sends and only then deletes, for endpoints without
message move tasks (moto, some SQS-compatible services); it keeps bodies and message attributes
but not the original message ids or sent timestamps."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spot_cli.errors import CliError

TERMINAL = {"COMPLETED", "CANCELLED", "FAILED"}


@dataclass(frozen=True)
class RedriveResult:
    method: str
    moved: int
    status: str
    failure_reason: str | None = None


def resolve_queue(sqs: Any, name_or_url: str) -> tuple[str, str]:
    """(url, arn) for a queue given by URL, ARN or name."""
    if name_or_url.startswith("arn:"):
        name_or_url = name_or_url.rsplit(":", 1)[1]
    url = (
        name_or_url
        if name_or_url.startswith(("https://", "http://"))
        else sqs.get_queue_url(QueueName=name_or_url)["QueueUrl"]
    )
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def source_queue(sqs: Any, dlq_url: str) -> tuple[str, str]:
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(sources) != 1:
        raise CliError(
            f"the DLQ has {len(sources)} source queues; name the destination with --queue"
        )
    return resolve_queue(sqs, sources[0])


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def move_task(
    sqs: Any,
    dlq_arn: str,
    destination_arn: str | None,
    *,
    max_per_second: int | None = None,
    wait: bool = True,
    poll_seconds: float = 2.0,
    timeout_seconds: float = 3600.0,
    progress: Callable[[int, int], None] | None = None,
) -> RedriveResult:
    request: dict[str, Any] = {"SourceArn": dlq_arn}
    if destination_arn:
        request["DestinationArn"] = destination_arn
    if max_per_second:
        request["MaxNumberOfMessagesPerSecond"] = max_per_second
    sqs.start_message_move_task(**request)
    if not wait:
        return RedriveResult("move-task", 0, "RUNNING")
    deadline = time.monotonic() + timeout_seconds
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1).get("Results", [])
        task = tasks[0] if tasks else {}
        moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        if progress:
            progress(moved, int(task.get("ApproximateNumberOfMessagesToMove", moved)))
        status = task.get("Status", "UNKNOWN")
        if status in TERMINAL:
            return RedriveResult("move-task", moved, status, task.get("FailureReason"))
        if time.monotonic() > deadline:
            raise CliError(f"the move task is still {status} after {timeout_seconds:.0f}s")
        time.sleep(poll_seconds)


def copy_back(
    sqs: Any,
    dlq_url: str,
    destination_url: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RedriveResult:
    """Receive from the DLQ, send to the destination, delete from the DLQ only what was sent."""
    total = depth(sqs, dlq_url)
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return RedriveResult("copy", moved, "COMPLETED")
        entries = []
        for index, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=destination_url, Entries=entries)
        ok = {int(s["Id"]) for s in sent.get("Successful", [])}
        done = [messages[i] for i in sorted(ok)]
        if done:
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        moved += len(done)
        if progress:
            progress(moved, max(total, moved))
        if sent.get("Failed"):
            reason = sent["Failed"][0].get("Message", "unknown")
            raise CliError(f"sending to the destination failed after {moved} messages: {reason}")
