"""Drain an SQS queue into a Lambda handler the way Lambda's SQS event source mapping does.

What it reproduces: long-polled ReceiveMessage with all attributes; batches up to `batch_size`
gathered within `batching_window_seconds`; records shaped like Lambda's SQS records;
`batchItemFailures` honoured (only successes are deleted; failures reappear after the queue's
visibility timeout); an exception or an invalid response fails the whole batch; the queue's
redrive policy moves a message to the DLQ once its receive count passes maxReceiveCount (or
the poller does it, for a queue without one); bounded concurrency; a failed SQS call is polled
again, as the mapping does (a failed receive leaves its messages in the queue, or invisible
until their visibility timeout and then received again; a failed delete brings them back: the
handler is idempotent), and only a run of SQS_FAILURES_IN_A_ROW failures in a row stops it. It
stops when the queue, including messages waiting out a visibility timeout, is empty."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from spot_cli.local.lambda_context import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]
SQS_RECEIVE_LIMIT = 10  # messages per ReceiveMessage / DeleteMessageBatch
# A moto 500 (its body no XML botocore can parse), a refused connection, a throttle that outlived
# botocore's own retries: what a poll may meet, none of which loses a message.
_SQS_ERRORS = (BotoCoreError, ClientError, ResponseParserError)
# Consecutive failed SQS calls of one poller before the run stops with the last one (Lambda's
# mapping polls on for ever; a local run must end); the waits between them double from 0.2 s
# to 5 s, so the run gives up after about 35 s of an SQS that answers nothing.
SQS_FAILURES_IN_A_ROW = 10
_EMPTY_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class EventSourceSettings:
    """The event source mapping's knobs, with Lambda's defaults where it has them."""

    batch_size: int = 10
    batching_window_seconds: float = 0.0
    maximum_concurrency: int = 2
    function_name: str = "spot-insights-ingest"
    function_timeout_seconds: float = 60.0
    # Lambda runs concurrent invocations in separate environments. Handlers keep per-container
    # state at module level (e.g. a Powertools BatchProcessor), which is not safe across
    # threads, so invocations are serialized unless the handler says it is thread-safe.
    thread_safe_handler: bool = False
    # Used only when the queue has no redrive policy of its own.
    dead_letter_queue_url: str | None = None
    max_receive_count: int | None = None
    # A safety stop for runs that never drain (e.g. a handler failing forever without a DLQ).
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError("batch_size must be between 1 and 10000")
        if self.batch_size > SQS_RECEIVE_LIMIT and self.batching_window_seconds <= 0:
            # Lambda's rule: batches above 10 need a batching window.
            raise ValueError("a batch_size above 10 needs a batching window")
        if self.maximum_concurrency < 1:
            raise ValueError("maximum_concurrency must be at least 1")


@dataclass
class PollerStats:
    received: int = 0
    invocations: int = 0
    deleted: int = 0
    failed_records: int = 0
    failed_invocations: int = 0
    moved_to_dlq: int = 0
    delete_errors: int = 0
    # Failed SQS calls that were polled again (ReceiveMessage, DeleteMessageBatch, the drain
    # check's GetQueueAttributes).
    sqs_errors: int = 0
    # The longest a batch was held: from the ReceiveMessage call that returned its first
    # messages to the deletes after the handler. Above the queue's visibility timeout, its
    # messages were visible to another poller (received again, counting towards
    # maxReceiveCount) while held.
    longest_batch_seconds: float = 0.0
    timed_out: bool = False
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


class InvalidHandlerResponse(ValueError):
    """The response is not one Lambda accepts for ReportBatchItemFailures."""


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as Lambda puts it in `event["Records"]`."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def failed_message_ids(response: Any, batch_ids: set[str]) -> set[str]:
    """The messages a handler response reports as failed, by Lambda's rules.

    None, `{}` or an empty list mean complete success; anything malformed (not an object, an
    item without a valid `itemIdentifier`, an id not in the batch) fails the whole batch."""
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        raise InvalidHandlerResponse(f"response is a {type(response).__name__}, not an object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidHandlerResponse("batchItemFailures is not a list")
    ids: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            raise InvalidHandlerResponse(f"invalid itemIdentifier: {identifier!r}")
        ids.add(identifier)
    return ids


class SqsEventSourcePoller:
    def __init__(
        self,
        queue_url: str,
        handler: Handler,
        settings: EventSourceSettings | None = None,
        *,
        region: str | None = None,
        session: Any | None = None,
        progress: Callable[[PollerStats], None] | None = None,
        on_handler_error: Callable[[BaseException], None] | None = None,
        invoke_lock: threading.Lock | None = None,
        input_closed: threading.Event | None = None,
    ) -> None:
        self.queue_url = queue_url
        self.handler = handler
        self.settings = settings or EventSourceSettings()
        session = session or boto3.session.Session()
        self.region = region or session.region_name or "us-east-1"
        self.sqs = session.client("sqs", region_name=self.region)
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn", "RedrivePolicy"]
        )["Attributes"]
        self.queue_arn = attributes["QueueArn"]
        self._explicit_redrive = "RedrivePolicy" not in attributes and bool(
            self.settings.dead_letter_queue_url and self.settings.max_receive_count
        )
        self.progress = progress
        self.on_handler_error = on_handler_error
        self.stats = PollerStats()
        self._lock = threading.Lock()
        # Shared between pollers of several queues that feed the same handler module.
        self._invoke_lock = invoke_lock or threading.Lock()
        # While producers still publish, an empty queue is not a drained one.
        self._input_closed = input_closed
        self._in_flight = 0
        self._stop = threading.Event()
        self._failures_in_a_row = threading.local()

    # -- public -------------------------------------------------------------------------------

    def run(self) -> PollerStats:
        """Poll with `maximum_concurrency` pollers until the queue is drained."""
        self.stats = PollerStats()
        self._stop.clear()
        with ThreadPoolExecutor(max_workers=self.settings.maximum_concurrency) as pool:
            futures = [pool.submit(self._poll) for _ in range(self.settings.maximum_concurrency)]
            for future in futures:
                future.result()
        self.stats.finished = time.monotonic()
        return replace(self.stats)

    # -- polling ------------------------------------------------------------------------------

    def _poll(self) -> None:
        try:
            while not self._stop.is_set():
                if self._deadline_passed():
                    self.stats.timed_out = True
                    self._stop.set()
                    return
                held_since = time.monotonic()
                batch = self._gather_batch()
                if batch:
                    try:
                        self._invoke(batch, held_since)
                    finally:
                        with self._lock:
                            self._in_flight -= 1
                elif self._input_open():
                    continue
                elif self._drained():
                    self._stop.set()
        except BaseException:
            self._stop.set()
            raise

    def _input_open(self) -> bool:
        return self._input_closed is not None and not self._input_closed.is_set()

    def _deadline_passed(self) -> bool:
        limit = self.settings.max_seconds
        return limit is not None and time.monotonic() - self.stats.started > limit

    def _gather_batch(self) -> list[dict[str, Any]]:
        settings = self.settings
        window_end = time.monotonic() + settings.batching_window_seconds
        batch: list[dict[str, Any]] = []
        while len(batch) < settings.batch_size and not self._stop.is_set():
            remaining = window_end - time.monotonic()
            if batch and remaining <= 0:
                break
            # Long-poll for the first message; within a window, wait at most what is left.
            wait = 1 if not batch else max(0, min(20, int(remaining + 0.999)))
            try:
                messages = self._sqs(
                    self.sqs.receive_message,
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(SQS_RECEIVE_LIMIT, settings.batch_size - len(batch)),
                    WaitTimeSeconds=wait,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except _SQS_ERRORS:
                break  # invoke what was gathered; the next poll starts a new batch
            kept = self._redrive_explicitly(messages)
            if kept and not batch:
                with self._lock:
                    self._in_flight += 1
            batch.extend(kept)
            if not messages and (not batch or settings.batching_window_seconds <= 0):
                break
            if batch and settings.batching_window_seconds <= 0:
                break
        return batch

    def _redrive_explicitly(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self._explicit_redrive:
            return messages
        keep = []
        limit = self.settings.max_receive_count or 0
        for message in messages:
            if int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")) > limit:
                self.sqs.send_message(
                    QueueUrl=self.settings.dead_letter_queue_url, MessageBody=message["Body"]
                )
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
                with self._lock:
                    self.stats.moved_to_dlq += 1
            else:
                keep.append(message)
        return keep

    def _drained(self) -> bool:
        with self._lock:
            if self._in_flight:
                return False
        try:
            attributes = self._sqs(
                self.sqs.get_queue_attributes,
                QueueUrl=self.queue_url,
                AttributeNames=list(_EMPTY_ATTRIBUTES),
            )["Attributes"]
        except _SQS_ERRORS:
            return False
        with self._lock:
            return self._in_flight == 0 and all(
                int(attributes.get(name, "0")) == 0 for name in _EMPTY_ATTRIBUTES
            )

    # -- invoking -----------------------------------------------------------------------------

    def _invoke(self, batch: list[dict[str, Any]], held_since: float) -> None:
        records = [lambda_record(m, self.queue_arn, self.region) for m in batch]
        ids = {r["messageId"] for r in records}
        context = LambdaContext(
            function_name=self.settings.function_name,
            region=self.region,
            account=self.queue_arn.split(":")[4],
            timeout_seconds=self.settings.function_timeout_seconds,
        )
        failed: set[str]
        try:
            if self.settings.thread_safe_handler:
                response = self.handler({"Records": records}, context)
            else:
                with self._invoke_lock:
                    response = self.handler({"Records": records}, context)
            failed = failed_message_ids(response, ids)
            whole_batch_failed = False
        except Exception as exc:  # a failed invocation: Lambda retries the whole batch
            failed = ids
            whole_batch_failed = True
            if self.on_handler_error:
                self.on_handler_error(exc)
        succeeded = [m for m in batch if m["MessageId"] not in failed]
        delete_errors = self._delete(succeeded)
        with self._lock:
            stats = self.stats
            stats.received += len(batch)
            stats.invocations += 1
            stats.failed_invocations += int(whole_batch_failed)
            stats.failed_records += len(failed)
            stats.deleted += len(succeeded) - delete_errors
            stats.delete_errors += delete_errors
            stats.longest_batch_seconds = max(
                stats.longest_batch_seconds, time.monotonic() - held_since
            )
            snapshot = replace(stats)
        if self.progress:
            self.progress(snapshot)

    def _delete(self, messages: list[dict[str, Any]]) -> int:
        errors = 0
        for start in range(0, len(messages), SQS_RECEIVE_LIMIT):
            chunk = messages[start : start + SQS_RECEIVE_LIMIT]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            # A failed delete means the message comes back: the handler must be idempotent.
            try:
                result = self._sqs(
                    self.sqs.delete_message_batch, QueueUrl=self.queue_url, Entries=entries
                )
            except _SQS_ERRORS:
                errors += len(chunk)
                continue
            errors += len(result.get("Failed", []))
        return errors

    def _sqs(self, call: Callable[..., Any], **kwargs: Any) -> Any:
        """`call(**kwargs)`; a failure is counted, waited out (doubling) and raised for the
        caller's own fallback, and the SQS_FAILURES_IN_A_ROW-th in a row stops the run."""
        try:
            result = call(**kwargs)
        except _SQS_ERRORS as exc:
            failures = getattr(self._failures_in_a_row, "count", 0) + 1
            self._failures_in_a_row.count = failures
            with self._lock:
                self.stats.sqs_errors += 1
            if failures >= SQS_FAILURES_IN_A_ROW:
                raise RuntimeError(
                    f"SQS failed {failures} times in a row on {self.queue_url}: {exc}"
                ) from exc
            time.sleep(min(5.0, 0.2 * 2 ** (failures - 1)))
            raise
        self._failures_in_a_row.count = 0
        return result
