"""Lambda entry point (SQS event source with ReportBatchItemFailures).

The whole batch is enriched and indexed at once (one EC2 pass, one `_bulk`); the per-message
verdicts become `batchItemFailures` directly. (Powertools' BatchProcessor runs a handler per
record, which this design does not have, and it echoes whatever a record holds as its id: a
non-string id, or a TypeError for a record that is not an object. Lambda fails the whole batch
on an invalid identifier, so only the string ids the ingestor validated are ever reported.)

`handler` is what Lambda calls: its runtime is built from the environment on the first call
and kept. `build_handler(config)` gives the same function for a configuration held as an
object (the local pipeline, tests), with nothing read from the environment."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.ingest import runtime
from lambda_src.ingest.bursts import check_and_report
from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.runtime import Runtime

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def build_handler(config: IngestConfig, session: boto3.session.Session | None = None) -> Handler:
    """The ingest function for `config`; its clients are built now and kept by the result.

    `session`: where AWS calls (EC2, the DLQ, SigV4 credentials) go; default: a new session."""
    return handler_for(Runtime.from_config(config, session))


def handler_for(rt: Runtime) -> Handler:
    """The ingest function over an already built runtime (Powertools decorators included)."""
    logger = rt.telemetry.logger

    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list):
            raise ValueError("not an SQS event: Records is missing")
        outcome = rt.ingestor.ingest(records)
        if rt.config.metrics_enabled:
            rt.telemetry.record_outcome(outcome)
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
        if rt.bursts is not None and outcome.stored_total:
            # After indexing, never failing the batch (issue 14, lambda_src/ingest/bursts.py).
            metrics = rt.telemetry.metrics if rt.config.metrics_enabled else None
            check_and_report(rt.bursts, logger, metrics)
        for message_id, reason in outcome.retry.items():
            logger.warning(
                "record will be retried", extra={"message_id": message_id, "reason": reason}
            )
        for message_id, reason in outcome.poisoned.items():
            logger.error(
                "record sent to the DLQ", extra={"message_id": message_id, "reason": reason}
            )
        for problem in outcome.unidentified:
            logger.error("record without a usable message id", extra={"reason": problem})
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in outcome.retry]}

    if rt.config.metrics_enabled:
        handle = rt.telemetry.metrics.log_metrics(handle)
    return logger.inject_lambda_context(handle)


@lru_cache(maxsize=1)
def _container_handler(rt: Runtime) -> Handler:
    return handler_for(rt)


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The deployed function (`lambda_src.ingest.handler.handler`)."""
    return _container_handler(runtime.current())(event, context)
