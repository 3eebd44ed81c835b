"""The saved dashboard's panels as the searches OpenSearch Dashboards sends, and their answers as
rows.

OpenSearch Dashboards cannot run here, so this module does what its legacy visualizations do
with a saved object: the index pattern's time field and the dashboard's time range become a
range filter, the search source's filters and a control's selection become bool clauses, the
visState's aggregations become nested aggregations keyed by their ids (buckets in order, metrics
in the innermost bucket), a terms "Other" bucket is a second search, and the answer is tabified
into rows. Anything it does not know (an aggregation type, a field missing from the index
pattern, a filter type, a non-empty query bar) raises `UnsupportedPanel` rather than guessing,
so a panel nobody can check never passes silently. `spot-insights report --html` draws these
rows; tests/dashboards runs them against the real node and compares them with the report.
The Vega panels (rates and scorecard) are not legacy visualizations: spot_cli/vega_panels.py
runs those."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The file the provisioning custom resource imports (spot_cli is installed editable, so the
# checkout is its parent; lambda_src is not importable from the console script).
SAVED_OBJECTS = (
    Path(__file__).resolve().parents[1] / "dashboards" / "spot-insights-visualizations.ndjson"
)
DASHBOARD_ID = "spot-insights-dashboard"
CONTROL_VIS = "input_control_vis"
VEGA_VIS = "vega"
MISSING_KEY = "__missing__"  # the value Dashboards asks terms to use for documents without one
# histogram:barTarget, Dashboards' advanced-settings default.
BAR_TARGET = 50
CHART_TYPES = {"metric", "table", "histogram", "horizontal_bar", "heatmap"}
BUCKET_AGGS = {"terms", "date_histogram", "range", "filters"}
METRIC_AGGS = {"count", "cardinality", "percentiles"}
_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdwM]))?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Dashboards' auto interval (calcAutoIntervalNear): the first bound below the wanted width per
# bar picks the interval listed one step above it.
_AUTO_BOUNDS: tuple[tuple[float, str, int], ...] = (
    (float("inf"), "1y", 365 * 86400),
    (365 * 86400, "1M", 30 * 86400),
    (21 * 86400, "1w", 7 * 86400),
    (7 * 86400, "1d", 86400),
    (86400, "12h", 43200),
    (21600, "3h", 10800),
    (7200, "1h", 3600),
    (2700, "30m", 1800),
    (1200, "10m", 600),
    (540, "5m", 300),
    (180, "1m", 60),
    (45, "30s", 30),
    (15, "10s", 10),
    (7.5, "5s", 5),
    (5, "1s", 1),
)


class UnsupportedPanel(ValueError):
    """A saved object uses something this interpreter does not model."""


class NoIndexError(LookupError):
    """Nothing to show: no index matches the pattern."""


@dataclass(frozen=True)
class IndexPattern:
    id: str
    title: str
    time_field: str
    fields: Mapping[str, str]  # name -> Dashboards type (string, number, date, ...)
    formats: Mapping[str, Mapping[str, Any]]

    def check(self, name: str, where: str) -> None:
        if name not in self.fields:
            raise UnsupportedPanel(f"{where}: field {name!r} is not in the index pattern")

    def is_duration(self, name: str) -> bool:
        return self.formats.get(name, {}).get("id") == "duration"


@dataclass(frozen=True)
class Agg:
    id: str
    type: str
    schema: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    type: str
    aggs: tuple[Agg, ...]
    filters: tuple[Mapping[str, Any], ...]
    params: Mapping[str, Any]

    @property
    def buckets(self) -> list[Agg]:
        return [a for a in self.aggs if a.type in BUCKET_AGGS]

    @property
    def metrics(self) -> list[Agg]:
        return [a for a in self.aggs if a.type in METRIC_AGGS]


@dataclass(frozen=True)
class SavedSearch:
    id: str
    title: str
    columns: tuple[str, ...]
    sort: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Dashboard:
    title: str
    time_from: str
    time_to: str
    panels: tuple[Panel, ...]  # charts, in grid order
    controls: tuple[tuple[str, str], ...]  # (field, label)
    search: SavedSearch | None
    pattern: IndexPattern


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, time_from: str, time_to: str, now: datetime | None = None) -> TimeRange:
        now = now or datetime.now(UTC)
        return cls(_parse_time(time_from, now), _parse_time(time_to, now))


@dataclass
class PanelResult:
    """Tabified answer: bucket columns hold labels, metric columns numbers."""

    panel: Panel
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    interval: str | None = None
    interval_seconds: int | None = None
    total: int = 0  # documents matching the panel's filters in the window

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def _parse_time(value: str, now: datetime) -> datetime:
    match = _RELATIVE.match(value)
    if match:
        if not match[1]:
            return now
        amount, unit = int(match[1]), match[2]
        if unit == "M":
            return now - timedelta(days=30 * amount)
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UnsupportedPanel(f"time {value!r} is neither now-N<unit> nor ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- loading ------------------------------------------------------------------------------------


def read_objects(path: Path = SAVED_OBJECTS) -> dict[str, dict[str, Any]]:
    objects = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {obj["id"]: obj for obj in objects}


def _pattern(obj: Mapping[str, Any]) -> IndexPattern:
    attributes = obj["attributes"]
    fields = {f["name"]: f["type"] for f in json.loads(attributes.get("fields", "[]"))}
    return IndexPattern(
        id=obj["id"],
        title=attributes["title"],
        time_field=attributes["timeFieldName"],
        fields=fields,
        formats=json.loads(attributes.get("fieldFormatMap", "{}")),
    )


def _panel(obj: Mapping[str, Any]) -> Panel:
    attributes = obj["attributes"]
    state = json.loads(attributes["visState"])
    source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
    query = source.get("query", {})
    if query.get("query"):
        raise UnsupportedPanel(
            f"{obj['id']}: a query bar query ({query['query']!r}) is not modelled"
        )
    aggs = tuple(
        Agg(a["id"], a["type"], a.get("schema", ""), a.get("params", {}))
        for a in state.get("aggs", [])
        if a.get("enabled", True)
    )
    return Panel(
        id=obj["id"],
        title=attributes["title"],
        type=state["type"],
        aggs=aggs,
        filters=tuple(source.get("filter", [])),
        params=state.get("params", {}),
    )


def load_dashboard(path: Path = SAVED_OBJECTS, dashboard_id: str = DASHBOARD_ID) -> Dashboard:
    objects = read_objects(path)
    board = objects[dashboard_id]
    names = {ref["name"]: ref["id"] for ref in board["references"]}
    panels: list[Panel] = []
    controls: list[tuple[str, str]] = []
    search: SavedSearch | None = None
    for item in json.loads(board["attributes"]["panelsJSON"]):
        obj = objects[names[item["panelRefName"]]]
        if obj["type"] == "search":
            attributes = obj["attributes"]
            search = SavedSearch(
                obj["id"],
                attributes["title"],
                tuple(attributes["columns"]),
                tuple((s[0], s[1]) for s in attributes["sort"]),
            )
            continue
        panel = _panel(obj)
        if panel.type == VEGA_VIS:  # spot_cli/vega_panels.py runs these
            continue
        if panel.type == CONTROL_VIS:
            controls += [(c["fieldName"], c["label"]) for c in panel.params["controls"]]
        else:
            panels.append(panel)
    patterns = [o for o in objects.values() if o["type"] == "index-pattern"]
    if len(patterns) != 1:
        raise UnsupportedPanel(f"expected one index pattern, found {len(patterns)}")
    attributes = board["attributes"]
    return Dashboard(
        title=attributes["title"],
        time_from=attributes.get("timeFrom", "now-15m"),
        time_to=attributes.get("timeTo", "now"),
        panels=tuple(panels),
        controls=tuple(controls),
        search=search,
        pattern=_pattern(patterns[0]),
    )


# -- requests -----------------------------------------------------------------------------------


def control_filter(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """What a list control adds when the user picks values: a phrase filter for one value,
    a phrases filter (bool should of match_phrase) for several."""
    if len(values) == 1:
        return {
            "meta": {"type": "phrase", "key": name, "negate": False, "disabled": False},
            "query": {"match_phrase": {name: values[0]}},
        }
    return {
        "meta": {"type": "phrases", "key": name, "params": list(values), "negate": False},
        "query": {
            "bool": {
                "should": [{"match_phrase": {name: v}} for v in values],
                "minimum_should_match": 1,
            }
        },
    }


def filter_clause(item: Mapping[str, Any], pattern: IndexPattern, where: str) -> dict[str, Any]:
    meta = item.get("meta", {})
    kind = meta.get("type")
    if kind not in {"phrase", "phrases", "exists"}:
        raise UnsupportedPanel(f"{where}: filter type {kind!r} is not modelled")
    if meta.get("key"):
        pattern.check(meta["key"], where)
    if kind == "exists":
        return {"exists": dict(item["exists"])}
    return json.loads(json.dumps(item["query"]))


def query_for(
    filters: Iterable[Mapping[str, Any]],
    pattern: IndexPattern,
    window: TimeRange,
    where: str,
) -> dict[str, Any]:
    """The bool query Dashboards builds: enabled filters (negated ones under must_not) and the
    time range on the index pattern's time field, both ends included."""
    must: list[dict[str, Any]] = [{"match_all": {}}]
    must_not: list[dict[str, Any]] = []
    for item in filters:
        if item.get("meta", {}).get("disabled"):
            continue
        clause = filter_clause(item, pattern, where)
        (must_not if item.get("meta", {}).get("negate") else must).append(clause)
    must.append(
        {
            "range": {
                pattern.time_field: {
                    "gte": iso_millis(window.start),
                    "lte": iso_millis(window.end),
                    "format": "strict_date_optional_time",
                }
            }
        }
    )
    return {"bool": {"must": [], "filter": must, "should": [], "must_not": must_not}}


def iso_millis(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def auto_interval(window: TimeRange) -> tuple[str, int]:
    """The interval name and width (seconds) Dashboards picks for `interval: auto`. With
    histogram:barTarget 50 this never exceeds histogram:maxBars (100), so the scaling step
    Dashboards has for that case is not modelled."""
    per_bar = (window.end - window.start).total_seconds() / BAR_TARGET
    for index, (bound, _, _) in enumerate(_AUTO_BOUNDS):
        if bound <= per_bar:
            _, name, width = _AUTO_BOUNDS[index - 1]
            return name, width
    return "1s", 1


def _metric_dsl(agg: Agg, pattern: IndexPattern, where: str) -> dict[str, Any] | None:
    if agg.type == "count":
        return None
    name = agg.params.get("field")
    if not name:
        raise UnsupportedPanel(f"{where}: {agg.type} without a field")
    pattern.check(name, where)
    if agg.type == "cardinality":
        return {"cardinality": {"field": name}}
    return {
        "percentiles": {"field": name, "percents": list(agg.params["percents"]), "keyed": False}
    }


def _order(agg: Agg, panel: Panel, where: str) -> dict[str, str]:
    direction = agg.params.get("order", "desc")
    order_by = agg.params.get("orderBy")
    if order_by == "_key":
        return {"_key": direction}
    target = next((m for m in panel.metrics if m.id == order_by), None)
    if target is None or target.type != "count":
        raise UnsupportedPanel(f"{where}: terms ordered by {order_by!r} is not modelled")
    return {"_count": direction}


def _bucket_dsl(
    agg: Agg, panel: Panel, pattern: IndexPattern, window: TimeRange, where: str
) -> tuple[dict[str, Any], str | None]:
    params = agg.params
    if agg.type == "filters":
        filters = {}
        for item in params["filters"]:
            spec = item["input"]
            if spec.get("language") != "lucene":
                raise UnsupportedPanel(f"{where}: filters in {spec.get('language')!r} not modelled")
            label = item.get("label") or spec["query"]
            filters[label] = {"query_string": {"query": spec["query"], "analyze_wildcard": True}}
        return {"filters": {"filters": filters}}, None
    name = params.get("field")
    if not name:
        raise UnsupportedPanel(f"{where}: {agg.type} without a field")
    pattern.check(name, where)
    if agg.type == "terms":
        body: dict[str, Any] = {
            "field": name,
            "size": int(params["size"]),
            "order": _order(agg, panel, where),
        }
        if params.get("missingBucket"):
            body["missing"] = MISSING_KEY
        return {"terms": body}, None
    if agg.type == "range":
        return {"range": {"field": name, "ranges": list(params["ranges"]), "keyed": False}}, None
    # date_histogram
    if params.get("interval") != "auto":
        raise UnsupportedPanel(f"{where}: only interval auto is modelled")
    interval, _ = auto_interval(window)
    # dateHistogramInterval(): ms, s, m, h and d are fixed; w, M, q and y calendar intervals.
    kind = "fixed_interval" if interval[-1] in "smhd" else "calendar_interval"
    return {
        "date_histogram": {
            "field": name,
            kind: interval,
            "time_zone": "UTC",
            "min_doc_count": int(params.get("min_doc_count", 1)),
        }
    }, interval


def check_panel(panel: Panel, pattern: IndexPattern) -> None:
    where = f"panel {panel.id!r}"
    if panel.type not in CHART_TYPES:
        raise UnsupportedPanel(f"{where}: visualization type {panel.type!r} is not modelled")
    for agg in panel.aggs:
        if agg.type not in BUCKET_AGGS | METRIC_AGGS:
            raise UnsupportedPanel(f"{where}: aggregation type {agg.type!r} is not modelled")
    for agg in panel.buckets[1:]:
        if agg.type == "terms" and agg.params.get("otherBucket"):
            raise UnsupportedPanel(
                f"{where}: an Other bucket below the first level is not modelled"
            )


def search_body(
    panel: Panel,
    pattern: IndexPattern,
    window: TimeRange,
    selections: Mapping[str, Sequence[Any]] | None = None,
) -> tuple[dict[str, Any], str | None]:
    """The request body Dashboards sends for this panel, and the date interval it chose."""
    check_panel(panel, pattern)
    where = f"panel {panel.id!r}"
    filters = [*panel.filters, *selection_filters(selections, pattern, where)]
    metrics: dict[str, Any] = {}
    for agg in panel.metrics:
        dsl = _metric_dsl(agg, pattern, where)
        if dsl is not None:
            metrics[agg.id] = dsl
    interval = None
    inner = metrics
    for agg in reversed(panel.buckets):
        dsl, chosen = _bucket_dsl(agg, panel, pattern, window, where)
        interval = chosen or interval
        if inner:
            dsl["aggs"] = inner
        inner = {agg.id: dsl}
    body = {
        "size": 0,
        "track_total_hits": True,
        "query": query_for(filters, pattern, window, where),
        "aggs": inner,
    }
    return body, interval


def selection_filters(
    selections: Mapping[str, Sequence[Any]] | None, pattern: IndexPattern, where: str
) -> list[dict[str, Any]]:
    result = []
    for name, values in (selections or {}).items():
        if values:
            pattern.check(name, f"{where} control")
            result.append(control_filter(name, list(values)))
    return result


def _other_body(
    panel: Panel, first: Agg, keys: Sequence[str], body: Mapping[str, Any]
) -> dict[str, Any]:
    """Dashboards' second request for a terms Other bucket: documents with the field whose
    value is none of the returned keys."""
    name = first.params["field"]
    other = {
        "bool": {
            "must": [{"exists": {"field": name}}],
            "must_not": [{"match_phrase": {name: k}} for k in keys if k != MISSING_KEY],
        }
    }
    inner = body["aggs"][first.id].get("aggs")
    agg: dict[str, Any] = {"filters": {"filters": {"": other}}}
    if inner:
        agg["aggs"] = inner
    return {"size": 0, "query": body["query"], "aggs": {"other-filter": agg}}


# -- answers ------------------------------------------------------------------------------------


def _metric_columns(panel: Panel) -> list[str]:
    columns = []
    for agg in panel.metrics:
        if agg.type == "count":
            columns.append("Count")
        elif agg.type == "cardinality":
            columns.append(f"Unique count of {agg.params['field']}")
        else:
            columns += [
                f"{_ordinal(p)} percentile of {agg.params['field']}" for p in agg.params["percents"]
            ]
    return columns


def _ordinal(value: float) -> str:
    number = int(value) if float(value).is_integer() else value
    suffix = (
        "th"
        if 10 <= int(value) % 100 <= 20
        else {1: "st", 2: "nd", 3: "rd"}.get(int(value) % 10, "th")
    )
    return f"{number}{suffix}"


def _metric_values(panel: Panel, bucket: Mapping[str, Any]) -> list[Any]:
    values: list[Any] = []
    for agg in panel.metrics:
        if agg.type == "count":
            values.append(int(bucket["doc_count"]))
        elif agg.type == "cardinality":
            values.append(int(bucket[agg.id]["value"]))
        else:
            values += [entry["value"] for entry in bucket[agg.id]["values"]]
    return values


def _label(agg: Agg, bucket: Mapping[str, Any], key: Any, pattern: IndexPattern) -> str:
    if agg.type == "terms":
        return agg.params.get("missingBucketLabel", "Missing") if key == MISSING_KEY else str(key)
    if agg.type == "date_histogram":
        return bucket["key_as_string"] if "key_as_string" in bucket else str(key)
    if agg.type == "range":
        return range_label(
            bucket.get("from"), bucket.get("to"), pattern.is_duration(agg.params["field"])
        )
    return str(key)


def range_label(start: float | None, end: float | None, duration: bool) -> str:
    show = human_duration if duration else (lambda v: f"{v:g}")
    if not start:  # from 0 or unbounded: the readable "< 10 min"
        return f"< {show(end)}"
    if end is None:
        return f"> {show(start)}"
    return f"{show(start)}-{show(end)}"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for width, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= width:
            value = seconds / width
            return f"{value:.0f} {unit}" if value.is_integer() else f"{value:.1f} {unit}"
    return f"{seconds:.0f} s"


def _walk(
    panel: Panel,
    level: Mapping[str, Any],
    *,
    depth: int,
    prefix: list[str],
    rows: list[list[Any]],
    pattern: IndexPattern,
) -> None:
    buckets = panel.buckets
    if depth == len(buckets):
        rows.append([*prefix, *_metric_values(panel, level)])
        return
    agg = buckets[depth]
    raw = level[agg.id]["buckets"]
    items = raw.items() if isinstance(raw, dict) else ((b.get("key"), b) for b in raw)
    for key, bucket in items:
        if bucket["doc_count"] == 0 and agg.type != "range":
            continue
        label = _label(agg, bucket, key, pattern)
        _walk(panel, bucket, depth=depth + 1, prefix=[*prefix, label], rows=rows, pattern=pattern)


def run_panel(
    client: Any,
    panel: Panel,
    pattern: IndexPattern,
    window: TimeRange,
    *,
    selections: Mapping[str, Sequence[Any]] | None = None,
    index: str | None = None,
) -> PanelResult:
    body, interval = search_body(panel, pattern, window, selections)
    index = index or pattern.title
    response = client.search(index=index, body=body)
    columns = [f"{a.type}:{a.params.get('field', a.id)}" for a in panel.buckets]
    columns += _metric_columns(panel)
    result = PanelResult(panel, columns, interval=interval)
    if interval:
        result.interval_seconds = auto_interval(window)[1]
    result.total = int(response["hits"]["total"]["value"])
    if "aggregations" not in response and body["aggs"]:
        # A wildcard that matches no index answers with hits only.
        raise NoIndexError(f"no index matches {index}")
    aggregations = response.get("aggregations", {})
    if not panel.buckets:
        result.rows.append(_metric_values(panel, {"doc_count": result.total, **aggregations}))
        return result
    _walk(panel, aggregations, depth=0, prefix=[], rows=result.rows, pattern=pattern)
    first = panel.buckets[0]
    if first.type == "terms" and first.params.get("otherBucket"):
        keys = [b["key"] for b in aggregations[first.id]["buckets"]]
        answer = client.search(index=index, body=_other_body(panel, first, keys, body))
        other = answer["aggregations"]["other-filter"]["buckets"][""]
        if other["doc_count"]:
            label = first.params.get("otherBucketLabel", "Other")
            _walk(panel, other, depth=1, prefix=[label], rows=result.rows, pattern=pattern)
    if panel.params.get("percentageCol"):
        _add_percentages(result)
    return result


def _add_percentages(result: PanelResult) -> None:
    """The data table's percentage column: each row's share of the column's total."""
    name = result.panel.params["percentageCol"]
    index = result.columns.index(name)
    total = sum(row[index] for row in result.rows)
    result.columns.append(f"{name} percentages")
    for row in result.rows:
        row.append(row[index] / total if total else 0.0)


def run_search(
    client: Any,
    search: SavedSearch,
    pattern: IndexPattern,
    window: TimeRange,
    *,
    selections: Mapping[str, Sequence[Any]] | None = None,
    size: int = 50,
    index: str | None = None,
) -> list[dict[str, Any]]:
    """The saved search's newest documents, its columns only."""
    where = f"search {search.id!r}"
    for name in (*search.columns, *(s[0] for s in search.sort)):
        pattern.check(name, where)
    body = {
        "size": size,
        "sort": [{name: {"order": order}} for name, order in search.sort],
        "_source": [pattern.time_field, *search.columns],
        "query": query_for(selection_filters(selections, pattern, where), pattern, window, where),
    }
    response = client.search(index=index or pattern.title, body=body)
    return [hit["_source"] for hit in response["hits"]["hits"]]
