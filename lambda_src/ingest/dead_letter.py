"""Poison records go to the dead-letter queue at once, with the reason attached.

Sending them explicitly (instead of failing them until SQS's maxReceiveCount) keeps them from
holding a batch slot for several visibility timeouts and records *why* each one was rejected,
which the redrive policy cannot. The body is the original one, so a fixed record can be
redriven to the source queue unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REASON_ATTRIBUTE = "ingest-failure-reason"
SOURCE_MESSAGE_ATTRIBUTE = "ingest-source-message-id"
_MAX_REASON = 1000
_SEND_BATCH = 10  # SendMessageBatch limit


@dataclass(frozen=True)
class PoisonRecord:
    message_id: str
    body: str
    reason: str


class DeadLetterQueue:
    def __init__(self, queue_url: str, session: boto3.session.Session | None = None) -> None:
        self.queue_url = queue_url
        self._sqs = (session or boto3.session.Session()).client(
            "sqs", config=Config(retries={"mode": "standard", "max_attempts": 5})
        )

    def send(self, records: Sequence[PoisonRecord]) -> set[str]:
        """Send the records; return the message ids that could NOT be parked (retry those)."""
        failed: set[str] = set()
        for start in range(0, len(records), _SEND_BATCH):
            chunk = records[start : start + _SEND_BATCH]
            entries = [_entry(index, record) for index, record in enumerate(chunk)]
            try:
                response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (BotoCoreError, ClientError):
                failed.update(record.message_id for record in chunk)
                continue
            for failure in response.get("Failed", []):
                failed.add(chunk[int(failure["Id"])].message_id)
        return failed


def _entry(index: int, record: PoisonRecord) -> dict[str, Any]:
    return {
        "Id": str(index),
        "MessageBody": record.body,
        "MessageAttributes": {
            REASON_ATTRIBUTE: {"DataType": "String", "StringValue": record.reason[:_MAX_REASON]},
            SOURCE_MESSAGE_ATTRIBUTE: {"DataType": "String", "StringValue": record.message_id},
        },
    }
