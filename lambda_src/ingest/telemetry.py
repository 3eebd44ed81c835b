"""Powertools Logger and Metrics of one configuration (one pair per container).

Built from `IngestConfig`, not at import time: the service name and namespace are the
configuration's, and a local run gets its own without setting environment variables."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from lambda_src.ingest.batch import BatchOutcome


@dataclass(frozen=True, eq=False)
class Telemetry:
    logger: Logger
    metrics: Metrics
    namespace: str

    @classmethod
    def for_service(
        cls, service: str, namespace: str, *, log_level: str | None = None
    ) -> Telemetry:
        logger = Logger(service=service)
        if log_level:
            # Loggers of one service share Python's logger, configured by the first one
            # created: a level given to the constructor would not reach it, setLevel does.
            logger.setLevel(log_level)
        return cls(logger, Metrics(namespace=namespace, service=service), namespace)

    def record_outcome(self, outcome: BatchOutcome) -> None:
        """Batch totals on the default dimensions; interruption counts by event type and region
        (both low-cardinality: a handful of types, a few dozen regions).

        Nothing is recorded when metrics are disabled (local runs): Powertools then never
        flushes, so recorded values would pile up in its shared metric set."""
        if is_metrics_disabled():
            return
        metrics = self.metrics
        metrics.add_metric(
            name="DocumentsStored", unit=MetricUnit.Count, value=outcome.stored_total
        )
        metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=len(outcome.retry))
        metrics.add_metric(
            name="RecordsPoisoned", unit=MetricUnit.Count, value=len(outcome.poisoned)
        )
        metrics.add_metric(
            name="EnrichmentMissing", unit=MetricUnit.Count, value=outcome.enrichment_missing
        )
        for (event_type, region), count in sorted(outcome.stored.items()):
            with single_metric(
                name="Interruptions", unit=MetricUnit.Count, value=count, namespace=self.namespace
            ) as metric:
                metric.add_dimension(name="event_type", value=event_type)
                metric.add_dimension(name="region", value=region)
