"""Lambda entry point (SQS event source with ReportBatchItemFailures).

The whole batch is enriched and indexed at once (one EC2 pass, one `_bulk`); the per-message
verdicts become `batchItemFailures` directly. (Powertools' BatchProcessor runs a handler per
record, which this design does not have, and it echoes whatever a record holds as its id: a
non-string id, or a TypeError for a record that is not an object. Lambda fails the whole batch
on an invalid identifier, so only the string ids the ingestor validated are ever reported.)"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.ingest import runtime
from lambda_src.ingest.telemetry import logger, metrics, record_outcome


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, dict) else None
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
            "unidentified": len(outcome.unidentified),
            "enrichment_missing": outcome.enrichment_missing,
            "duplicates_in_batch": outcome.duplicates_in_batch,
        },
    )
    for message_id, reason in outcome.retry.items():
        logger.warning("record will be retried", extra={"message_id": message_id, "reason": reason})
    for message_id, reason in outcome.poisoned.items():
        logger.error("record sent to the DLQ", extra={"message_id": message_id, "reason": reason})
    for problem in outcome.unidentified:
        logger.error("record without a usable message id", extra={"reason": problem})
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in outcome.retry]}
