"""The report's "evictions without a warning" section: EC2 evicted the instance (CloudTrail
`BidEvictedEvent`) and no interruption warning of that instance came first.

Aggregations only, over a field written at ingest: each eviction document carries `warned`
(lambda_src/ingest/linking.py, WARNING_THEN_EVICTION), so the count and share are a `filter`
aggregation, and "by pool" / "by capacity group" are `terms` with the same filter inside. The
section is one more search of the report's single `_msearch`; its aggregation names start with
`evictions_` because the report merges every section's aggregations into one mapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType

from lambda_src.contract import EVICTION_EVENT_TYPE
from spot_cli.terminal import table

WARNED_FIELD = "warned"
UNKNOWN = "(unknown)"
# Group keys: what a platform team acts on (the capacity pool, the owning capacity group).
GROUPINGS: Mapping[str, str] = {"by_pool": "pool", "by_capacity_group": "capacity_group"}
_UNWARNED = {"bool": {"must_not": {"term": {WARNED_FIELD: True}}}}


@dataclass(frozen=True)
class MissedBucket:
    key: str
    evictions: int
    without_warning: int
    share: float | None  # without_warning / evictions


@dataclass(frozen=True)
class MissedWarnings:
    evictions: int
    without_warning: int
    share: float | None
    by_pool: list[MissedBucket]
    by_capacity_group: list[MissedBucket]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def section(filters: Sequence[Mapping[str, Any]], top: int) -> dict[str, Any]:
    """The search body: eviction documents within the report's filters (window, region, ...).

    An eviction ingested before its warning was linked is `warned: false` until the warning
    arrives, and a document without the field (none is written so) counts as unwarned too:
    the filter is "not warned", never "warned is false"."""
    groups = {
        f"evictions_{name}": {
            "terms": {
                "field": field_name,
                "size": top,
                "missing": UNKNOWN,
                # The worst first: most evictions without a warning, then most evictions.
                "order": [{"unwarned": "desc"}, {"_count": "desc"}, {"_key": "asc"}],
            },
            "aggs": {"unwarned": {"filter": _UNWARNED}},
        }
        for name, field_name in GROUPINGS.items()
    }
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [*filters, {"term": {"event_type": EVICTION_EVENT_TYPE}}]}},
        "aggs": {
            # run_sections keeps aggregations only: the count is one too.
            "evictions_count": {"filter": {"match_all": {}}},
            "evictions_unwarned": {"filter": _UNWARNED},
            **groups,
        },
    }


def from_aggregations(aggs: Mapping[str, Any]) -> MissedWarnings:
    """The section from its aggregations (merged with the other sections')."""
    total = int(aggs["evictions_count"]["doc_count"])
    without = int(aggs["evictions_unwarned"]["doc_count"])

    def buckets(name: str) -> list[MissedBucket]:
        return [
            MissedBucket(
                key=str(b["key"]),
                evictions=int(b["doc_count"]),
                without_warning=int(b["unwarned"]["doc_count"]),
                share=_share(int(b["unwarned"]["doc_count"]), int(b["doc_count"])),
            )
            for b in aggs[f"evictions_{name}"]["buckets"]
        ]

    return MissedWarnings(
        evictions=total,
        without_warning=without,
        share=_share(without, total),
        by_pool=buckets("by_pool"),
        by_capacity_group=buckets("by_capacity_group"),
    )


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def tables(missed: MissedWarnings) -> list[RenderableType]:
    """The section as terminal tables: the totals, then by pool and by capacity group."""

    def rows(buckets: list[MissedBucket]) -> list[list[Any]]:
        return [[b.key, b.evictions, b.without_warning, percent(b.share)] for b in buckets]

    columns = ["evictions", "without a warning", "share"]
    return [
        table(
            "Evictions without a warning (CloudTrail BidEvictedEvent, no warning first)",
            ["metric", "value"],
            [
                ["evictions (instances)", missed.evictions],
                ["without a warning", missed.without_warning],
                ["share without a warning", percent(missed.share)],
            ],
        ),
        table(
            "Evictions without a warning by pool (instance type x AZ ID)",
            ["pool", *columns],
            rows(missed.by_pool),
        ),
        table(
            "Evictions without a warning by capacity group",
            ["capacity group", *columns],
            rows(missed.by_capacity_group),
        ),
    ]
