"""`report --rates`: interruptions per 1,000 instance-hours, early interruptions and runtimes.

Two aggregations, sent as one `_msearch`: the exposure family's instance-hours (the sampler's
`instance_count x interval`, stored per document as `instance_hours`) summed per pool, instance
type, AZ ID, capacity group and account, and the warnings counted by the same keys in the
events family. The division happens here, per key; nothing walks documents or instances.

The window: given bounds are used as they are; an open side is taken from the exposure data
(first tick, last tick plus its interval), because warnings from before the sampler ran have no
instance-hours behind them and would inflate every rate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import RenderableType

from lambda_src.contract import DEFAULT_INDEX_PREFIX, exposure_index_pattern, index_pattern
from spot_cli.percentiles import PERCENTS, label, percentile_values, percentiles_agg
from spot_cli.report import (
    FILTER_FIELDS,
    UNKNOWN,
    WARNING_EVENT_TYPE,
    NoIndexError,
    SectionError,
    human_seconds,
)
from spot_cli.terminal import table

# Dimension -> the keyword field both families hold.
DIMENSIONS: Mapping[str, str] = {
    "pool": "pool",
    "instance_type": "instance_type",
    "availability_zone_id": "availability_zone_id",
    "capacity_group": "capacity_group",
    "account": "account",
}
EARLY_SECONDS: Mapping[str, int] = {"within_10m": 600, "within_1h": 3600}
PER_INSTANCE_HOURS = 1000
# Buckets per dimension: the rate of a key needs both of its numbers, so no top-N here.
MAX_KEYS = 10000


@dataclass(frozen=True)
class RatesRequest:
    since: datetime | None = None
    until: datetime | None = None
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    index_prefix: str = DEFAULT_INDEX_PREFIX


@dataclass(frozen=True)
class RateRow:
    key: str
    warnings: int
    instance_hours: float
    # Warnings per 1,000 instance-hours; None where the sampler saw no instance of this key.
    rate: float | None


@dataclass(frozen=True)
class RuntimeRow:
    capacity_group: str
    warnings: int
    percentiles: Mapping[str, float | None]


@dataclass(frozen=True)
class Rates:
    since: str | None
    until: str | None
    warnings: int
    instance_hours: float
    rate: float | None
    by: Mapping[str, list[RateRow]]
    # Share of warnings with a known runtime that came within 10 minutes / 1 hour of launch.
    with_runtime: int
    early: Mapping[str, float | None]
    runtime_by_group: list[RuntimeRow]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def per_thousand_hours(warnings: int, hours: float) -> float | None:
    return round(warnings * PER_INSTANCE_HOURS / hours, 3) if hours > 0 else None


def _filters(request: RatesRequest) -> list[dict[str, Any]]:
    return [
        {"terms": {FILTER_FIELDS[name]: list(values)}}
        for name, values in request.filters.items()
        if values
    ]


def _range(field_name: str, since: datetime | None, until: datetime | None) -> list[dict]:
    bounds = {
        **({"gte": since.isoformat()} if since else {}),
        **({"lt": until.isoformat()} if until else {}),
    }
    return [{"range": {field_name: bounds}}] if bounds else []


def exposure_range(client: Any, request: RatesRequest) -> tuple[datetime | None, datetime | None]:
    """The request's bounds, an open side taken from the exposure data's first and last tick."""
    if request.since and request.until:
        return request.since, request.until
    body = {
        "size": 0,
        "query": {"bool": {"filter": _filters(request)}},
        "aggs": {
            "first": {"min": {"field": "sampled_at"}},
            "last": {"max": {"field": "sampled_at"}},
            "interval": {"max": {"field": "interval_seconds"}},
        },
    }
    index = exposure_index_pattern(request.index_prefix)
    response = client.search(index=index, body=body)
    if "aggregations" not in response:
        raise NoIndexError(f"no index matches {index} (has the sampler run?)")
    aggs = response["aggregations"]
    first, last = aggs["first"]["value"], aggs["last"]["value"]
    if first is None or last is None:
        return request.since, request.until
    end = datetime.fromtimestamp(last / 1000, UTC) + timedelta(
        seconds=aggs["interval"]["value"] or 0
    )
    return (
        request.since or datetime.fromtimestamp(first / 1000, UTC),
        request.until or end,
    )


def rate_queries(
    request: RatesRequest, since: datetime | None, until: datetime | None
) -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (index pattern, search body): exposure sums and warning counts by key."""
    hours = {"hours": {"sum": {"field": "instance_hours"}}}
    exposure_aggs: dict[str, Any] = {"total_hours": {"sum": {"field": "instance_hours"}}}
    warning_aggs: dict[str, Any] = {}
    for name, field_name in DIMENSIONS.items():
        terms = {"field": field_name, "size": MAX_KEYS, "missing": UNKNOWN}
        exposure_aggs[f"hours_by_{name}"] = {"terms": terms, "aggs": hours}
        warning_aggs[f"warnings_by_{name}"] = {"terms": terms}
    warning_aggs["with_runtime"] = {"filter": {"exists": {"field": "runtime_seconds"}}}
    for name, seconds in EARLY_SECONDS.items():
        warning_aggs[name] = {"filter": {"range": {"runtime_seconds": {"lte": seconds}}}}
    warning_aggs["runtime_by_group"] = {
        "terms": {"field": "capacity_group", "size": MAX_KEYS, "missing": UNKNOWN},
        "aggs": {"runtime": percentiles_agg("runtime_seconds")},
    }
    filters = _filters(request)
    return {
        "exposure": (
            exposure_index_pattern(request.index_prefix),
            {
                "size": 0,
                "query": {"bool": {"filter": [*filters, *_range("sampled_at", since, until)]}},
                "aggs": exposure_aggs,
            },
        ),
        "warnings": (
            index_pattern(request.index_prefix),
            {
                "size": 0,
                "track_total_hits": True,
                "query": {
                    "bool": {
                        "filter": [
                            *filters,
                            *_range("event_time", since, until),
                            {"term": {"event_type": WARNING_EVENT_TYPE}},
                        ]
                    }
                },
                "aggs": warning_aggs,
            },
        ),
    }


def build_rates(client: Any, request: RatesRequest) -> Rates:
    since, until = exposure_range(client, request)
    queries = rate_queries(request, since, until)
    body: list[Mapping[str, Any]] = []
    for index, query in queries.values():
        body += [{"index": index}, query]
    answers = dict(zip(queries, client.msearch(body=body)["responses"], strict=True))
    for name, answer in answers.items():
        if "error" in answer:
            raise SectionError(f"rates: {name}", answer["error"])
        if "aggregations" not in answer:
            raise NoIndexError(f"no index matches {queries[name][0]}")
    exposure = answers["exposure"]["aggregations"]
    warnings = answers["warnings"]["aggregations"]
    total_warnings = int(answers["warnings"]["hits"]["total"]["value"])
    total_hours = float(exposure["total_hours"]["value"] or 0.0)
    by = {
        name: _rows(exposure[f"hours_by_{name}"], warnings[f"warnings_by_{name}"])
        for name in DIMENSIONS
    }
    with_runtime = int(warnings["with_runtime"]["doc_count"])
    return Rates(
        since=since.isoformat() if since else None,
        until=until.isoformat() if until else None,
        warnings=total_warnings,
        instance_hours=round(total_hours, 3),
        rate=per_thousand_hours(total_warnings, total_hours),
        by=by,
        with_runtime=with_runtime,
        early={
            name: (round(warnings[name]["doc_count"] / with_runtime, 4) if with_runtime else None)
            for name in EARLY_SECONDS
        },
        runtime_by_group=[
            RuntimeRow(
                str(b["key"]),
                int(b["doc_count"]),
                percentile_values(b["runtime"]),
            )
            for b in warnings["runtime_by_group"]["buckets"]
        ],
    )


def _rows(hours: Mapping[str, Any], counts: Mapping[str, Any]) -> list[RateRow]:
    exposure = {str(b["key"]): float(b["hours"]["value"]) for b in hours["buckets"]}
    warned = {str(b["key"]): int(b["doc_count"]) for b in counts["buckets"]}
    rows = [
        RateRow(
            key,
            warned.get(key, 0),
            round(exposure.get(key, 0.0), 3),
            per_thousand_hours(warned.get(key, 0), exposure.get(key, 0.0)),
        )
        for key in sorted(exposure.keys() | warned.keys())
    ]
    # Highest rate first; keys without exposure (no rate) last, by their warnings.
    return sorted(rows, key=lambda r: (r.rate is None, -(r.rate or 0), -r.warnings, r.key))


# -- rendering ----------------------------------------------------------------------------------

_TITLES = {
    "pool": "pool (instance type x AZ ID)",
    "instance_type": "instance type",
    "availability_zone_id": "AZ ID",
    "capacity_group": "capacity group",
    "account": "account",
}


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def rate_tables(rates: Rates, top: int | None = None) -> list[RenderableType]:
    """One table per dimension (highest rate first), the early share and runtimes by group."""
    window = f"{rates.since or 'start'} .. {rates.until or 'now'}"
    result = [
        table(
            f"Interruption rate ({window})",
            ["metric", "value"],
            [
                ["interruption warnings", rates.warnings],
                ["instance-hours sampled", f"{rates.instance_hours:.1f}"],
                ["warnings per 1,000 instance-hours", _rate(rates.rate)],
                ["warnings with a known runtime", rates.with_runtime],
                ["interrupted within 10 minutes of launch", _share(rates.early["within_10m"])],
                ["interrupted within 1 hour of launch", _share(rates.early["within_1h"])],
            ],
        )
    ]
    for name, rows in rates.by.items():
        result.append(
            table(
                f"Warnings per 1,000 instance-hours by {_TITLES[name]}",
                [_TITLES[name], "warnings", "instance-hours", "rate"],
                [[r.key, r.warnings, f"{r.instance_hours:.1f}", _rate(r.rate)] for r in rows[:top]],
            )
        )
    headers = ["capacity group", "warnings", *(label(p) for p in PERCENTS)]
    result.append(
        table(
            "Runtime before interruption by capacity group",
            headers,
            [
                [row.capacity_group, row.warnings, *map(human_seconds, row.percentiles.values())]
                for row in rates.runtime_by_group[:top]
            ],
        )
    )
    return result
