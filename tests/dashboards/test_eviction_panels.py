"""The eviction panels and the report's "evictions without a warning" section, on the seeded
storm (the demo's pipeline, evictions included): the panels equal the report for the same
window, and both equal the storm's ground truth, document by document."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from lambda_src.contract import EVICTION_EVENT_TYPE
from spot_cli.dashboard_panels import Dashboard, PanelResult, TimeRange, run_panel
from spot_cli.missed_warnings import tables
from spot_cli.report import ReportRequest, build_report
from spot_cli.terminal import plain_text

pytestmark = [pytest.mark.opensearch]

PANELS = {
    "by_pool": ("spot-insights-unwarned-by-pool", "pool"),
    "by_capacity_group": ("spot-insights-unwarned-by-capacity-group", "capacity_group"),
}


@pytest.fixture(scope="module")
def evictions(seeded_storm: Any, opensearch: Any, window: TimeRange) -> list[dict[str, Any]]:
    """The eviction documents of the window (the storm's newest evictions come two minutes
    after warnings sent "now", so a few fall after the dashboard's window)."""
    span = {"gte": window.start.isoformat(), "lte": window.end.isoformat()}
    body = {
        "size": 10000,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"event_type": EVICTION_EVENT_TYPE}},
                    {"range": {"event_time": span}},
                ]
            }
        },
    }
    return [
        h["_source"] for h in opensearch.search(index=seeded_storm.index, body=body)["hits"]["hits"]
    ]


@pytest.fixture(scope="module")
def report(seeded_storm: Any, opensearch: Any, window: TimeRange) -> dict[str, Any]:
    request = ReportRequest(
        since=window.start,
        until=window.end + timedelta(milliseconds=1),
        top=100,
        index_prefix=seeded_storm.prefix,
    )
    return build_report(opensearch, request).to_dict()["missed_warnings"]


def _run(
    board: Dashboard, seeded_storm: Any, opensearch: Any, window: TimeRange, panel_id: str
) -> PanelResult:
    panel = next(p for p in board.panels if p.id == panel_id)
    return run_panel(opensearch, panel, board.pattern, window, index=seeded_storm.index)


def test_the_report_counts_what_the_documents_and_the_storm_say(
    seeded_storm: Any, evictions: list[dict[str, Any]], report: dict[str, Any]
) -> None:
    unwarned = [d for d in evictions if not d["warned"]]
    # The demo checked every eviction document against the storm's ground truth by id.
    assert seeded_storm.run["evictions"]["links_disagreeing"] == 0
    assert len(evictions) <= seeded_storm.run["evictions"]["instances"]
    assert report["evictions"] == len(evictions)
    assert report["without_warning"] == len(unwarned)
    assert 0 < report["share"] < 1
    assert report["share"] == round(len(unwarned) / len(evictions), 4)
    for name, field in (("by_pool", "pool"), ("by_capacity_group", "capacity_group")):
        all_counts = Counter(d.get(field, "(unknown)") for d in evictions)
        missed = Counter(d.get(field, "(unknown)") for d in unwarned)
        got = {b["key"]: (b["evictions"], b["without_warning"]) for b in report[name]}
        assert got == {k: (all_counts[k], missed[k]) for k in all_counts}, name
        # The worst first: most evictions without a warning.
        order = [b["without_warning"] for b in report[name]]
        assert order == sorted(order, reverse=True), name


def test_panels_equal_the_report_section(
    board: Dashboard,
    seeded_storm: Any,
    opensearch: Any,
    window: TimeRange,
    report: dict[str, Any],
) -> None:
    shares = _run(board, seeded_storm, opensearch, window, "spot-insights-evictions-warned")
    counts = dict(zip(shares.column(shares.columns[0]), shares.column("Count"), strict=True))
    assert counts == {
        "warned first": report["evictions"] - report["without_warning"],
        "without a warning": report["without_warning"],
    }
    [share] = [
        p
        for label, p in zip(
            shares.column(shares.columns[0]), shares.column("Count percentages"), strict=True
        )
        if label == "without a warning"
    ]
    assert share == pytest.approx(report["share"], abs=1e-4)
    for name, (panel_id, _field) in PANELS.items():
        result = _run(board, seeded_storm, opensearch, window, panel_id)
        shown = dict(zip(result.column(result.columns[0]), result.column("Count"), strict=True))
        expected = {b["key"]: b["without_warning"] for b in report[name] if b["without_warning"]}
        other = shown.pop("Other", 0)
        assert {k: v for k, v in shown.items() if v} == {k: expected[k] for k in shown if shown[k]}
        assert sum(shown.values()) + other == report["without_warning"], name


def test_the_section_renders_as_tables_and_on_the_page(
    board: Dashboard, seeded_storm: Any, report: dict[str, Any]
) -> None:
    from spot_cli.missed_warnings import MissedBucket, MissedWarnings  # noqa: PLC0415

    missed = MissedWarnings(
        **{
            **report,
            "by_pool": [MissedBucket(**b) for b in report["by_pool"]],
            "by_capacity_group": [MissedBucket(**b) for b in report["by_capacity_group"]],
        }
    )
    text = plain_text(tables(missed))
    assert "Evictions without a warning by pool" in text
    assert f"{report['share'] * 100:.1f}%" in text
    # The demo's offline page (render_page over the saved panels) draws the three panels.
    page = seeded_storm.page.read_text()
    for panel_id in ("spot-insights-evictions-warned", *(p for p, _ in PANELS.values())):
        assert f'data-panel="{panel_id}"' in page
