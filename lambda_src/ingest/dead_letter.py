"""Poison records go to the dead-letter queue at once, with the reason attached.

Sending them explicitly (instead of failing them until SQS's maxReceiveCount) keeps them from
holding a batch slot for several visibility timeouts and records *why* each one was rejected,
which the redrive policy cannot. The body is the original one, so a fixed record can be
redriven to the source queue unchanged."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.contract import DLQ_REASON_ATTRIBUTE, DLQ_SOURCE_MESSAGE_ATTRIBUTE

_MAX_REASON = 1000
_SEND_BATCH = 10  # SendMessageBatch limit
# SendMessageBatch refuses a whole request above the queue's maximum message size (256 KiB
# unless raised), so requests are cut below it; a single larger message is sent alone.
_SEND_BATCH_BYTES = 256 * 1024
# Characters SQS accepts in a message body or attribute value.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class PoisonRecord:
    message_id: str | None  # None: the record had no usable messageId (the reason says which)
    body: str
    reason: str


class DeadLetterQueue:
    def __init__(self, queue_url: str, session: boto3.session.Session | None = None) -> None:
        self.queue_url = queue_url
        self._sqs = (session or boto3.session.Session()).client(
            "sqs", config=Config(retries={"mode": "standard", "max_attempts": 5})
        )

    def send(self, records: Sequence[PoisonRecord]) -> set[int]:
        """Send the records; return the positions (in `records`) that could NOT be parked.

        A record counts as parked only when SQS lists it as successful; one rejected entry
        (or one body SQS cannot carry) leaves the others' fate unchanged."""
        unparked = {i for i, record in enumerate(records) if not _sendable(record.body)}
        positions = [i for i in range(len(records)) if i not in unparked]
        for chunk in _chunks(positions, records):
            entries = [_entry(i, records[i]) for i in chunk]
            try:
                response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (BotoCoreError, ClientError):
                unparked.update(chunk)
                continue
            succeeded = {int(ok["Id"]) for ok in response.get("Successful", [])}
            unparked.update(i for i in chunk if i not in succeeded)
        return unparked


def _sendable(body: str) -> bool:
    # SQS refuses an empty body and some control characters. A body Lambda delivered always
    # passes (SQS accepted it once); the check is for records built elsewhere.
    return bool(body) and not _NOT_SQS_TEXT.search(body)


def _text(value: str) -> str:
    return _NOT_SQS_TEXT.sub("?", value) or "?"


def _entry_size(record: PoisonRecord) -> int:
    return (
        len(record.body.encode())
        + len(_text(record.reason[:_MAX_REASON]).encode())
        + len(_text(record.message_id or "").encode())
        + 128  # attribute names and types
    )


def _chunks(positions: list[int], records: Sequence[PoisonRecord]) -> Iterator[list[int]]:
    chunk: list[int] = []
    size = 0
    for position in positions:
        entry_size = _entry_size(records[position])
        if chunk and (len(chunk) == _SEND_BATCH or size + entry_size > _SEND_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(position)
        size += entry_size
    if chunk:
        yield chunk


def _entry(position: int, record: PoisonRecord) -> dict[str, Any]:
    attributes = {
        DLQ_REASON_ATTRIBUTE: {
            "DataType": "String",
            "StringValue": _text(record.reason[:_MAX_REASON]),
        }
    }
    if record.message_id is not None:
        attributes[DLQ_SOURCE_MESSAGE_ATTRIBUTE] = {
            "DataType": "String",
            "StringValue": _text(record.message_id),
        }
    return {"Id": str(position), "MessageBody": record.body, "MessageAttributes": attributes}
