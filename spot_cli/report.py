"""The dashboard's numbers as OpenSearch aggregations, rendered as terminal tables or JSON.

Only core OpenSearch features are used (no painless, no expression scripts), so the same
queries run on the local node and on a managed domain. Every section is an aggregation over
fields stored at ingest, never a walk through instances: the rebalance lead time is
`rebalance_lead_seconds` on each warning (lambda_src/ingest/linking.py), so its statistics
are a `stats` + `percentiles` aggregation, and the cost of a report grows with the number of
shards and buckets, not of instances. With an open window, one min/max aggregation first gives
the data's own range, from which the over-time interval is chosen; the sections then go as one
`_msearch` whose searches the node runs side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import RenderableType

from lambda_src.contract import DEFAULT_INDEX_PREFIX, index_pattern
from spot_cli import missed_warnings
from spot_cli.errors import CliError
from spot_cli.events import REBALANCE, WARNING
from spot_cli.percentiles import percentile_values, percentiles_agg
from spot_cli.report_access import (
    NoAccessAccount,
    no_access_accounts,
    no_access_aggs,
    no_access_tables,
)
from spot_cli.terminal import plain_text, table

# `event_type` values the ingest function writes: the EventBridge detail-types.
WARNING_EVENT_TYPE = WARNING
REBALANCE_EVENT_TYPE = REBALANCE
UNKNOWN = "(unknown)"
# Link fields written at ingest (lambda_src/ingest/linking.py).
LEAD_FIELD = "rebalance_lead_seconds"
FOLLOWED_FIELD = "followed_by_warning"
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
    ("30d", timedelta(days=30)),
)


class NoIndexError(LookupError):
    """Nothing to report on: no index matches the prefix."""


class SectionError(CliError):
    """OpenSearch refused one of the report's searches; the message names the section."""

    def __init__(self, section: str, error: Any) -> None:
        reason = error.get("reason", error) if isinstance(error, Mapping) else error
        super().__init__(f"the report's {section!r} search failed: {str(reason)[:300]}")


@dataclass(frozen=True)
class ReportRequest:
    since: datetime | None = None
    until: datetime | None = None
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    top: int = 10
    index_prefix: str = DEFAULT_INDEX_PREFIX

    @property
    def index(self) -> str:
        return index_pattern(self.index_prefix)


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
    rebalances_not_followed: int
    missed_warnings: missed_warnings.MissedWarnings
    # Accounts whose events could not be enriched for lack of the spoke role (report_access.py).
    no_access: list[NoAccessAccount] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_interval(since: datetime | None, until: datetime | None, buckets: int = 24) -> str:
    """A fixed interval giving at most about `buckets` bars over the range (the range of the
    data itself when the request leaves it open: see `data_range`)."""
    if since is None or until is None or until <= since:
        return _INTERVALS[0][0]
    span = until - since
    for name, width in _INTERVALS:
        if span / width <= buckets:
            return name
    return _INTERVALS[-1][0]


def range_query(request: ReportRequest) -> dict[str, Any]:
    """First and last warning time within the request's filters (one min/max aggregation)."""
    return {
        "size": 0,
        "query": {
            "bool": {
                "filter": [*base_filter(request), {"term": {"event_type": WARNING_EVENT_TYPE}}]
            }
        },
        "aggs": {
            "first": {"min": {"field": "event_time"}},
            "last": {"max": {"field": "event_time"}},
        },
    }


def data_range(client: Any, request: ReportRequest) -> tuple[datetime | None, datetime | None]:
    """The over-time section's range: the request's bounds, an open side taken from the data."""
    if request.since and request.until:
        return request.since, request.until
    response = client.search(index=request.index, body=range_query(request))
    if "aggregations" not in response:
        raise NoIndexError(f"no index matches {request.index}")
    aggs = response["aggregations"]
    first, last = aggs["first"]["value"], aggs["last"]["value"]
    if first is None or last is None:
        return request.since, request.until
    return (
        request.since or datetime.fromtimestamp(first / 1000, UTC),
        request.until or datetime.fromtimestamp(last / 1000, UTC) + timedelta(milliseconds=1),
    )


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


def _section(
    request: ReportRequest, extra: Sequence[Mapping[str, Any]], aggs: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [*base_filter(request), *extra]}},
        "aggs": dict(aggs),
    }


def section_queries(
    request: ReportRequest,
    interval: str,
    bounds: tuple[datetime | None, datetime | None] = (None, None),
) -> dict[str, dict[str, Any]]:
    """The report as independent searches, sent together in one `_msearch`.

    The node runs the searches of an `_msearch` side by side, so splitting the aggregations
    (which all walk the same documents) over a few searches uses every core of a node where
    one search would use one; the warnings' sections filter in the query, not in a `filter`
    aggregation, so they never touch a rebalance document."""
    histogram: dict[str, Any] = {
        "field": "event_time",
        "fixed_interval": interval,
        "min_doc_count": 0,
    }
    since, until = bounds
    if since and until:
        histogram["extended_bounds"] = {
            "min": since.isoformat(),
            "max": (until - timedelta(milliseconds=1)).isoformat(),
        }
    top = request.top
    warnings_only = [{"term": {"event_type": WARNING_EVENT_TYPE}}]
    return {
        "counts": _section(
            request,
            [],
            {
                "types": {"terms": {"field": "event_type", "size": 20}},
                # Counting through the shard's ordinals hashes each distinct id once instead of
                # once per document: 4-5x faster at 300k documents, same value (README, "Sizing").
                "instances": {
                    "cardinality": {"field": "instance_id", "execution_hint": "ordinals"}
                },
                "not_enriched": {
                    "filter": {"bool": {"must_not": {"term": {"enrichment": "full"}}}}
                },
                "rebalances_not_followed": {
                    "filter": {
                        "bool": {
                            "filter": [
                                {"term": {"event_type": REBALANCE_EVENT_TYPE}},
                                {"term": {FOLLOWED_FIELD: False}},
                            ]
                        }
                    }
                },
                **no_access_aggs(),
            },
        ),
        "where": _section(
            request,
            warnings_only,
            {
                "over_time": {"date_histogram": histogram},
                "by_action": _terms("instance_action", 10),
                "top_azs": _terms("availability_zone", top),
                # A pool is an instance type in an AZ ID (written at ingest), as on the dashboard.
                "hottest_pools": _terms("pool", top),
            },
        ),
        "what": _section(
            request,
            warnings_only,
            {
                "instance_types": _terms("instance_type", top),
                "capacity_groups": _terms("capacity_group", top),
                "without_rebalance": {
                    "filter": {"bool": {"must_not": {"exists": {"field": LEAD_FIELD}}}}
                },
            },
        ),
        "how_long": _section(
            request,
            warnings_only,
            {
                "runtime_stats": {"stats": {"field": "runtime_seconds"}},
                "runtime_percentiles": percentiles_agg("runtime_seconds"),
                # Linked at ingest: the latest rebalance at or before each warning.
                "lead_stats": {"stats": {"field": LEAD_FIELD}},
                "lead_percentiles": percentiles_agg(LEAD_FIELD),
            },
        ),
        "evictions": missed_warnings.section(base_filter(request), top),
    }


def run_sections(
    client: Any, index: str, queries: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Every section's aggregations, from one `_msearch`; a failed section raises."""
    body: list[Mapping[str, Any]] = []
    for query in queries.values():
        body += [{"index": index}, query]
    response = client.msearch(body=body)
    merged: dict[str, Any] = {}
    for name, answer in zip(queries, response["responses"], strict=True):
        if "error" in answer:
            raise SectionError(name, answer["error"])
        if "aggregations" not in answer:
            # A wildcard that matches no index answers with hits only.
            raise NoIndexError(f"no index matches {index}")
        merged.update(answer["aggregations"])
    return merged


def _buckets(raw: Mapping[str, Any]) -> list[Bucket]:
    result = []
    for bucket in raw["buckets"]:
        key = bucket["key"]
        key = bucket.get("key_as_string", key)
        result.append(Bucket(str(key), int(bucket["doc_count"])))
    return result


def _distribution(stats: Mapping[str, Any], percentiles: Mapping[str, Any]) -> Distribution:
    return Distribution(
        count=int(stats["count"]),
        min=stats["min"],
        max=stats["max"],
        avg=stats["avg"],
        percentiles=percentile_values(percentiles),
    )


def build_report(client: Any, request: ReportRequest) -> Report:
    bounds = data_range(client, request)
    interval = choose_interval(*bounds)
    aggs = run_sections(client, request.index, section_queries(request, interval, bounds))
    types = {b["key"]: b["doc_count"] for b in aggs["types"]["buckets"]}
    return Report(
        warnings=int(types.get(WARNING_EVENT_TYPE, 0)),
        rebalances=int(types.get(REBALANCE_EVENT_TYPE, 0)),
        instances=int(aggs["instances"]["value"]),
        not_enriched=int(aggs["not_enriched"]["doc_count"]),
        interval=interval,
        over_time=_buckets(aggs["over_time"]),
        by_action=_buckets(aggs["by_action"]),
        top_azs=_buckets(aggs["top_azs"]),
        instance_types=_buckets(aggs["instance_types"]),
        capacity_groups=_buckets(aggs["capacity_groups"]),
        hottest_pools=_buckets(aggs["hottest_pools"]),
        runtime_seconds=_distribution(aggs["runtime_stats"], aggs["runtime_percentiles"]),
        rebalance_lead_seconds=_distribution(aggs["lead_stats"], aggs["lead_percentiles"]),
        warnings_without_rebalance=int(aggs["without_rebalance"]["doc_count"]),
        rebalances_not_followed=int(aggs["rebalances_not_followed"]["doc_count"]),
        missed_warnings=missed_warnings.from_aggregations(aggs),
        no_access=no_access_accounts(aggs),
    )


# -- rendering ----------------------------------------------------------------------------------


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
    """The report's tables as plain text (what `spot-insights report` prints when piped)."""
    return plain_text(tables(report))


def tables(report: Report) -> list[RenderableType]:
    """One rich table per section of the dashboard's numbers."""
    peak = max((b.count for b in report.over_time), default=0)
    return [
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
            left=(0, 2),
        ),
        table("Instance action", ["action", "warnings"], _rows(report.by_action)),
        table("Top availability zones", ["availability zone", "warnings"], _rows(report.top_azs)),
        table("Instance types", ["instance type", "warnings"], _rows(report.instance_types)),
        table("Capacity groups", ["capacity group", "warnings"], _rows(report.capacity_groups)),
        table(
            "Hottest pools (instance type x AZ ID)",
            ["pool", "warnings"],
            _rows(report.hottest_pools),
        ),
        table(
            "Runtime before interruption",
            ["statistic", "value"],
            _distribution_rows(report.runtime_seconds),
        ),
        table(
            "Rebalance lead time (warning minus the latest rebalance before it)",
            ["statistic", "value"],
            [
                *_distribution_rows(report.rebalance_lead_seconds),
                ["warnings without rebalance ahead", str(report.warnings_without_rebalance)],
                ["rebalances never followed by a warning", str(report.rebalances_not_followed)],
            ],
        ),
        *missed_warnings.tables(report.missed_warnings),
        *no_access_tables(report.no_access),
    ]


def _rows(buckets: Sequence[Bucket]) -> list[list[Any]]:
    return [[b.key, b.count] for b in buckets]
