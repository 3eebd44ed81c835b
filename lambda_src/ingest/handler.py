"""Lambda entry point (SQS event source with ReportBatchItemFailures).

The whole batch is enriched and indexed at once (one EC2 pass, one `_bulk`); Powertools'
BatchProcessor then turns the per-message verdicts into `batchItemFailures`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.ingest import runtime
from lambda_src.ingest.telemetry import logger, metrics, record_outcome


class RetryableRecord(Exception):
    """This message's document was not stored for a reason that may pass: SQS redelivers it."""


# Returning every id (rather than raising) when all fail keeps the response uniform.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not an SQS event: Records is missing")
    outcome = runtime.ingestor().ingest(records)
    record_outcome(outcome)
    logger.info(
        "batch ingested",
        extra={
            "records": len(records),
            "stored": outcome.stored_total,
            "retried": len(outcome.retry),
            "poisoned": len(outcome.poisoned),
            "enrichment_missing": outcome.enrichment_missing,
            "duplicates_in_batch": outcome.duplicates_in_batch,
        },
    )
    for message_id, reason in outcome.retry.items():
        logger.warning("record will be retried", extra={"message_id": message_id, "reason": reason})
    for message_id, reason in outcome.poisoned.items():
        logger.error("record sent to the DLQ", extra={"message_id": message_id, "reason": reason})

    def verdict(record: SQSRecord) -> None:
        if record.message_id in outcome.retry:
            raise RetryableRecord(outcome.retry[record.message_id])

    return process_partial_response(
        event=event, record_handler=verdict, processor=processor, context=context
    )
