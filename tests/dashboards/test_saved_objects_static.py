"""Static checks of dashboards/spot-insights-visualizations.ndjson: what Dashboards' import
would reject or show wrongly, without a Dashboards server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lambda_src.provisioning.index_setup import load_mapping
from spot_cli.dashboard_panels import (
    SAVED_OBJECTS,
    Agg,
    UnsupportedPanel,
    auto_interval,
    load_dashboard,
    read_objects,
    search_body,
)
from spot_cli.dashboard_panels import TimeRange as Window

ROOT = Path(__file__).resolve().parents[2]
WARNING = "EC2 Spot Instance Interruption Warning"
# The newest migration each type has in OpenSearch Dashboards 2.19; a newer one fails the import.
OSD_2_19 = {
    "visualization": "7.10.0",
    "index-pattern": "7.6.0",
    "dashboard": "7.9.3",
    "search": "7.9.3",
}
JSON_ATTRIBUTES = (
    "visState",
    "uiStateJSON",
    "panelsJSON",
    "optionsJSON",
    "fields",
    "fieldFormatMap",
)
# What the issue asks the dashboard to answer, each by at least one panel (title pattern).
REQUIRED_PANELS = {
    "controls": r"^Controls$",
    "warnings": r"^Interruption warnings$",
    "rebalances": r"^Rebalance recommendations$",
    "distinct instances": r"^Distinct instances interrupted$",
    "share preceded by rebalance": r"preceded by a rebalance",
    "not enriched": r"^Events not fully enriched$",
    "over time by region": r"over time by region",
    "by region": r"by region$",
    "by AZ": r"by availability zone$",
    "by AZ ID": r"by AZ ID$",
    "hottest pools": r"^Hottest pools",
    "by instance type": r"by instance type$",
    "by instance family": r"by instance family$",
    "by instance action": r"by instance action$",
    "by capacity group": r"by capacity group$",
    "by EKS cluster": r"by EKS cluster$",
    "by Karpenter node pool": r"by Karpenter node pool$",
    "by ECS cluster": r"by ECS cluster$",
    "by Auto Scaling group": r"by Auto Scaling group$",
    "runtime percentiles": r"^Runtime before interruption \(percentiles\)$",
    "runtime histogram": r"^Runtime before interruption$",
    "within 10 minutes of launch": r"within 10 minutes of launch",
    "rebalance lead time": r"^Rebalance lead time before interruption$",
    "rebalances never followed": r"never followed by a warning",
    "enrichment missing by reason": r"not fully enriched by reason",
    "recent events": r"^Recent Spot events$",
}
WARNING_META = {"type": "phrase", "key": "event_type", "negate": False, "disabled": False}
RUNTIME_BOUNDS = [0, 600, 3600, 21600, 86400, 604800]


@pytest.fixture(scope="module")
def objects() -> dict[str, dict]:
    return read_objects()


def _parsed(obj: dict, name: str) -> object:
    attributes = obj["attributes"]
    if name == "searchSourceJSON":
        return json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
    return json.loads(attributes[name])


def test_file_is_what_the_generator_writes() -> None:
    check = [sys.executable, str(ROOT / "scripts" / "build_dashboard.py"), "--check"]
    assert subprocess.run(check, check=False).returncode == 0


def test_every_json_string_attribute_parses_and_ids_are_unique(objects: dict[str, dict]) -> None:
    lines = [line for line in SAVED_OBJECTS.read_text().splitlines() if line.strip()]
    assert len(lines) == len(objects)
    for obj in objects.values():
        for name in JSON_ATTRIBUTES:
            if name in obj["attributes"]:
                _parsed(obj, name)
        if "kibanaSavedObjectMeta" in obj["attributes"]:
            _parsed(obj, "searchSourceJSON")


def test_migration_versions_are_ones_dashboards_2_19_knows(objects: dict[str, dict]) -> None:
    for obj in objects.values():
        assert obj["migrationVersion"] == {obj["type"]: OSD_2_19[obj["type"]]}, obj["id"]


def test_every_reference_resolves_and_every_ref_name_is_declared(objects: dict[str, dict]) -> None:
    for obj in objects.values():
        names = {ref["name"] for ref in obj["references"]}
        for ref in obj["references"]:
            assert ref["id"] in objects, f"{obj['id']}: {ref}"
            assert objects[ref["id"]]["type"] == ref["type"], f"{obj['id']}: {ref}"
        text = json.dumps(obj["attributes"])
        used = set(
            re.findall(r'(?:indexRefName|panelRefName|indexPatternRefName)\\": \\"([^\\]+)', text)
        )
        used |= set(
            re.findall(r'"(?:indexRefName|panelRefName|indexPatternRefName)": "([^"]+)"', text)
        )
        assert used <= names, f"{obj['id']}: undeclared {used - names}"


def test_one_dashboard_holds_every_panel_the_issue_lists(objects: dict[str, dict]) -> None:
    [board] = [o for o in objects.values() if o["type"] == "dashboard"]
    attributes = board["attributes"]
    assert attributes["title"] == "Spot Interruption Insights"
    assert (attributes["timeRestore"], attributes["timeFrom"], attributes["timeTo"]) == (
        True,
        "now-7d",
        "now",
    )
    panels = _parsed(board, "panelsJSON")
    refs = {ref["name"]: ref["id"] for ref in board["references"]}
    shown = [objects[refs[p["panelRefName"]]] for p in panels]
    # Every visualization and search in the file is on the dashboard, once.
    listed = {o["id"] for o in objects.values() if o["type"] in {"visualization", "search"}}
    assert sorted(o["id"] for o in shown) == sorted(listed)
    titles = [o["attributes"]["title"] for o in shown]
    for need, pattern in REQUIRED_PANELS.items():
        assert any(re.search(pattern, t) for t in titles), f"no panel for {need}"
    # The grid is 48 wide and panels do not overlap.
    cells: set[tuple[int, int]] = set()
    for p in panels:
        grid = p["gridData"]
        assert grid["x"] + grid["w"] <= 48
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area, p
        cells |= area


def test_controls_cover_account_region_capacity_group_family_and_event_type(
    objects: dict[str, dict],
) -> None:
    [control] = [
        o
        for o in objects.values()
        if o["type"] == "visualization" and _parsed(o, "visState")["type"] == "input_control_vis"
    ]
    items = _parsed(control, "visState")["params"]["controls"]
    assert [c["fieldName"] for c in items] == [
        "account", "region", "capacity_group", "instance_family", "event_type",
    ]  # fmt: skip
    assert all(c["type"] == "list" and c["options"]["multiselect"] for c in items)


def test_panels_titled_interruptions_count_warnings_only(objects: dict[str, dict]) -> None:
    titled = [
        o
        for o in objects.values()
        if o["type"] == "visualization" and "interrupt" in o["attributes"]["title"].lower()
    ]
    assert len(titled) >= 15
    for vis in titled:
        filters = _parsed(vis, "searchSourceJSON")["filter"]
        warning_only = [
            f for f in filters
            if f["meta"] == f["meta"] | WARNING_META
            and f["query"] == {"match_phrase": {"event_type": WARNING}}
        ]  # fmt: skip
        assert warning_only, vis["attributes"]["title"]


def test_durations_are_formatted_and_the_field_list_matches_the_mapping(
    objects: dict[str, dict],
) -> None:
    [pattern] = [o for o in objects.values() if o["type"] == "index-pattern"]
    mapping = load_mapping()["properties"]
    fields = {f["name"]: f for f in _parsed(pattern, "fields")}
    assert {n for n in fields if not n.startswith("_")} == set(mapping)
    for name, spec in mapping.items():
        assert fields[name]["esTypes"] == [spec["type"]]
        assert fields[name]["aggregatable"] and fields[name]["searchable"]
    formats = _parsed(pattern, "fieldFormatMap")
    durations = {n for n in mapping if n.endswith("_seconds")}
    assert durations >= {"runtime_seconds", "rebalance_lead_seconds", "warning_after_seconds"}
    for name in durations:
        assert formats[name] == {
            "id": "duration",
            "params": {"inputFormat": "seconds", "outputFormat": "humanize"},
        }


def test_runtime_histogram_uses_the_buckets_a_person_reads(objects: dict[str, dict]) -> None:
    state = _parsed(objects["spot-insights-runtime-histogram"], "visState")
    [ranges] = [a for a in state["aggs"] if a["type"] == "range"]
    bounds = ranges["params"]["ranges"]
    assert [r["from"] for r in bounds] == RUNTIME_BOUNDS
    assert [r.get("to") for r in bounds] == [*RUNTIME_BOUNDS[1:], None]


def test_every_panel_translates_and_an_unknown_aggregation_field_or_filter_fails() -> None:
    board = load_dashboard()
    window = Window.parse(board.time_from, board.time_to)
    for panel in board.panels:
        search_body(panel, board.pattern, window)
    by_region = next(p for p in board.panels if p.id == "spot-insights-by-region")
    count, terms = by_region.aggs
    top_hits = Agg("9", "top_hits", "metric", {"field": "region"})
    with pytest.raises(UnsupportedPanel, match="aggregation type 'top_hits'"):
        search_body(replace(by_region, aggs=(top_hits,)), board.pattern, window)
    typo = replace(terms, params={**terms.params, "field": "regoin"})
    with pytest.raises(UnsupportedPanel, match="field 'regoin' is not in the index pattern"):
        search_body(replace(by_region, aggs=(count, typo)), board.pattern, window)
    with pytest.raises(UnsupportedPanel, match="field 'regoin' is not in the index pattern"):
        search_body(by_region, board.pattern, window, {"regoin": ["x"]})
    spatial = {"meta": {"type": "geo_bounding_box", "key": "region"}, "query": {}}
    with pytest.raises(UnsupportedPanel, match="filter type 'geo_bounding_box'"):
        search_body(replace(by_region, filters=(spatial,)), board.pattern, window)
    scripted = replace(terms, params={**terms.params, "orderBy": "custom"})
    with pytest.raises(UnsupportedPanel, match="ordered by 'custom'"):
        search_body(replace(by_region, aggs=(count, scripted)), board.pattern, window)


@pytest.mark.parametrize(
    ("span", "interval"),
    [(timedelta(minutes=15), "30s"), (timedelta(hours=24), "30m"), (timedelta(days=7), "3h"),
     (timedelta(days=90), "1d"), (timedelta(days=365), "1w")],
)  # fmt: skip
def test_auto_interval_is_the_one_dashboards_labels_its_bars_with(
    span: timedelta, interval: str
) -> None:
    end = datetime(2026, 1, 1, tzinfo=UTC)
    assert auto_interval(Window(end - span, end))[0] == interval


def test_the_page_modules_import_where_the_console_script_runs(tmp_path: Path) -> None:
    """The installed `spot-insights` has only spot_cli on its path, not the checkout's
    lambda_src: the panel and page modules must import, and find the ndjson, from elsewhere."""
    code = (
        "import sys, spot_cli.html_report as h, spot_cli.dashboard_panels as d; "
        "assert 'lambda_src' not in sys.modules; assert d.SAVED_OBJECTS.is_file()"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
