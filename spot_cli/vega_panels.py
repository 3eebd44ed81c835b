"""The dashboard's Vega panels (rates, the rebalance scorecard and the market context) run the
way OpenSearch Dashboards 2.19 runs them, so a test can hold their numbers to the report's.

Dashboards' Vega visualization (src/plugins/vis_type_vega, opensearch_query_parser.ts) takes
each `data[]` entry with a `url` out of the spec and sends `url.body` to `url.index`; with
`%context%` the body's query becomes the dashboard's filters (the bool query the filter bar and
controls build), and with `%timefield%` a range on that field over the time picker's bounds
(`gte`/`lte`, ISO 8601 with milliseconds, `strict_date_optional_time`) is pushed onto that
query's `must`. A `url` with neither is sent as it is (no query: match_all). In both, the
aggregations' `{"%timefilter%": "min"|"max"}` become the time picker's bounds in epoch
milliseconds. The raw answer becomes the entry's `values`, read through `format.property`, and
Vega's own transforms (here: formula, aggregate, window, filter, lookup, flatten) compute the
rest in the browser. This module does the first half in Python against the real node and hands
the second half to the real Vega runtime (node_modules/vega, run headless by
vega_dataflow.mjs); anything else in a spec (a body with its own query, `%timefilter%: true`,
%autointerval%, another data source type) raises `UnsupportedPanel` rather than being guessed."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_src.provisioning.vega_indices import spec_for_prefix
from spot_cli.dashboard_panels import (
    DASHBOARD_ID,
    SAVED_OBJECTS,
    VEGA_VIS,
    IndexPattern,
    NoIndexError,
    TimeRange,
    UnsupportedPanel,
    filter_clause,
    iso_millis,
    read_objects,
    selection_filters,
)

ROOT = Path(__file__).resolve().parents[1]
DATAFLOW = Path(__file__).with_name("vega_dataflow.mjs")
CONTEXT = "%context%"
TIMEFIELD = "%timefield%"
TIMEFILTER = "%timefilter%"
# _getTimeBound's units (opensearch_query_parser.ts), in milliseconds.
_DAY = 86_400_000
UNIT_MS = {"w": 7 * _DAY, "week": 7 * _DAY, "d": _DAY, "day": _DAY, "h": 3_600_000,
           "hour": 3_600_000, "m": 60_000, "minute": 60_000, "s": 1000, "second": 1000}  # fmt: skip
# The size Dashboards gives a panel's view; only the marks depend on it, not the data sets.
VIEW_SIZE = {"width": 600, "height": 300}


@dataclass(frozen=True)
class VegaPanel:
    id: str
    title: str
    description: str
    spec: Mapping[str, Any]


@dataclass(frozen=True)
class VegaSearch:
    """One search a Vega panel sends: the data set it fills, the index and the body."""

    name: str
    index: str
    body: dict[str, Any]


def load_vega_panels(
    path: Path = SAVED_OBJECTS, dashboard_id: str = DASHBOARD_ID
) -> list[VegaPanel]:
    """The dashboard's Vega panels, in grid order."""
    objects = read_objects(path)
    board = objects[dashboard_id]
    names = {ref["name"]: ref["id"] for ref in board["references"]}
    panels = []
    for item in json.loads(board["attributes"]["panelsJSON"]):
        obj = objects[names[item["panelRefName"]]]
        attributes = obj["attributes"]
        state = json.loads(attributes.get("visState", "{}"))
        if state.get("type") != VEGA_VIS:
            continue
        panels.append(
            VegaPanel(
                obj["id"],
                attributes["title"],
                attributes.get("description", ""),
                json.loads(state["params"]["spec"]),
            )
        )
    return panels


def context_query(
    filters: Sequence[Mapping[str, Any]],
    pattern: IndexPattern,
    window: TimeRange,
    time_field: str,
    where: str,
) -> dict[str, Any]:
    """`%context%` with `%timefield%`: the dashboard's filters as buildOpenSearchQuery writes
    them (enabled ones under filter, negated ones under must_not; an empty query bar is
    match_all), the time range pushed onto must."""
    clauses: list[dict[str, Any]] = [{"match_all": {}}]
    negated: list[dict[str, Any]] = []
    for item in filters:
        meta = item.get("meta", {})
        if meta.get("disabled"):
            continue
        (negated if meta.get("negate") else clauses).append(filter_clause(item, pattern, where))
    time_range = {
        "range": {
            time_field: {
                "gte": iso_millis(window.start),
                "lte": iso_millis(window.end),
                "format": "strict_date_optional_time",
            }
        }
    }
    return {"bool": {"must": [time_range], "filter": clauses, "should": [], "must_not": negated}}


def searches(
    panel: VegaPanel,
    pattern: IndexPattern,
    window: TimeRange,
    *,
    selections: Mapping[str, Sequence[Any]] | None = None,
    index_prefix: str | None = None,
) -> list[VegaSearch]:
    """The searches Dashboards sends for the panel (the prefix moved as provisioning moves it)."""
    where = f"panel {panel.id!r}"
    spec = spec_for_prefix(dict(panel.spec), index_prefix) if index_prefix else panel.spec
    filters = selection_filters(selections, pattern, where)
    result = []
    for data in spec.get("data", []):
        url = data.get("url")
        if url is None:
            continue
        if not isinstance(url, Mapping) or not isinstance(url.get("index"), str):
            raise UnsupportedPanel(f"{where}: data {data.get('name')!r} is not an index search")
        body = json.loads(json.dumps(url.get("body", {})))
        contextual = url.get(CONTEXT) is True and bool(url.get(TIMEFIELD))
        plain = CONTEXT not in url and TIMEFIELD not in url
        if "query" in body or not (contextual or plain):
            raise UnsupportedPanel(
                f"{where}: data {data.get('name')!r} must use %context% and %timefield% "
                "(or neither) without its own query"
            )
        if "%autointerval%" in json.dumps(body):
            raise UnsupportedPanel(f"{where}: %autointerval% is not modelled")
        if "aggs" in body:
            body["aggs"] = time_bounds(body["aggs"], window, where)
        if contextual:
            body["query"] = context_query(filters, pattern, window, url[TIMEFIELD], where)
        # Neither: Dashboards sends the body as it is (match_all, the controls do not apply).
        result.append(VegaSearch(data["name"], url["index"], body))
    return result


def time_bounds(value: Any, window: TimeRange, where: str) -> Any:
    """Dashboards' `_injectContextVars` for aggregations: `{"%timefilter%": "min"|"max",
    "shift": n, "unit": u}` becomes the time picker's bound in epoch milliseconds, shifted by
    n units (unit default "d"). `"%timefilter%": true` (a whole range) is not modelled."""
    if isinstance(value, list):
        return [time_bounds(item, window, where) for item in value]
    if not isinstance(value, dict):
        return value
    if TIMEFILTER in value:
        bound = value[TIMEFILTER]
        if bound not in {"min", "max"}:
            raise UnsupportedPanel(f"{where}: only %timefilter% min/max is modelled")
        shift = value.get("shift", 0)
        if not isinstance(shift, int | float) or value.get("unit", "d") not in UNIT_MS:
            raise UnsupportedPanel(f"{where}: %timefilter% shift {shift!r} {value.get('unit')!r}")
        at = window.start if bound == "min" else window.end
        return int(at.timestamp() * 1000) + shift * UNIT_MS[value.get("unit", "d")]
    return {key: time_bounds(item, window, where) for key, item in value.items()}


def evaluate(spec: Mapping[str, Any], datasets: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The named data sets after Vega's transforms, computed by the Vega runtime in node."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "vega").is_dir():
        raise UnsupportedPanel("node and node_modules/vega are needed: run `make setup`")
    answer = subprocess.run(
        [node, str(DATAFLOW)],
        input=json.dumps({"spec": spec, "datasets": list(datasets)}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    if answer.returncode != 0:
        raise UnsupportedPanel(f"Vega could not run the spec: {answer.stderr.strip()[-500:]}")
    return json.loads(answer.stdout)


def run_vega_panel(
    client: Any,
    panel: VegaPanel,
    pattern: IndexPattern,
    window: TimeRange,
    *,
    selections: Mapping[str, Sequence[Any]] | None = None,
    index_prefix: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every data set of the panel (by name) as Dashboards' Vega view would hold it."""
    requests = searches(panel, pattern, window, selections=selections, index_prefix=index_prefix)
    answers = {}
    for request in requests:
        response = client.search(index=request.index, body=request.body)
        if "aggregations" not in response:
            raise NoIndexError(f"no index matches {request.index}")
        answers[request.name] = response
    spec = json.loads(json.dumps(panel.spec)) | VIEW_SIZE
    for data in spec["data"]:
        if "url" in data:  # what Dashboards does: the url goes, the raw answer is the values
            del data["url"]
            data["values"] = answers[data["name"]]
    return evaluate(spec, [d["name"] for d in spec["data"]])
