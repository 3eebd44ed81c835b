#!/usr/bin/env python3
"""Writes dashboards/spot-insights-visualizations.ndjson: the index pattern (with its field list
and duration formats), one visualization per panel, the recent-events search and the dashboard.

The ndjson is what ships (the provisioning custom resource imports it as is); this script is its
source, so that forty hand-escaped JSON strings never drift apart. `--check` fails when the file
differs from what the script writes (tests/dashboards/test_saved_objects_static.py runs it).

    .venv/bin/python scripts/build_dashboard.py          # rewrite the file
    .venv/bin/python scripts/build_dashboard.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lambda_src import contract
from spot_cli import market, rates, report, scorecard
from spot_cli.percentiles import PERCENTS
from spot_cli.percentiles import label as label_of
from spot_cli.scorecard_command import DEFAULT_HORIZON

ROOT = Path(__file__).resolve().parents[1]
NDJSON = ROOT / "dashboards" / "spot-insights-visualizations.ndjson"
MAPPING = ROOT / "dashboards" / "index-mapping.json"

INDEX_PATTERN_ID = contract.DASHBOARDS_INDEX_PATTERN_ID
DASHBOARD_ID = "spot-insights-dashboard"
SEARCH_ID = "spot-insights-recent-events"
WARNING = "EC2 Spot Instance Interruption Warning"
REBALANCE = "EC2 Instance Rebalance Recommendation"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
# Durations are stored as whole seconds; Dashboards shows them as "3 hours", "12 minutes".
DURATION_FIELDS = (
    "runtime_seconds",
    "rebalance_lead_seconds",
    "warning_after_seconds",
    "warning_lead_seconds",
)
DURATION_FORMAT = {
    "id": "duration",
    "params": {"inputFormat": "seconds", "outputFormat": "humanize"},
}
# Buckets a person reads: < 10 min, 10-60 min, 1-6 h, 6-24 h, 1-7 d, > 7 d.
RUNTIME_RANGES = [
    {"from": 0, "to": 600},
    {"from": 600, "to": 3600},
    {"from": 3600, "to": 21600},
    {"from": 21600, "to": 86400},
    {"from": 86400, "to": 604800},
    {"from": 604800},
]
LEAD_RANGES = [
    {"from": 0, "to": 120},
    {"from": 120, "to": 300},
    {"from": 300, "to": 600},
    {"from": 600, "to": 1200},
    {"from": 1200, "to": 1800},
    {"from": 1800},
]
OSD_TYPES = {
    "keyword": "string",
    "date": "date",
    "long": "number",
    "ip": "ip",
    "boolean": "boolean",
}
META_FIELDS = (
    ("_id", "string", True, True),
    ("_index", "string", True, True),
    ("_score", "number", False, False),
    ("_source", "_source", False, False),
    ("_type", "string", True, True),
)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


# -- filters as Dashboards stores them ------------------------------------------------------------


def phrase(field: str, value: Any, *, negate: bool = False, index: int = 0) -> dict[str, Any]:
    return {
        "meta": {
            "alias": None,
            "negate": negate,
            "disabled": False,
            "type": "phrase",
            "key": field,
            "params": {"query": value},
            "indexRefName": f"kibanaSavedObjectMeta.searchSourceJSON.filter[{index}].meta.index",
        },
        "query": {"match_phrase": {field: value}},
        "$state": {"store": "appState"},
    }


def exists(field: str, *, index: int = 0) -> dict[str, Any]:
    return {
        "meta": {
            "alias": None,
            "negate": False,
            "disabled": False,
            "type": "exists",
            "key": field,
            "value": "exists",
            "indexRefName": f"kibanaSavedObjectMeta.searchSourceJSON.filter[{index}].meta.index",
        },
        "exists": {"field": field},
        "$state": {"store": "appState"},
    }


def warnings_only(*more: dict[str, Any]) -> list[dict[str, Any]]:
    return [phrase("event_type", WARNING), *more]


# -- aggregations as visState stores them -------------------------------------------------------


def count() -> dict[str, Any]:
    return {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}}


def metric(agg_type: str, field: str, **params: Any) -> dict[str, Any]:
    return {
        "id": "1",
        "enabled": True,
        "type": agg_type,
        "schema": "metric",
        "params": {"field": field, **params},
    }


def terms(agg_id: str, field: str, size: int, schema: str, *, other: bool = True) -> dict[str, Any]:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "terms",
        "schema": schema,
        "params": {
            "field": field,
            "orderBy": "1",
            "order": "desc",
            "size": size,
            "otherBucket": other,
            "otherBucketLabel": "Other",
            "missingBucket": True,
            "missingBucketLabel": "(unknown)",
        },
    }


def ranges(agg_id: str, field: str, bounds: list[dict[str, int]], schema: str) -> dict[str, Any]:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "range",
        "schema": schema,
        "params": {"field": field, "ranges": bounds},
    }


def query_filters(agg_id: str, schema: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "filters",
        "schema": schema,
        "params": {
            "filters": [
                {"input": {"query": query, "language": "lucene"}, "label": label}
                for label, query in pairs
            ]
        },
    }


def date_histogram(agg_id: str) -> dict[str, Any]:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "date_histogram",
        "schema": "segment",
        "params": {
            "field": "event_time",
            "useNormalizedOpenSearchInterval": True,
            "interval": "auto",
            "drop_partials": False,
            "min_doc_count": 1,
            "extended_bounds": {},
        },
    }


# -- visualization types' params (what the editor saves) ----------------------------------------


def metric_params() -> dict[str, Any]:
    return {
        "addTooltip": True,
        "addLegend": False,
        "type": "metric",
        "metric": {
            "percentageMode": False,
            "useRanges": False,
            "colorSchema": "Green to Red",
            "metricColorMode": "None",
            "colorsRange": [{"from": 0, "to": 10000}],
            "labels": {"show": True},
            "invertColors": False,
            "style": {
                "bgFill": "#000",
                "bgColor": False,
                "labelColor": False,
                "subText": "",
                "fontSize": 48,
            },
        },
    }


def table_params(percentage: bool = False) -> dict[str, Any]:
    return {
        "perPage": 10,
        "showPartialRows": False,
        "showMetricsAtAllLevels": False,
        "showTotal": True,
        "totalFunc": "sum",
        "percentageCol": "Count" if percentage else "",
    }


def bar_params(kind: str, mode: str = "stacked") -> dict[str, Any]:
    horizontal = kind == "horizontal_bar"
    return {
        "type": kind,
        "grid": {"categoryLines": False},
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "type": "category",
                "position": "left" if horizontal else "bottom",
                "show": True,
                "style": {},
                "scale": {"type": "linear"},
                "labels": {"show": True, "filter": not horizontal, "truncate": 100},
                "title": {},
            }
        ],
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": "bottom" if horizontal else "left",
                "show": True,
                "style": {},
                "scale": {"type": "linear", "mode": "normal"},
                "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                "title": {"text": "Count"},
            }
        ],
        "seriesParams": [
            {
                "show": True,
                "type": "histogram",
                "mode": mode,
                "data": {"label": "Count", "id": "1"},
                "valueAxis": "ValueAxis-1",
                "drawLinesBetweenPoints": True,
                "lineWidth": 2,
                "showCircles": True,
            }
        ],
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "times": [],
        "addTimeMarker": False,
        "labels": {"show": False},
        "thresholdLine": {
            "show": False,
            "value": 10,
            "width": 1,
            "style": "full",
            "color": "#E7664C",
        },
    }


def heatmap_params() -> dict[str, Any]:
    return {
        "type": "heatmap",
        "addTooltip": True,
        "addLegend": True,
        "enableHover": False,
        "legendPosition": "right",
        "times": [],
        "colorsNumber": 6,
        "colorSchema": "Reds",
        "setColorRange": False,
        "colorsRange": [],
        "invertColors": False,
        "percentageMode": False,
        "valueAxes": [
            {
                "show": False,
                "id": "ValueAxis-1",
                "type": "value",
                "scale": {"type": "linear", "defaultYExtents": False},
                "labels": {"show": False, "rotate": 0, "overwriteColor": False, "color": "black"},
            }
        ],
    }


# -- the panels -----------------------------------------------------------------------------------


def panel(  # noqa: PLR0917 (the panel list below reads as a table)
    vis_id: str,
    title: str,
    description: str,
    kind: str,
    aggs: list[dict[str, Any]],
    filters: list[dict[str, Any]],
    params: dict[str, Any],
) -> dict[str, Any]:
    numbered = []
    for index, original in enumerate(filters):
        item = json.loads(json.dumps(original))
        item["meta"]["indexRefName"] = (
            f"kibanaSavedObjectMeta.searchSourceJSON.filter[{index}].meta.index"
        )
        numbered.append(item)
    search_source = {
        "query": {"query": "", "language": "kuery"},
        "filter": numbered,
        "indexRefName": INDEX_REF,
    }
    references = [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}]
    references += [
        {"name": f["meta"]["indexRefName"], "type": "index-pattern", "id": INDEX_PATTERN_ID}
        for f in numbered
    ]
    return {
        "id": vis_id,
        "type": "visualization",
        "attributes": {
            "title": title,
            "description": description,
            "visState": _dumps({"title": title, "type": kind, "params": params, "aggs": aggs}),
            "uiStateJSON": "{}",
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _dumps(search_source)},
        },
        "references": references,
        "migrationVersion": {"visualization": "7.10.0"},
    }


def by_field(
    vis_id: str, title: str, field: str, description: str, size: int = 20
) -> dict[str, Any]:
    return panel(
        vis_id,
        title,
        description,
        "horizontal_bar",
        [count(), terms("2", field, size, "segment")],
        warnings_only(),
        bar_params("horizontal_bar"),
    )


def duration_panels(
    prefix: str, field: str, title: str, description: str, bounds: list[dict[str, int]]
) -> list[dict[str, Any]]:
    """Percentiles and readable buckets of a duration, over the warnings that have it."""
    selection = warnings_only(exists(field))
    return [
        panel(
            f"{prefix}-percentiles",
            f"{title} (percentiles)",
            description,
            "table",
            [metric("percentiles", field, percents=[50, 90, 99])],
            selection,
            table_params(),
        ),
        panel(
            f"{prefix}-histogram",
            title,
            f"Warnings by bucket of {field} (duration).",
            "histogram",
            [count(), ranges("2", field, bounds, "segment")],
            selection,
            bar_params("histogram"),
        ),
    ]


CONTROLS = (
    ("account", "Account"),
    ("region", "Region"),
    ("capacity_group", "Capacity group"),
    ("instance_family", "Instance family"),
    ("event_type", "Event type"),
)


def controls() -> dict[str, Any]:
    items = [
        {
            "id": str(number),
            "indexPatternRefName": f"control_{number}_index_pattern",
            "fieldName": field,
            "parent": "",
            "label": label,
            "type": "list",
            "options": {
                "type": "terms",
                "multiselect": True,
                "dynamicOptions": True,
                "size": 25,
                "order": "desc",
            },
        }
        for number, (field, label) in enumerate(CONTROLS)
    ]
    title = "Controls"
    params = {
        "controls": items,
        "updateFiltersOnChange": True,
        "useTimeFilter": True,
        "pinFilters": False,
    }
    return {
        "id": "spot-insights-controls",
        "type": "visualization",
        "attributes": {
            "title": title,
            "description": "Narrow every panel to accounts, regions, capacity groups, "
            "instance families and event types.",
            "visState": _dumps(
                {"title": title, "type": "input_control_vis", "params": params, "aggs": []}
            ),
            "uiStateJSON": "{}",
            "version": 1,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _dumps(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
        },
        "references": [
            {"name": f"control_{n}_index_pattern", "type": "index-pattern", "id": INDEX_PATTERN_ID}
            for n in range(len(CONTROLS))
        ],
        "migrationVersion": {"visualization": "7.10.0"},
    }


def eviction_panels() -> list[dict[str, Any]]:
    """Evictions (CloudTrail BidEvictedEvent, one document per instance) and how many came
    without a warning first (`warned`, linked at ingest): the share, then where they were."""
    evictions = phrase("event_type", contract.EVICTION_EVENT_TYPE)
    unwarned = phrase("warned", False)

    def where(vis_id: str, title: str, field: str, description: str) -> dict[str, Any]:
        return panel(
            vis_id,
            title,
            description,
            "horizontal_bar",
            [count(), terms("2", field, 20, "segment")],
            [evictions, unwarned],
            bar_params("horizontal_bar"),
        )

    return [
        panel(
            "spot-insights-evictions-warned",
            "Evictions with and without a warning",
            "EC2 Spot evictions (CloudTrail BidEvictedEvent, one per instance) and the share "
            "that got no interruption warning first (warned is set at ingest).",
            "table",
            [
                count(),
                query_filters(
                    "2",
                    "bucket",
                    [("warned first", "warned:true"), ("without a warning", "NOT warned:true")],
                ),
            ],
            [evictions],
            table_params(percentage=True),
        ),
        where(
            "spot-insights-unwarned-by-pool",
            "Evictions without a warning by pool",
            "pool",
            "Evicted with no warning first, per pool (instance type x AZ ID).",
        ),
        where(
            "spot-insights-unwarned-by-capacity-group",
            "Evictions without a warning by capacity group",
            "capacity_group",
            "Evicted with no warning first, per capacity group.",
        ),
    ]


# -- Vega panels: rates, the rebalance scorecard, the market --------------------------------------
#
# A rate divides numbers from two index families (warnings in `<prefix>-*`, instance-hours in
# `<prefix>.exposure-*`) joined by key. Of what Dashboards 2.19 offers, only Vega does that with
# the dashboard's time range and filters on both: each `data` entry is its own search with
# `%context%` (the dashboard's filters and controls) and `%timefield%` (its time range on that
# family's time field), and Vega's own transforms join and divide. TSVB's math aggregation only
# combines metrics of one series over one index pattern and one time field; legacy
# visualizations cannot divide at all. spot_cli/vega_panels.py runs these specs as Dashboards
# does, and tests/dashboards/test_vega_panels.py holds them to `report --rates/--scorecard`.

VEGA_SCHEMA = "https://vega.github.io/schema/vega/v5.json"  # the Vega major Dashboards 2.19 ships
EVENTS_INDEX = contract.index_pattern(contract.DEFAULT_INDEX_PREFIX)
EXPOSURE_INDEX = contract.exposure_index_pattern(contract.DEFAULT_INDEX_PREFIX)
# A rate needs both numbers of a key, so neither side may be cut: as many keys as `report --rates`.
RATE_KEYS = rates.MAX_KEYS
RATES_SHOWN = 20  # bars drawn, highest rate first (the data set holds every key)
SCORE_KEYS = 25  # groups in a scorecard table, busiest first (terms order, as the report's)


def _context(index: str, time_field: str, aggs: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": index,
        "%context%": True,
        "%timefield%": time_field,
        "body": {"size": 0, "aggs": aggs},
    }


def _keys(field: str, size: int, **sub: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"terms": {"field": field, "size": size, "missing": report.UNKNOWN}}
    if sub:
        body["aggs"] = sub
    return body


def rate_spec(field: str, label: str) -> dict[str, Any]:
    """Warnings per 1,000 instance-hours by `field`: `rates` holds every key (the report's rows),
    `shown` the highest rates as bars."""
    per = rates.PER_INSTANCE_HOURS
    exposure = _keys(field, RATE_KEYS, hours={"sum": {"field": "instance_hours"}})
    warned = {
        "filter": {"term": {"event_type": WARNING}},
        "aggs": {"keys": _keys(field, RATE_KEYS)},
    }
    tooltip = (
        "{'" + label + "': datum.key, 'warnings': datum.warnings, "
        "'instance-hours': format(datum.hours, ',.1f'), 'rate': format(datum.rate, '.2f')}"
    )
    return {
        "$schema": VEGA_SCHEMA,
        "autosize": {"type": "fit", "contains": "padding"},
        "data": [
            {
                "name": "exposure",
                "url": _context(EXPOSURE_INDEX, "sampled_at", {"keys": exposure}),
                "format": {"property": "aggregations.keys.buckets"},
                "transform": [
                    {"type": "formula", "as": "hours", "expr": "datum.hours.value"},
                    {"type": "formula", "as": "warnings", "expr": "0"},
                ],
            },
            {
                "name": "warned",
                "url": _context(EVENTS_INDEX, "event_time", {"warned": warned}),
                "format": {"property": "aggregations.warned.keys.buckets"},
                "transform": [
                    {"type": "formula", "as": "warnings", "expr": "datum.doc_count"},
                    {"type": "formula", "as": "hours", "expr": "0"},
                ],
            },
            {
                "name": "rates",
                "source": ["exposure", "warned"],
                "transform": [
                    {
                        "type": "aggregate",
                        "groupby": ["key"],
                        "fields": ["warnings", "hours"],
                        "ops": ["sum", "sum"],
                        "as": ["warnings", "hours"],
                    },
                    {
                        "type": "formula",
                        "as": "rate",
                        "expr": f"datum.hours > 0 ? {per} * datum.warnings / datum.hours : null",
                    },
                ],
            },
            {
                "name": "shown",
                "source": "rates",
                "transform": [
                    {"type": "filter", "expr": "datum.rate != null"},
                    {
                        "type": "window",
                        "sort": {
                            "field": ["rate", "warnings", "key"],
                            "order": ["descending", "descending", "ascending"],
                        },
                        "ops": ["row_number"],
                        "as": ["rank"],
                    },
                    {"type": "filter", "expr": f"datum.rank <= {RATES_SHOWN}"},
                ],
            },
        ],
        "scales": [
            {
                "name": "y",
                "type": "band",
                "domain": {"data": "shown", "field": "key", "sort": {"field": "rank", "op": "min"}},
                "range": "height",
                "padding": 0.15,
            },
            {
                "name": "x",
                "type": "linear",
                "domain": {"data": "shown", "field": "rate"},
                "range": "width",
                "nice": True,
                "zero": True,
            },
        ],
        "axes": [
            {"orient": "left", "scale": "y", "title": label},
            {
                "orient": "bottom",
                "scale": "x",
                "grid": True,
                "title": f"warnings per {per:,} instance-hours",
            },
        ],
        "marks": [
            {
                "type": "rect",
                "from": {"data": "shown"},
                "encode": {
                    "update": {
                        "y": {"scale": "y", "field": "key"},
                        "height": {"scale": "y", "band": 1},
                        "x": {"scale": "x", "value": 0},
                        "x2": {"scale": "x", "field": "rate"},
                        "fill": {"value": "#5b8db8"},
                        "tooltip": {"signal": tooltip},
                    }
                },
            },
            {
                "type": "text",
                "from": {"data": "shown"},
                "encode": {
                    "update": {
                        "y": {"scale": "y", "field": "key", "band": 0.5},
                        "x": {"scale": "x", "field": "rate", "offset": 4},
                        "baseline": {"value": "middle"},
                        "fontSize": {"value": 10},
                        "text": {
                            "signal": "format(datum.rate, '.2f') + ' (' + datum.warnings + "
                            "' in ' + format(datum.hours, ',.0f') + ' h)'"
                        },
                    }
                },
            },
        ],
    }


def _share(expr: str) -> str:
    return f"{expr} == null ? '-' : format({expr}, '.1%')"


def _duration(expr: str) -> str:
    return (
        f"{expr} == null ? '-' : {expr} >= 3600 ? format({expr} / 3600, '.1f') + ' h' : "
        f"{expr} >= 60 ? format({expr} / 60, '.0f') + ' min' : format({expr}, '.0f') + ' s'"
    )


def _formula(name: str, expr: str) -> dict[str, str]:
    return {"type": "formula", "as": name, "expr": expr}


def scorecard_spec(field: str, label: str) -> dict[str, Any]:
    """The rebalance scorecard by `field` at the default horizon, as a table of text marks:
    `scores` holds one row per group with the report's figures."""
    seconds = int(DEFAULT_HORIZON.total_seconds())
    selected = {
        "filter": {"terms": {"event_type": list(scorecard.EVENT_TYPES)}},
        "aggs": {"keys": _keys(field, SCORE_KEYS, **scorecard.score_aggs(seconds))},
    }
    leads = [
        {
            "type": "formula",
            "as": f"lead_{label_of(p)}",
            "expr": f"datum.warnings.lead.values['{float(p)}']",
        }
        for p in PERCENTS
    ]
    transform = [
        # Nested answers read before the names they live under are reused for the counts.
        _formula("rebalances_followed", "datum.rebalances.followed.doc_count"),
        _formula("warnings_preceded", "datum.warnings.preceded.doc_count"),
        *leads,
        {"type": "formula", "as": "no_signal", "expr": "datum.no_signal.instances.value"},
        {"type": "formula", "as": "rebalances", "expr": "datum.rebalances.doc_count"},
        {"type": "formula", "as": "warnings", "expr": "datum.warnings.doc_count"},
        {
            "type": "formula",
            "as": "precision",
            "expr": "datum.rebalances > 0 ? datum.rebalances_followed / datum.rebalances : null",
        },
        {
            "type": "formula",
            "as": "recall",
            "expr": "datum.warnings > 0 ? datum.warnings_preceded / datum.warnings : null",
        },
    ]
    horizon = "2 h" if seconds == 7200 else f"{seconds} s"
    columns = [
        (label, "datum.key"),
        ("rebalances", "datum.rebalances"),
        (f"precision ({horizon})", _share("datum.precision")),
        ("warnings", "datum.warnings"),
        (f"recall ({horizon})", _share("datum.recall")),
        *((f"lead {label_of(p)}", _duration(f"datum.lead_{label_of(p)}")) for p in PERCENTS),
        ("no signal", "datum.no_signal"),
    ]
    return {
        "$schema": VEGA_SCHEMA,
        "autosize": {"type": "fit", "contains": "padding"},
        "padding": {"top": 18, "left": 5, "right": 5, "bottom": 5},
        "data": [
            {
                "name": "scores",
                "url": _context(EVENTS_INDEX, "event_time", {"selected": selected}),
                "format": {"property": "aggregations.selected.keys.buckets"},
                "transform": transform,
            }
        ],
        "scales": [
            {
                "name": "row",
                "type": "band",
                "domain": {
                    "data": "scores",
                    "field": "key",
                    "sort": {"field": "doc_count", "op": "max", "order": "descending"},
                },
                "range": "height",
            }
        ],
        "marks": _text_table("scores", columns),
    }


def _text_table(data: str, columns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """A table of text marks: a bold header per column and one row per datum of `data` on the
    band scale `row`; the first column (the names) left-aligned, the figures right-aligned."""
    first = 0.28  # the group names' share of the width; the figures share the rest
    step = (1 - first) / (len(columns) - 1)
    marks = []
    for number, (title, expr) in enumerate(columns):
        x = {"signal": f"width * {first + step * number if number else 0:.4f}"}
        align = {"value": "right" if number else "left"}
        marks += [
            {
                "type": "text",
                "encode": {
                    "update": {
                        "x": x,
                        "y": {"value": -6},
                        "align": align,
                        "fontWeight": {"value": "bold"},
                        "fontSize": {"value": 11},
                        "text": {"value": title},
                    }
                },
            },
            {
                "type": "text",
                "from": {"data": data},
                "encode": {
                    "update": {
                        "x": x,
                        "y": {"scale": "row", "field": "key", "band": 0.5},
                        "align": align,
                        "baseline": {"value": "middle"},
                        "fontSize": {"value": 11},
                        "limit": {"signal": f"width * {first - 0.01:.2f}"} if not number else {},
                        "text": {"signal": f"'' + ({expr})"},
                    }
                },
            },
        ]
    for mark in marks:  # an empty encoding entry is not valid Vega
        mark["encode"]["update"] = {k: v for k, v in mark["encode"]["update"].items() if v}
    return marks


# The market panel: `report --market`'s pool rows. The market family has none of the controls'
# fields (account, capacity group, ...), and the report's rows with filters list only the
# filtered pools, which a panel cannot tell apart: so its searches take the time picker's
# bounds (%timefilter% min/max) but not the dashboard's filters, and it shows what
# `report --market` (no filters) shows for the time range. The joins and the division run in
# Vega; tests/dashboards/test_vega_panels.py holds the rows to `report --market --json`.
MARKET_INDEX = contract.market_index_pattern(contract.DEFAULT_INDEX_PREFIX)
MARKET_SHOWN = 25  # rows drawn, flagged first (the data set holds every pool)


def _bound(which: str, shift_days: int = 0) -> dict[str, Any]:
    """The time picker's start or end in epoch milliseconds, shifted by whole days."""
    bound: dict[str, Any] = {"%timefilter%": which}
    return bound | ({"shift": shift_days, "unit": "d"} if shift_days else {})


def _plain(index: str, aggs: dict[str, Any]) -> dict[str, Any]:
    """A search without the dashboard's filters: the body as it is, bounds injected in aggs."""
    return {"index": index, "body": {"size": 0, "aggs": aggs}}


def _picked(field: str) -> dict[str, Any]:
    """`field` over the time picker's range, bounds included (as %timefield% sends them)."""
    return {
        "range": {field: {"gte": _bound("min"), "lte": _bound("max"), "format": "epoch_millis"}}
    }


def _valid(expr: str) -> str:
    return f"isValid({expr}) ? {expr} : null"


def market_spec() -> dict[str, Any]:
    """Per pool: last Spot price, the advisor's bucket, the observed monthly interruption rate
    (100 x warnings x 720 / instance-hours, spot_cli.market) and the flag when it runs above the
    bucket's upper bound. `pools` holds the report's rows in its order, `shown` the first rows."""
    per_month = market.HOURS_PER_MONTH
    newest = "datum.newest.hits.hits[0]._source"
    advice = "datum.kind.newest.hits.hits[0]._source"
    prices = {
        "filter": {
            "bool": {
                "filter": [
                    {"term": {"record_type": contract.PRICE_RECORD}},
                    # spot_cli.market: the days starting in the 30 days before the window's end.
                    {
                        "range": {
                            "day": {
                                "gt": _bound("max", -market.PRICE_DAYS.days),
                                "lte": _bound("max"),
                                "format": "epoch_millis",
                            }
                        }
                    },
                ]
            }
        },
        "aggs": {
            "keys": {
                "terms": {"field": "pool", "size": RATE_KEYS},
                "aggs": {
                    "average": {"avg": {"field": "price_avg"}},
                    "newest": {
                        "top_hits": {
                            "size": 1,
                            "sort": [{"day": "desc"}],
                            "_source": ["day", "price_last", "currency", "region"],
                        }
                    },
                },
            }
        },
    }
    advisor = {
        "filter": {"term": {"record_type": contract.ADVISOR_RECORD}},
        "aggs": {
            "by_region": {
                "terms": {"field": "region", "size": RATE_KEYS},
                "aggs": {
                    "by_type": {
                        "terms": {"field": "instance_type", "size": RATE_KEYS},
                        "aggs": {
                            "newest": {
                                "top_hits": {
                                    "size": 1,
                                    "sort": [{"sampled_at": "desc"}],
                                    "_source": ["advisor_bucket", "advisor_upper_percent"],
                                }
                            }
                        },
                    }
                },
            }
        },
    }
    exposure = {
        "filter": _picked("sampled_at"),
        "aggs": {
            "keys": _keys(
                "pool",
                RATE_KEYS,
                hours={"sum": {"field": "instance_hours"}},
                region={"terms": {"field": "region", "size": 1}},
            )
        },
    }
    warned = {
        "filter": {"bool": {"filter": [_picked("event_time"), {"term": {"event_type": WARNING}}]}},
        "aggs": {"keys": _keys("pool", RATE_KEYS)},
    }
    columns = [
        ("pool", "datum.key"),
        (
            "last price",
            "isValid(datum.last_price) ? format(datum.last_price, '.5f') + ' ' + "
            "(datum.currency || '') : '-'",
        ),
        ("advisor bucket", "datum.advisor_bucket || '-'"),
        (
            "monthly % (observed)",
            "isValid(datum.monthly_percent) ? format(datum.monthly_percent, '.2f') : '-'",
        ),
        ("flag", "datum.flagged ? 'ABOVE' : ''"),
    ]
    counted = [_formula("priced", "0")]
    return {
        "$schema": VEGA_SCHEMA,
        "autosize": {"type": "fit", "contains": "padding"},
        "padding": {"top": 18, "left": 5, "right": 5, "bottom": 5},
        "data": [
            {
                "name": "exposure",
                "url": _plain(EXPOSURE_INDEX, {"window": exposure}),
                "format": {"property": "aggregations.window.keys.buckets"},
                "transform": [
                    _formula("hours", "datum.hours.value"),
                    _formula("warnings", "0"),
                    *counted,
                    _formula(
                        "observed_region",
                        "length(datum.region.buckets) ? datum.region.buckets[0].key : null",
                    ),
                ],
            },
            {
                "name": "warned",
                "url": _plain(EVENTS_INDEX, {"window": warned}),
                "format": {"property": "aggregations.window.keys.buckets"},
                "transform": [
                    _formula("warnings", "datum.doc_count"),
                    _formula("hours", "0"),
                    *counted,
                ],
            },
            {
                "name": "prices",
                "url": _plain(MARKET_INDEX, {"window": prices}),
                "format": {"property": "aggregations.window.keys.buckets"},
                "transform": [
                    _formula("last_price", _valid(f"{newest}.price_last")),
                    _formula("currency", _valid(f"{newest}.currency")),
                    _formula("last_price_day", _valid(f"{newest}.day")),
                    _formula("price_region", _valid(f"{newest}.region")),
                    # The report rounds the average to 6 decimals.
                    _formula(
                        "average_price",
                        "isValid(datum.average.value) ? "
                        "round(datum.average.value * 1e6) / 1e6 : null",
                    ),
                    _formula("warnings", "0"),
                    _formula("hours", "0"),
                    _formula("priced", "1"),
                ],
            },
            {
                "name": "advisor",
                "url": _plain(MARKET_INDEX, {"advice": advisor}),
                "format": {"property": "aggregations.advice.by_region.buckets"},
                "transform": [
                    {"type": "flatten", "fields": ["by_type.buckets"], "as": ["kind"]},
                    _formula("advice_key", "datum.key + '|' + datum.kind.key"),
                    _formula("advisor_bucket", f"{advice}.advisor_bucket"),
                    _formula("advisor_upper_percent", _valid(f"{advice}.advisor_upper_percent")),
                ],
            },
            {
                "name": "pools",
                "source": ["exposure", "warned", "prices"],
                "transform": [
                    {
                        "type": "aggregate",
                        "groupby": ["key"],
                        "fields": ["warnings", "hours", "priced"],
                        "ops": ["sum", "sum", "sum"],
                        "as": ["warnings", "hours", "priced"],
                    },
                    # The rates' pools (a pool key holds ':'; "unknown" does not) and every
                    # priced pool.
                    {"type": "filter", "expr": "indexof(datum.key, ':') >= 0 || datum.priced > 0"},
                    # The report's instance-hours per pool: rounded to 3 decimals.
                    _formula("hours", "round(datum.hours * 1000) / 1000"),
                    {
                        "type": "lookup",
                        "from": "prices",
                        "key": "key",
                        "fields": ["key"],
                        "values": [
                            "last_price",
                            "currency",
                            "last_price_day",
                            "average_price",
                            "price_region",
                        ],
                    },
                    {
                        "type": "lookup",
                        "from": "exposure",
                        "key": "key",
                        "fields": ["key"],
                        "values": ["observed_region"],
                    },
                    _formula(
                        "region",
                        "isValid(datum.observed_region) && datum.observed_region ? "
                        "datum.observed_region : " + _valid("datum.price_region"),
                    ),
                    _formula(
                        "advice_key",
                        "(datum.region || '') + '|' + split(datum.key, ':')[0]",
                    ),
                    {
                        "type": "lookup",
                        "from": "advisor",
                        "key": "advice_key",
                        "fields": ["advice_key"],
                        "values": ["advisor_bucket", "advisor_upper_percent"],
                    },
                    _formula(
                        "monthly_percent",
                        f"datum.hours > 0 ? round(100 * datum.warnings * {per_month} / "
                        "datum.hours * 1000) / 1000 : null",
                    ),
                    _formula(
                        "flagged",
                        "isValid(datum.monthly_percent) && isValid(datum.advisor_upper_percent)"
                        " && datum.monthly_percent > datum.advisor_upper_percent",
                    ),
                    # The report's order: flagged first, then by the observed rate, then name.
                    _formula("flag_order", "datum.flagged ? 1 : 0"),
                    _formula(
                        "rate_order", "isValid(datum.monthly_percent) ? datum.monthly_percent : 0"
                    ),
                    {
                        "type": "window",
                        "sort": {
                            "field": ["flag_order", "rate_order", "key"],
                            "order": ["descending", "descending", "ascending"],
                        },
                        "ops": ["row_number"],
                        "as": ["rank"],
                    },
                ],
            },
            {
                "name": "shown",
                "source": "pools",
                "transform": [{"type": "filter", "expr": f"datum.rank <= {MARKET_SHOWN}"}],
            },
        ],
        "scales": [
            {
                "name": "row",
                "type": "band",
                "domain": {"data": "shown", "field": "key", "sort": {"field": "rank", "op": "min"}},
                "range": "height",
            }
        ],
        "marks": _text_table("shown", columns),
    }


def vega_panel(vis_id: str, title: str, description: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A Vega visualization: no index pattern reference (the spec names its indices), an
    empty search source (Dashboards applies the dashboard's filters through %context%)."""
    params = {"spec": _dumps(spec)}
    source = {"query": {"query": "", "language": "kuery"}, "filter": []}
    return {
        "id": vis_id,
        "type": "visualization",
        "attributes": {
            "title": title,
            "description": description,
            "visState": _dumps({"title": title, "type": "vega", "params": params, "aggs": []}),
            "uiStateJSON": "{}",
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _dumps(source)},
        },
        "references": [],
        "migrationVersion": {"visualization": "7.10.0"},
    }


def vega_panels() -> list[dict[str, Any]]:
    horizon = "2 hours (the report's default --horizon)"
    return [
        vega_panel(
            "spot-insights-rate-by-pool",
            "Warnings per 1,000 instance-hours by pool",
            "Interruption warnings divided by the sampler's instance-hours, per pool (instance "
            "type x AZ ID), highest first: which pools to drop from a node pool or group.",
            rate_spec("pool", "pool"),
        ),
        vega_panel(
            "spot-insights-rate-by-capacity-group",
            "Warnings per 1,000 instance-hours by capacity group",
            "Interruption warnings divided by the sampler's instance-hours, per capacity group: "
            "a small group's count compared fairly with a large one's.",
            rate_spec("capacity_group", "capacity group"),
        ),
        vega_panel(
            "spot-insights-scorecard-by-pool",
            "Rebalance scorecard by pool",
            f"Precision, recall and lead time of rebalance recommendations within {horizon}, and "
            "instances evicted with no signal at all, per pool.",
            scorecard_spec("pool", "pool"),
        ),
        vega_panel(
            "spot-insights-scorecard-by-capacity-group",
            "Rebalance scorecard by capacity group",
            f"Precision, recall and lead time of rebalance recommendations within {horizon}, and "
            "instances evicted with no signal at all, per capacity group.",
            scorecard_spec("capacity_group", "capacity group"),
        ),
        vega_panel(
            "spot-insights-market-by-pool",
            "Pools above their advisor bucket",
            "Per pool: last Spot price, the Spot Instance Advisor's interruption bucket and the "
            "observed monthly interruption rate (warnings per 720 instance-hours, in percent); "
            "pools above their bucket first (ABOVE). As `report --market`: the time range "
            "applies, the controls do not (the market family has none of their fields).",
            market_spec(),
        ),
    ]


def visualizations() -> list[dict[str, Any]]:
    """In dashboard order; each row of the grid is a list of (object, width)."""
    not_full = phrase("enrichment", "full", negate=True)
    return [
        # Headline numbers
        panel(
            "spot-insights-warnings",
            "Interruption warnings",
            "EC2 Spot interruption warnings.",
            "metric",
            [count()],
            warnings_only(),
            metric_params(),
        ),
        panel(
            "spot-insights-rebalances",
            "Rebalance recommendations",
            "EC2 rebalance recommendations.",
            "metric",
            [count()],
            [phrase("event_type", REBALANCE)],
            metric_params(),
        ),
        panel(
            "spot-insights-instances",
            "Distinct instances interrupted",
            "Instances with at least one interruption warning.",
            "metric",
            [metric("cardinality", "instance_id")],
            warnings_only(),
            metric_params(),
        ),
        panel(
            "spot-insights-preceded",
            "Interruptions preceded by a rebalance recommendation",
            "Share of warnings whose instance had a rebalance recommendation first "
            "(rebalance_lead_seconds is set at ingest).",
            "table",
            [
                count(),
                query_filters(
                    "2",
                    "bucket",
                    [
                        ("preceded by a rebalance", "_exists_:rebalance_lead_seconds"),
                        ("no rebalance first", "NOT _exists_:rebalance_lead_seconds"),
                    ],
                ),
            ],
            warnings_only(),
            table_params(percentage=True),
        ),
        panel(
            "spot-insights-not-enriched",
            "Events not fully enriched",
            "Events (either type) whose instance metadata could not be looked up.",
            "metric",
            [count()],
            [not_full],
            metric_params(),
        ),
        # When
        panel(
            "spot-insights-over-time",
            "Interruptions over time by region",
            "Interruption warnings per time bucket, stacked by region.",
            "histogram",
            [count(), date_histogram("2"), terms("3", "region", 20, "group", other=False)],
            warnings_only(),
            bar_params("histogram"),
        ),
        # Where
        by_field(
            "spot-insights-by-region",
            "Interruptions by region",
            "region",
            "Interruption warnings per region.",
        ),
        by_field(
            "spot-insights-by-az",
            "Interruptions by availability zone",
            "availability_zone",
            "Per AZ name; names map to different AZs in each account.",
        ),
        by_field(
            "spot-insights-by-az-id",
            "Interruptions by AZ ID",
            "availability_zone_id",
            "Per AZ ID (use1-az1): the same physical zone in every account.",
        ),
        panel(
            "spot-insights-hottest-pools",
            "Hottest pools: interruptions by instance type and AZ ID",
            "Interruption warnings per pool (instance type x AZ ID).",
            "heatmap",
            [
                count(),
                terms("2", "instance_type", 25, "segment", other=False),
                terms("3", "availability_zone_id", 25, "group", other=False),
            ],
            warnings_only(),
            heatmap_params(),
        ),
        # What
        by_field(
            "spot-insights-by-instance-type",
            "Interruptions by instance type",
            "instance_type",
            "Instance types reclaimed most often.",
            size=25,
        ),
        by_field(
            "spot-insights-by-family",
            "Interruptions by instance family",
            "instance_family",
            "Instance families (m5, c6g, ...) reclaimed most often.",
        ),
        by_field(
            "spot-insights-by-action",
            "Interruptions by instance action",
            "instance_action",
            "What EC2 does to the instance: terminate, stop or hibernate.",
            size=5,
        ),
        # Whose
        by_field(
            "spot-insights-by-capacity-group",
            "Interruptions by capacity group",
            "capacity_group",
            "Karpenter node pool, EKS node group, Auto Scaling group or ECS cluster; "
            "standalone, or unknown when the instance could not be looked up.",
            size=25,
        ),
        by_field(
            "spot-insights-by-eks-cluster",
            "Interruptions by EKS cluster",
            "eks_cluster",
            "EKS cluster of the node ((unknown): not an EKS node).",
        ),
        by_field(
            "spot-insights-by-karpenter-nodepool",
            "Interruptions by Karpenter node pool",
            "karpenter_nodepool",
            "Karpenter node pool ((unknown): not a Karpenter node).",
        ),
        by_field(
            "spot-insights-by-ecs-cluster",
            "Interruptions by ECS cluster",
            "ecs_cluster",
            "ECS cluster ((unknown): not an ECS container instance).",
        ),
        by_field(
            "spot-insights-by-asg",
            "Interruptions by Auto Scaling group",
            "asg_name",
            "Auto Scaling group ((unknown): not in a group).",
        ),
        # How long they lived
        *duration_panels(
            "spot-insights-runtime",
            "runtime_seconds",
            "Runtime before interruption",
            "Time from launch to the warning, enriched warnings.",
            RUNTIME_RANGES,
        ),
        panel(
            "spot-insights-runtime-short",
            "Interruptions within 10 minutes of launch",
            "Share of enriched warnings that came less than 10 minutes after launch.",
            "table",
            [
                count(),
                ranges("2", "runtime_seconds", [{"from": 0, "to": 600}, {"from": 600}], "bucket"),
            ],
            warnings_only(exists("runtime_seconds")),
            table_params(percentage=True),
        ),
        # How much warning
        *duration_panels(
            "spot-insights-lead",
            "rebalance_lead_seconds",
            "Rebalance lead time before interruption",
            "Warning time minus the latest earlier rebalance recommendation of the instance.",
            LEAD_RANGES,
        ),
        panel(
            "spot-insights-rebalance-not-followed",
            "Rebalance recommendations never followed by a warning",
            "Recommendations whose instance got no interruption warning (so far).",
            "metric",
            [count()],
            [phrase("event_type", REBALANCE), phrase("followed_by_warning", False)],
            metric_params(),
        ),
        # Evictions: the ground truth (spot_cli/missed_warnings.py is the report's section)
        *eviction_panels(),
        # Data quality
        panel(
            "spot-insights-enrichment-missing",
            "Events not fully enriched by reason",
            "Why instance metadata is missing (either event type).",
            "horizontal_bar",
            [count(), terms("2", "enrichment_reason", 10, "segment")],
            [not_full],
            bar_params("horizontal_bar"),
        ),
    ]


# Grid: (id, x, y, w, h); the dashboard grid is 48 columns wide.
def layout(ids: list[str]) -> list[tuple[str, int, int, int, int]]:
    rows: list[list[tuple[str, int, int]]] = [
        [("spot-insights-controls", 48, 9)],
        [(i, 48 // 5 if n < 4 else 48 - 4 * (48 // 5), 8) for n, i in enumerate(ids[0:5])],
        [(ids[5], 48, 14)],
        [(ids[6], 16, 13), (ids[7], 16, 13), (ids[8], 16, 13)],
        [(ids[9], 48, 16)],
        [(ids[10], 16, 13), (ids[11], 16, 13), (ids[12], 16, 13)],
        [(ids[13], 24, 13), (ids[14], 24, 13)],
        [(ids[15], 16, 13), (ids[16], 16, 13), (ids[17], 16, 13)],
        [(ids[18], 16, 12), (ids[19], 16, 12), (ids[20], 16, 12)],
        [(ids[21], 16, 12), (ids[22], 16, 12), (ids[23], 16, 12)],
        [(ids[24], 16, 13), (ids[25], 16, 13), (ids[26], 16, 13)],
        [(ids[27], 48, 10)],
        [(ids[28], 24, 15), (ids[29], 24, 15)],
        [(ids[30], 48, 16)],
        [(ids[31], 48, 16)],
        [(ids[32], 48, 16)],
        [(SEARCH_ID, 48, 15)],
    ]
    placed = []
    y = 0
    for row in rows:
        x = 0
        for object_id, width, height in row:
            placed.append((object_id, x, y, width, height))
            x += width
        y += max(h for _, _, h in row)
    return placed


def recent_events() -> dict[str, Any]:
    columns = [
        "event_type", "account", "region", "availability_zone_id", "instance_id", "instance_type",
        "capacity_group", "instance_action", "runtime_seconds", "rebalance_lead_seconds",
        "enrichment",
    ]  # fmt: skip
    source = {"query": {"query": "", "language": "kuery"}, "filter": [], "indexRefName": INDEX_REF}
    return {
        "id": SEARCH_ID,
        "type": "search",
        "attributes": {
            "title": "Recent Spot events",
            "description": "Newest warnings and rebalance recommendations with what "
            "enrichment found.",
            "hits": 0,
            "columns": columns,
            "sort": [["event_time", "desc"]],
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _dumps(source)},
        },
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}],
        "migrationVersion": {"search": "7.9.3"},
    }


def dashboard(ids: list[str]) -> dict[str, Any]:
    panels = []
    references = []
    types = {SEARCH_ID: "search"}
    for number, (object_id, x, y, w, h) in enumerate(layout(ids)):
        name = f"panel_{number}"
        panels.append(
            {
                "version": "2.19.0",
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(number)},
                "panelIndex": str(number),
                "embeddableConfig": {},
                "panelRefName": name,
            }
        )
        references.append(
            {"name": name, "type": types.get(object_id, "visualization"), "id": object_id}
        )
    return {
        "id": DASHBOARD_ID,
        "type": "dashboard",
        "attributes": {
            "title": "Spot Interruption Insights",
            "description": "Where, when, what and whose Spot capacity is reclaimed, how long "
            "it lived and how much warning it gave. Panels titled 'interruptions' count "
            "interruption warnings only.",
            "hits": 0,
            "panelsJSON": _dumps(panels),
            "optionsJSON": _dumps({"hidePanelTitles": False, "useMargins": True}),
            "version": 1,
            "timeRestore": True,
            "timeFrom": "now-7d",
            "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 0},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _dumps(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
        },
        "references": references,
        "migrationVersion": {"dashboard": "7.9.3"},
    }


def index_pattern() -> dict[str, Any]:
    mapping = json.loads(MAPPING.read_text())["properties"]
    fields = [
        {
            "name": name,
            "type": kind,
            "esTypes": [] if name == "_score" else [name],
            "count": 0,
            "scripted": False,
            "searchable": searchable,
            "aggregatable": aggregatable,
            "readFromDocValues": False,
        }
        for name, kind, searchable, aggregatable in META_FIELDS
    ]
    for name, spec in sorted(mapping.items()):
        fields.append(
            {
                "name": name,
                "type": OSD_TYPES[spec["type"]],
                "esTypes": [spec["type"]],
                "count": 0,
                "scripted": False,
                "searchable": True,
                "aggregatable": True,
                "readFromDocValues": True,
            }
        )
    formats = {name: DURATION_FORMAT for name in DURATION_FIELDS if name in mapping}
    return {
        "id": INDEX_PATTERN_ID,
        "type": "index-pattern",
        "attributes": {
            "title": contract.index_pattern(contract.DEFAULT_INDEX_PREFIX),
            "timeFieldName": "event_time",
            "fields": _dumps(fields),
            "fieldFormatMap": _dumps(formats),
        },
        "references": [],
        "migrationVersion": {"index-pattern": "7.6.0"},
    }


def saved_objects() -> list[dict[str, Any]]:
    panels = [*visualizations(), *vega_panels()]
    ids = [p["id"] for p in panels]
    return [index_pattern(), controls(), *panels, recent_events(), dashboard(ids)]


def render() -> str:
    return "".join(_dumps(obj) + "\n" for obj in saved_objects())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if NDJSON.read_text() != text:
            print(f"{NDJSON} is stale: run scripts/build_dashboard.py", file=sys.stderr)
            return 1
        return 0
    NDJSON.write_text(text)
    print(f"wrote {NDJSON} ({len(text.splitlines())} objects)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
