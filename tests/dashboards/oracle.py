"""What each panel should show, computed in Python from the raw documents of the window: an
implementation of the panels' meaning that shares nothing with the query translation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from spot_cli.dashboard_panels import Agg, Panel, range_label


def control_choice(documents: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """A control choice that narrows every panel without emptying one: the busiest region (a
    phrase filter) and every capacity group but the least busy real one (a phrases filter;
    "unknown" stays, or the not-enriched panels would be empty)."""
    region = Counter(d["region"] for d in documents).most_common(1)[0][0]
    groups = [g for g, _ in Counter(d["capacity_group"] for d in documents).most_common()]
    dropped = next(g for g in reversed(groups) if g != "unknown")
    return {"region": [region], "capacity_group": [g for g in groups if g != dropped]}


def _matches(doc: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    meta = item["meta"]
    key = meta["key"]
    if meta["type"] == "exists":
        hit = key in doc
    elif meta["type"] == "phrase":
        hit = doc.get(key) == item["query"]["match_phrase"][key]
    else:
        hit = doc.get(key) in meta["params"]
    return hit != bool(meta.get("negate"))


def selected(
    docs: Sequence[Mapping[str, Any]], filters: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    return [d for d in docs if all(_matches(d, f) for f in filters)]


_BOOLEANS = {"true": True, "false": False}


def _lucene(doc: Mapping[str, Any], query: str) -> bool:
    """The query forms the dashboard uses (a field exists, a boolean field is true, and their
    negations); anything else is a test bug."""
    if query.startswith("NOT "):
        return not _lucene(doc, query.removeprefix("NOT "))
    if query.startswith("_exists_:"):
        return query.removeprefix("_exists_:") in doc
    name, _, value = query.partition(":")
    if value in _BOOLEANS and name.isidentifier():
        return doc.get(name) is _BOOLEANS[value]
    raise AssertionError(f"oracle does not know the query {query!r}")


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def bucket_keys(agg: Agg, doc: Mapping[str, Any], width: int | None, duration: bool) -> list[str]:
    """The labels of the buckets `doc` falls into (filters may give several, range none)."""
    params = agg.params
    if agg.type == "terms":
        return [str(doc.get(params["field"], params["missingBucketLabel"]))]
    if agg.type == "filters":
        return [f["label"] for f in params["filters"] if _lucene(doc, f["input"]["query"])]
    if agg.type == "range":
        value = doc.get(params["field"])
        return [
            range_label(r.get("from"), r.get("to"), duration)
            for r in params["ranges"]
            if value is not None and r.get("from", -math.inf) <= value < r.get("to", math.inf)
        ]
    assert agg.type == "date_histogram", agg.type
    start = math.floor(_epoch(doc["event_time"]) / width) * width
    stamp = (
        datetime.fromtimestamp(start, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    return [stamp]


def counts(
    panel: Panel, docs: Sequence[Mapping[str, Any]], width: int | None, duration_fields: set[str]
) -> Counter:
    """Document count per combination of bucket labels."""
    tally: Counter = Counter()
    for doc in docs:
        combos: list[tuple[str, ...]] = [()]
        for agg in panel.buckets:
            duration = agg.params.get("field") in duration_fields
            keys = bucket_keys(agg, doc, width, duration)
            combos = [(*c, k) for c in combos for k in keys]
        tally.update(combos)
    return tally


def percentile(values: Sequence[float], percent: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
