"""Powertools Logger and Metrics shared by the ingest modules (one instance per container)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from lambda_src.ingest.batch import BatchOutcome

SERVICE = "spot-insights-ingest"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SpotInsights")

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
metrics = Metrics(namespace=NAMESPACE, service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))


def record_outcome(outcome: BatchOutcome) -> None:
    """Batch totals on the default dimensions; interruption counts by event type and region
    (both low-cardinality: a handful of types, a few dozen regions).

    Nothing is recorded when metrics are disabled (local runs): Powertools then never flushes,
    so recorded values would pile up in its shared metric set."""
    if is_metrics_disabled():
        return
    metrics.add_metric(name="DocumentsStored", unit=MetricUnit.Count, value=outcome.stored_total)
    metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=len(outcome.retry))
    metrics.add_metric(name="RecordsPoisoned", unit=MetricUnit.Count, value=len(outcome.poisoned))
    metrics.add_metric(
        name="EnrichmentMissing", unit=MetricUnit.Count, value=outcome.enrichment_missing
    )
    # Events whose account holds no spoke role the hub may assume (enrichment_reason no_access).
    metrics.add_metric(name="EnrichmentNoAccess", unit=MetricUnit.Count, value=outcome.no_access)
    for (event_type, region), count in sorted(outcome.stored.items()):
        with single_metric(
            name="Interruptions", unit=MetricUnit.Count, value=count, namespace=NAMESPACE
        ) as metric:
            metric.add_dimension(name="event_type", value=event_type)
            metric.add_dimension(name="region", value=region)
