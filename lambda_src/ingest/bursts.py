"""Burst alerts: N interruption warnings in one AZ ID or one capacity group within M minutes.

Runs after a batch is indexed (its `_bulk` waited for refresh, so a search sees it) and never
fails or holds back the batch: a failed check is logged, metered (`BurstCheckFailures`) and
simply happens again with the next batch, because every check looks at the recent windows as
a whole rather than at what one batch carried.

* Windows are fixed (tumbling) M-minute windows aligned to the epoch, so every invocation, in
  any container, in any order, names the same window for the same warnings.
* ONE search per check: the warnings of the current and the previous window, a `terms`
  aggregation per dimension with a `date_histogram` of M minutes under it, `min_doc_count` N.
  Its cost grows with the warnings of the last 2M minutes, not with the index.
* A burst is (dimension, value, window); its id is a hash of the three. It fires when its
  ledger document is created with `op_type=create`: of any number of invocations that see the
  burst (concurrent halves of it, a redelivered batch, the next batch of the same burst), one
  creates the document and publishes, the others get 409 and stay quiet. So one burst fires
  once per window, whatever the redelivery.
* Publishing failed (PutEvents refused or unreachable): the ledger document is deleted again,
  so the next check creates it and publishes. Only windows ending less than M minutes ago are
  checked: an alert about an older window is no use for pre-scaling, and a backlog drained
  after an outage must not page anyone.

The ledger is its own index family, `contract.burst_index(prefix)` + `-YYYY.MM`, outside the
events' pattern: one index per month of the burst's window start, so a burst always lands in the
same index whenever it is checked (`op_type=create` still decides), and retention deletes whole
months (lambda_src/provisioning/burst_ledger.py: strict mapping, ISM policy)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from botocore.exceptions import BotoCoreError, ClientError
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConflictError, TransportError
from opensearchpy.exceptions import ConnectionError as TransportConnectionError

from lambda_src.contract import (
    BURST_CHECK_FAILED_METRIC,
    BURST_DETAIL_TYPE,
    BURST_DIMENSIONS,
    BURST_EVENT_SOURCE,
    BURST_METRIC,
    DEFAULT_BURST_THRESHOLD,
    DEFAULT_BURST_WINDOW_MINUTES,
    WARNING_DETAIL_TYPE,
)
from lambda_src.ingest.documents import UNKNOWN_CAPACITY_GROUP

# Values that name no real place or workload: a burst of unenriched warnings is not a signal
# anyone can pre-scale on.
_NOT_A_GROUP = frozenset({UNKNOWN_CAPACITY_GROUP, ""})
# Buckets per dimension the check can return (AZ IDs and capacity groups with a burst now).
MAX_VALUES = 1000


@dataclass(frozen=True)
class BurstSettings:
    event_bus: str  # name or ARN of the bus the burst event goes to
    index: str  # the ledger family's prefix (contract.burst_index); see `ledger_index`
    threshold: int = DEFAULT_BURST_THRESHOLD
    window_minutes: int = DEFAULT_BURST_WINDOW_MINUTES

    def __post_init__(self) -> None:
        if not 2 <= self.threshold <= 100_000:
            raise ValueError(f"burst threshold must be 2-100000 warnings, got {self.threshold}")
        if not 1 <= self.window_minutes <= 1440:
            raise ValueError(
                f"burst window must be 1-1440 whole minutes, got {self.window_minutes}"
            )

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)


@dataclass(frozen=True)
class Burst:
    dimension: str
    value: str
    window_start: datetime
    window_end: datetime
    count: int
    threshold: int

    @property
    def burst_id(self) -> str:
        key = f"{self.dimension}\n{self.value}\n{self.window_start.isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def detail(self) -> dict[str, Any]:
        return {
            "burst_id": self.burst_id,
            "dimension": self.dimension,
            "value": self.value,
            "count": self.count,
            "threshold": self.threshold,
            "window_minutes": int((self.window_end - self.window_start).total_seconds() // 60),
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
        }


@dataclass
class CheckResult:
    fired: list[Burst]
    already_fired: int = 0
    failure: str | None = None


class CheckFailed(Exception):
    """The check could not finish; it runs again with the next batch."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ledger_index(ledger: str, start: datetime) -> str:
    """The ledger index of a burst whose window starts at `start`: `<ledger>-YYYY.MM`."""
    return f"{ledger}-{start.astimezone(UTC):%Y.%m}"


def window_start(moment: datetime, window: timedelta) -> datetime:
    """The start of the epoch-aligned window holding `moment`."""
    width = int(window.total_seconds())
    seconds = int(moment.timestamp()) // width * width
    return datetime.fromtimestamp(seconds, UTC)


class BurstDetector:
    """Finds bursts among the indexed warnings and fires each once (see the module doc)."""

    def __init__(
        self,
        client: OpenSearch,
        events_client: Any,
        read_index: str,
        settings: BurstSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.events = events_client
        self.read_index = read_index
        self.settings = settings
        self.clock = clock

    def check(self) -> CheckResult:
        """Fire the bursts of the current and the previous window. Never raises: a failure
        is in `CheckResult.failure` (bursts fired before it are kept in `fired`)."""
        result = CheckResult(fired=[])
        try:
            for burst in self._find():
                if self._claim(burst):
                    self._publish(burst)
                    result.fired.append(burst)
                else:
                    result.already_fired += 1
        except CheckFailed as exc:
            result.failure = str(exc)
        except Exception as exc:  # whatever it is, the batch it follows is already stored
            result.failure = f"unexpected error: {type(exc).__name__}: {exc}"[:500]
        return result

    def query(self, now: datetime) -> dict[str, Any]:
        window = self.settings.window
        since = window_start(now, window) - window
        histogram = {
            "date_histogram": {
                "field": "event_time",
                "fixed_interval": f"{self.settings.window_minutes}m",
                "min_doc_count": self.settings.threshold,
            }
        }
        return {
            "size": 0,
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"event_type": WARNING_DETAIL_TYPE}},
                        {"range": {"event_time": {"gte": _iso(since)}}},
                    ]
                }
            },
            "aggs": {
                dimension: {
                    "terms": {
                        "field": dimension,
                        "size": MAX_VALUES,
                        "min_doc_count": self.settings.threshold,
                    },
                    "aggs": {"windows": histogram},
                }
                for dimension in BURST_DIMENSIONS
            },
        }

    def _find(self) -> list[Burst]:
        now = self.clock()
        try:
            response = self.client.search(index=self.read_index, body=self.query(now))
        except (TransportConnectionError, TransportError) as exc:
            raise CheckFailed(f"burst search failed: {_describe(exc)}") from exc
        aggs = response.get("aggregations") or {}
        window = self.settings.window
        oldest = window_start(now, window) - window
        bursts = []
        for dimension in BURST_DIMENSIONS:
            for bucket in aggs.get(dimension, {}).get("buckets", []):
                value = str(bucket["key"])
                if value in _NOT_A_GROUP:
                    continue
                for slot in bucket["windows"]["buckets"]:
                    start = datetime.fromtimestamp(slot["key"] / 1000, UTC)
                    # A window after `now` holds warnings stamped in the future: still real.
                    if start < oldest or slot["doc_count"] < self.settings.threshold:
                        continue
                    bursts.append(
                        Burst(
                            dimension=dimension,
                            value=value,
                            window_start=start,
                            window_end=start + window,
                            count=int(slot["doc_count"]),
                            threshold=self.settings.threshold,
                        )
                    )
        return bursts

    def _claim(self, burst: Burst) -> bool:
        """True when this invocation created the burst's ledger document (and so fires)."""
        try:
            self.client.index(
                index=ledger_index(self.settings.index, burst.window_start),
                id=burst.burst_id,
                op_type="create",
                body={**burst.detail(), "detected_at": _iso(self.clock())},
            )
        except ConflictError:
            return False
        except (TransportConnectionError, TransportError) as exc:
            raise CheckFailed(f"burst ledger write failed: {_describe(exc)}") from exc
        return True

    def _publish(self, burst: Burst) -> None:
        entry = {
            "Source": BURST_EVENT_SOURCE,
            "DetailType": BURST_DETAIL_TYPE,
            "Detail": json.dumps(burst.detail()),
            "EventBusName": self.settings.event_bus,
            "Resources": [],
        }
        try:
            answer = self.events.put_events(Entries=[entry])
            [outcome] = answer.get("Entries") or [{}]
            problem = (
                f"{outcome.get('ErrorCode')}: {outcome.get('ErrorMessage')}"
                if answer.get("FailedEntryCount")
                else None
            )
        except (BotoCoreError, ClientError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            return
        # Release the claim so that the next check fires the burst; if even that fails, the
        # burst stays claimed and unpublished (logged by the caller with this reason).
        try:
            self.client.delete(
                index=ledger_index(self.settings.index, burst.window_start), id=burst.burst_id
            )
        except (TransportConnectionError, TransportError) as exc:
            problem += f"; its ledger entry could not be released ({_describe(exc)})"
        raise CheckFailed(f"burst event not published: {problem}"[:500])


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__} {status if isinstance(status, int) else ''}".strip()


def check_and_report(detector: BurstDetector, logger: Any, metrics: Any | None) -> CheckResult:
    """One check after a batch, its outcome logged and (with `metrics`) metered: each fired
    burst counts in `InterruptionBursts` (the stack's alarm), a failed check in
    `BurstCheckFailures`."""
    result = detector.check()
    for burst in result.fired:
        logger.warning("interruption burst", extra={"burst": burst.detail()})
    if result.failure:
        logger.error(
            "burst check failed; the next batch checks again", extra={"reason": result.failure}
        )
    if metrics is not None and not is_metrics_disabled():
        metrics.add_metric(name=BURST_METRIC, unit=MetricUnit.Count, value=len(result.fired))
        metrics.add_metric(
            name=BURST_CHECK_FAILED_METRIC, unit=MetricUnit.Count, value=int(bool(result.failure))
        )
    return result
