"""The dashboard's numbers as OpenSearch aggregations, rendered as terminal tables or JSON.

Only core OpenSearch features are used (no painless, no expression scripts), so the same
queries run on the local node and on a managed domain. The rebalance lead time needs a value
per instance (its warning minus its rebalance), which no core aggregation computes: a
composite aggregation pages through instances with the two earliest times, and the
subtraction and percentiles happen here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from spot_cli.events import REBALANCE, WARNING

# `event_type` values the ingest function writes: the EventBridge detail-types.
WARNING_EVENT_TYPE = WARNING
REBALANCE_EVENT_TYPE = REBALANCE
DEFAULT_INDEX_PREFIX = "spot-interruptions"
PERCENTS: tuple[float, ...] = (50.0, 90.0, 99.0)
UNKNOWN = "(unknown)"
# Filters the CLI exposes: option name -> document field.
FILTER_FIELDS: Mapping[str, str] = {
    "region": "region",
    "availability_zone": "availability_zone",
    "instance_type": "instance_type",
    "instance_family": "instance_family",
    "capacity_group": "capacity_group",
    "account": "account",
}
_INTERVALS: tuple[tuple[str, timedelta], ...] = (
    ("1m", timedelta(minutes=1)),
    ("5m", timedelta(minutes=5)),
    ("15m", timedelta(minutes=15)),
    ("30m", timedelta(minutes=30)),
    ("1h", timedelta(hours=1)),
    ("3h", timedelta(hours=3)),
    ("12h", timedelta(hours=12)),
    ("1d", timedelta(days=1)),
    ("7d", timedelta(days=7)),
)


class NoIndexError(LookupError):
    """Nothing to report on: no index matches the prefix."""


@dataclass(frozen=True)
class ReportRequest:
    since: datetime | None = None
    until: datetime | None = None
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    top: int = 10
    index_prefix: str = DEFAULT_INDEX_PREFIX

    @property
    def index(self) -> str:
        return f"{self.index_prefix}-*"


@dataclass(frozen=True)
class Bucket:
    key: str
    count: int


@dataclass(frozen=True)
class Distribution:
    count: int
    min: float | None
    max: float | None
    avg: float | None
    percentiles: Mapping[str, float | None]


@dataclass(frozen=True)
class Report:
    warnings: int
    rebalances: int
    instances: int
    not_enriched: int
    interval: str
    over_time: list[Bucket]
    by_action: list[Bucket]
    top_azs: list[Bucket]
    instance_types: list[Bucket]
    capacity_groups: list[Bucket]
    hottest_pools: list[Bucket]
    runtime_seconds: Distribution
    rebalance_lead_seconds: Distribution
    warnings_without_rebalance: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_interval(since: datetime | None, until: datetime | None, buckets: int = 24) -> str:
    """A fixed interval giving at most about `buckets` bars over the range."""
    if since is None or until is None:
        return "1h"
    span = until - since
    for name, width in _INTERVALS:
        if span / width <= buckets:
            return name
    return _INTERVALS[-1][0]


def base_filter(request: ReportRequest) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = []
    if request.since or request.until:
        bounds: dict[str, str] = {}
        if request.since:
            bounds["gte"] = request.since.isoformat()
        if request.until:
            bounds["lt"] = request.until.isoformat()
        clauses.append({"range": {"event_time": bounds}})
    for name, values in request.filters.items():
        if values:
            clauses.append({"terms": {FILTER_FIELDS[name]: list(values)}})
    return clauses


def _terms(name: str, size: int) -> dict[str, Any]:
    return {"terms": {"field": name, "size": size, "missing": UNKNOWN}}


def summary_query(request: ReportRequest, interval: str) -> dict[str, Any]:
    """One search: counts by type over the range, and the warning breakdowns."""
    histogram: dict[str, Any] = {
        "field": "event_time",
        "fixed_interval": interval,
        "min_doc_count": 0,
    }
    if request.since and request.until:
        histogram["extended_bounds"] = {
            "min": request.since.isoformat(),
            "max": (request.until - timedelta(milliseconds=1)).isoformat(),
        }
    top = request.top
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": base_filter(request)}},
        "aggs": {
            "types": {"terms": {"field": "event_type", "size": 20}},
            "instances": {"cardinality": {"field": "instance_id", "precision_threshold": 40000}},
            "not_enriched": {"filter": {"bool": {"must_not": {"term": {"enrichment": "full"}}}}},
            "warnings": {
                "filter": {"term": {"event_type": WARNING_EVENT_TYPE}},
                "aggs": {
                    "over_time": {"date_histogram": histogram},
                    "by_action": _terms("instance_action", 10),
                    "top_azs": _terms("availability_zone", top),
                    "instance_types": _terms("instance_type", top),
                    "capacity_groups": _terms("capacity_group", top),
                    "hottest_pools": {
                        "multi_terms": {
                            "terms": [
                                {"field": "instance_type", "missing": UNKNOWN},
                                {"field": "availability_zone", "missing": UNKNOWN},
                            ],
                            "size": top,
                        }
                    },
                    "runtime_stats": {"stats": {"field": "runtime_seconds"}},
                    "runtime_percentiles": {
                        "percentiles": {"field": "runtime_seconds", "percents": list(PERCENTS)}
                    },
                },
            },
        },
    }


def lead_time_query(request: ReportRequest, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """One page of instances with their earliest warning and earliest rebalance."""
    composite: dict[str, Any] = {
        "size": 1000,
        "sources": [{"instance": {"terms": {"field": "instance_id"}}}],
    }
    if after:
        composite["after"] = dict(after)
    types = {"terms": {"event_type": [WARNING_EVENT_TYPE, REBALANCE_EVENT_TYPE]}}
    return {
        "size": 0,
        "query": {"bool": {"filter": [*base_filter(request), types]}},
        "aggs": {
            "per_instance": {
                "composite": composite,
                "aggs": {
                    "warned": {
                        "filter": {"term": {"event_type": WARNING_EVENT_TYPE}},
                        "aggs": {"first": {"min": {"field": "event_time"}}},
                    },
                    "rebalanced": {
                        "filter": {"term": {"event_type": REBALANCE_EVENT_TYPE}},
                        "aggs": {"first": {"min": {"field": "event_time"}}},
                    },
                },
            }
        },
    }


def percentile(values: Sequence[float], percent: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution(values: Sequence[float]) -> Distribution:
    return Distribution(
        count=len(values),
        min=min(values) if values else None,
        max=max(values) if values else None,
        avg=sum(values) / len(values) if values else None,
        percentiles={f"p{p:g}": percentile(values, p) for p in PERCENTS},
    )


def _buckets(raw: Mapping[str, Any]) -> list[Bucket]:
    result = []
    for bucket in raw["buckets"]:
        key = bucket["key"]
        if isinstance(key, list):  # multi_terms
            key = " / ".join(str(k) for k in key)
        else:
            key = bucket.get("key_as_string", key)
        result.append(Bucket(str(key), int(bucket["doc_count"])))
    return result


def lead_times(client: Any, request: ReportRequest) -> tuple[list[float], int]:
    """Per-instance lead times (seconds) and the number of warned instances without one."""
    leads: list[float] = []
    without = 0
    after: Mapping[str, Any] | None = None
    while True:
        response = client.search(index=request.index, body=lead_time_query(request, after))
        page = response["aggregations"]["per_instance"]
        for bucket in page["buckets"]:
            warned = bucket["warned"]["first"]["value"]
            rebalanced = bucket["rebalanced"]["first"]["value"]
            if warned is None:
                continue
            if rebalanced is None or rebalanced > warned:
                without += 1
            else:
                leads.append((warned - rebalanced) / 1000)
        after = page.get("after_key")
        if not page["buckets"] or not after:
            return leads, without


def build_report(client: Any, request: ReportRequest) -> Report:
    interval = choose_interval(request.since, request.until)
    response = client.search(index=request.index, body=summary_query(request, interval))
    if "aggregations" not in response:
        # A wildcard that matches no index answers with hits only.
        raise NoIndexError(f"no index matches {request.index}")
    aggs = response["aggregations"]
    types = {b["key"]: b["doc_count"] for b in aggs["types"]["buckets"]}
    warnings = aggs["warnings"]
    stats = warnings["runtime_stats"]
    runtime = Distribution(
        count=int(stats["count"]),
        min=stats["min"],
        max=stats["max"],
        avg=stats["avg"],
        percentiles={
            f"p{float(k):g}": v for k, v in warnings["runtime_percentiles"]["values"].items()
        },
    )
    leads, without = lead_times(client, request)
    return Report(
        warnings=int(types.get(WARNING_EVENT_TYPE, 0)),
        rebalances=int(types.get(REBALANCE_EVENT_TYPE, 0)),
        instances=int(aggs["instances"]["value"]),
        not_enriched=int(aggs["not_enriched"]["doc_count"]),
        interval=interval,
        over_time=_buckets(warnings["over_time"]),
        by_action=_buckets(warnings["by_action"]),
        top_azs=_buckets(warnings["top_azs"]),
        instance_types=_buckets(warnings["instance_types"]),
        capacity_groups=_buckets(warnings["capacity_groups"]),
        hottest_pools=_buckets(warnings["hottest_pools"]),
        runtime_seconds=runtime,
        rebalance_lead_seconds=distribution(leads),
        warnings_without_rebalance=without,
    )


# -- rendering ----------------------------------------------------------------------------------


def table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    rows = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        # Numbers right-aligned, text left-aligned.
        return "  ".join(
            c.rjust(w) if c.replace(".", "", 1).isdigit() else c.ljust(w)
            for c, w in zip(cells, widths, strict=True)
        ).rstrip()

    body = [line(r) for r in rows] or ["(no data)"]
    return "\n".join([title, line(list(headers)), line(["-" * w for w in widths]), *body])


def _bar(count: int, peak: int, width: int = 30) -> str:
    return "#" * (round(width * count / peak) if peak else 0)


def human_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    if value < 172800:
        return f"{value / 3600:.1f}h"
    return f"{value / 86400:.1f}d"


def _distribution_rows(dist: Distribution) -> list[list[str]]:
    cells = [("count", str(dist.count)), ("min", human_seconds(dist.min))]
    cells += [(k, human_seconds(v)) for k, v in dist.percentiles.items()]
    cells += [("max", human_seconds(dist.max)), ("avg", human_seconds(dist.avg))]
    return [[k, v] for k, v in cells]


def render(report: Report) -> str:
    peak = max((b.count for b in report.over_time), default=0)
    sections = [
        table(
            "Summary",
            ["metric", "value"],
            [
                ["interruption warnings", report.warnings],
                ["rebalance recommendations", report.rebalances],
                ["distinct instances", report.instances],
                ["events not fully enriched", report.not_enriched],
            ],
        ),
        table(
            f"Interruptions over time (per {report.interval})",
            ["time", "warnings", ""],
            [[b.key, b.count, _bar(b.count, peak)] for b in report.over_time],
        ),
        table("Instance action", ["action", "warnings"], _rows(report.by_action)),
        table("Top availability zones", ["availability zone", "warnings"], _rows(report.top_azs)),
        table("Instance types", ["instance type", "warnings"], _rows(report.instance_types)),
        table("Capacity groups", ["capacity group", "warnings"], _rows(report.capacity_groups)),
        table(
            "Hottest pools (type x AZ)",
            ["instance type / availability zone", "warnings"],
            _rows(report.hottest_pools),
        ),
        table(
            "Runtime before interruption",
            ["statistic", "value"],
            _distribution_rows(report.runtime_seconds),
        ),
        table(
            "Rebalance lead time (warning minus rebalance, per instance)",
            ["statistic", "value"],
            [
                *_distribution_rows(report.rebalance_lead_seconds),
                ["warned without rebalance ahead", str(report.warnings_without_rebalance)],
            ],
        ),
    ]
    return "\n\n".join(sections)


def _rows(buckets: Sequence[Bucket]) -> list[list[Any]]:
    return [[b.key, b.count] for b in buckets]
