"""Every saved panel, translated the way Dashboards translates it, answered by the real node
after a seeded storm, and checked three ways: not empty, its buckets add up to the documents the
panel's filters select, and equal to both a Python computation over the raw documents and the
matching `spot-insights report` section for the same window."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from lambda_src.contract import WARNING_DETAIL_TYPE as WARNING
from spot_cli.dashboard_panels import (
    Dashboard,
    Panel,
    PanelResult,
    TimeRange,
    auto_interval,
    control_filter,
    run_panel,
    run_search,
)
from spot_cli.report import ReportRequest, build_report
from tests.dashboards import oracle

pytestmark = [pytest.mark.opensearch]

# Panel id -> the report section showing the same thing (a count, or buckets by label).
REPORT_COUNTS = {
    "spot-insights-warnings": "warnings",
    "spot-insights-rebalances": "rebalances",
    "spot-insights-not-enriched": "not_enriched",
    "spot-insights-rebalance-not-followed": "rebalances_not_followed",
}
REPORT_BUCKETS = {
    "spot-insights-by-action": "by_action",
    "spot-insights-by-az": "top_azs",
    "spot-insights-by-instance-type": "instance_types",
    "spot-insights-by-capacity-group": "capacity_groups",
}
# Panel id -> the report's distribution of the same stored field. Two estimators: the panel's
# t-digest (what Dashboards asks for) interpolates between values, the report's HDR histogram
# (3 significant digits, cheaper at scale) answers a value at the rank; on a few hundred
# warnings the gap between neighbouring values at p99 is several percent, so each answer is
# checked against the exact values around its rank instead of against the other.
REPORT_PERCENTILES = {
    "spot-insights-runtime-percentiles": "runtime_seconds",
    "spot-insights-lead-percentiles": "rebalance_lead_seconds",
}
OTHER = "Other"
# Bucket aggregations whose buckets partition the panel's documents (each in exactly one).
PARTITIONS = {"terms", "date_histogram", "filters", "range"}


@pytest.fixture(scope="module")
def documents(seeded_storm: Any, opensearch: Any, window: TimeRange) -> list[dict[str, Any]]:
    body = {
        "size": 10000,
        "query": {
            "range": {
                "event_time": {"gte": window.start.isoformat(), "lte": window.end.isoformat()}
            }
        },
    }
    hits = opensearch.search(index=seeded_storm.index, body=body)["hits"]
    assert hits["total"]["value"] == len(hits["hits"]) == seeded_storm.run["indexed"]
    return [h["_source"] for h in hits["hits"]]


def _selections(documents: list[dict[str, Any]]) -> dict[str, list[str]]:
    """A control choice that narrows every panel without emptying one: the busiest region (a
    phrase filter) and every capacity group but the least busy real one (a phrases filter;
    "unknown" stays, or the not-enriched panels would be empty)."""
    region = Counter(d["region"] for d in documents).most_common(1)[0][0]
    groups = [g for g, _ in Counter(d["capacity_group"] for d in documents).most_common()]
    dropped = next(g for g in reversed(groups) if g != "unknown")
    return {"region": [region], "capacity_group": [g for g in groups if g != dropped]}


def _count_by_labels(result: PanelResult) -> dict[tuple[str, ...], int]:
    width = len(result.panel.buckets)
    index = result.columns.index("Count")
    return {tuple(row[:width]): row[index] for row in result.rows}


def _check_against_oracle(
    board: Dashboard,
    panel: Panel,
    result: PanelResult,
    docs: list[dict[str, Any]],
    window: TimeRange,
) -> None:
    durations = {n for n in board.pattern.fields if board.pattern.is_duration(n)}
    width = auto_interval(window)[1]
    expected = oracle.counts(panel, docs, width, durations)
    if "Count" in result.columns:
        shown = _count_by_labels(result)
        if panel.buckets and any(k[0] == OTHER for k in shown):
            named = {k for k in shown if k[0] != OTHER}
            rest = sum(v for k, v in expected.items() if k not in named)
            assert shown.pop((OTHER,)) == rest, panel.id
            expected = Counter({k: v for k, v in expected.items() if k in named})
        if panel.type != "metric" or panel.buckets:
            shown = {k: v for k, v in shown.items() if v or k not in expected}
            expected_nonzero = {k: v for k, v in expected.items() if v}
            assert {k: v for k, v in shown.items() if v} == expected_nonzero, panel.id
        else:
            assert shown == {(): len(docs)}, panel.id
    for agg in panel.metrics:
        name = agg.params.get("field")
        values = [d[name] for d in docs if name in d]
        if agg.type == "cardinality":
            [[value]] = result.rows
            assert value == len(set(values)), panel.id
        elif agg.type == "percentiles":
            for percent in agg.params["percents"]:
                [value] = result.column(f"{percent}th percentile of {name}")
                low = oracle.percentile(values, max(percent - 2, 0))
                high = oracle.percentile(values, min(percent + 2, 100))
                assert low - 1 <= value <= high + 1, (panel.id, percent, value, low, high)


def _check_buckets_add_up(panel: Panel, result: PanelResult) -> None:
    if not panel.buckets or "Count" not in result.columns:
        return
    assert all(a.type in PARTITIONS for a in panel.buckets)
    assert sum(result.column("Count")) == result.total, panel.id
    if panel.params.get("percentageCol"):
        assert sum(result.column("Count percentages")) == pytest.approx(1.0)


@pytest.mark.parametrize("with_controls", [False, True], ids=["all", "controls"])
def test_every_panel_is_non_empty_adds_up_and_matches_the_raw_documents(  # noqa: PLR0917
    board: Dashboard,
    seeded_storm: Any,
    opensearch: Any,
    window: TimeRange,
    documents: list[dict[str, Any]],
    with_controls: bool,
) -> None:
    selections = _selections(documents) if with_controls else {}
    extra = [control_filter(k, v) for k, v in selections.items()]
    for panel in board.panels:
        result = run_panel(
            opensearch,
            panel,
            board.pattern,
            window,
            selections=selections,
            index=seeded_storm.index,
        )
        docs = oracle.selected(documents, [*panel.filters, *extra])
        assert docs and result.rows, f"{panel.title} is empty"
        assert result.total == len(docs), panel.id
        _check_buckets_add_up(panel, result)
        _check_against_oracle(board, panel, result, docs, window)


def _report_buckets(buckets: list[dict[str, Any]]) -> dict[tuple[str, ...], int]:
    return {(b["key"],): b["count"] for b in buckets}


def _around_rank(values: list[float], percent: float) -> tuple[float, float]:
    """The exact values two ranks either side of `percent` (HDR's 0.1 % added)."""
    rank = percent / 100 * len(values)
    low = values[max(0, int(rank) - 2)]
    high = values[min(len(values) - 1, int(rank) + 2)]
    return low * 0.999, high * 1.001


def test_each_panel_equals_its_report_section_for_the_same_window(
    board: Dashboard,
    seeded_storm: Any,
    opensearch: Any,
    window: TimeRange,
    documents: list[dict[str, Any]],
) -> None:
    request = ReportRequest(
        since=window.start,
        until=window.end + timedelta(milliseconds=1),  # the report's end is exclusive
        top=100,
        index_prefix=seeded_storm.prefix,
    )
    report = build_report(opensearch, request).to_dict()
    panels = {p.id: p for p in board.panels}
    compared = 0

    def run(panel_id: str) -> PanelResult:
        return run_panel(
            opensearch, panels[panel_id], board.pattern, window, index=seeded_storm.index
        )

    for panel_id, section in REPORT_COUNTS.items():
        assert run(panel_id).column("Count") == [report[section]], panel_id
        compared += 1
    for panel_id, section in REPORT_BUCKETS.items():
        shown = _count_by_labels(run(panel_id))
        assert (OTHER,) not in shown, f"{panel_id}: size too small for the seeded storm"
        assert shown == _report_buckets(report[section]), panel_id
        compared += 1
    for panel_id, section in REPORT_PERCENTILES.items():
        result = run(panel_id)
        assert result.total == report[section]["count"], panel_id
        field = panels[panel_id].metrics[0].params["field"]
        values = sorted(d[field] for d in documents if d["event_type"] == WARNING and field in d)
        assert len(values) == report[section]["count"], panel_id
        for key, value in report[section]["percentiles"].items():
            [shown] = result.column(f"{key.removeprefix('p')}th percentile of {field}")
            low, high = _around_rank(values, float(key.removeprefix("p")))
            assert low <= shown <= high, (panel_id, key, "panel", shown, low, high)
            assert low <= value <= high, (panel_id, key, "report", value, low, high)
        compared += 1
    # Share preceded by a rebalance: the report's warned instances with and without a lead.
    preceded = _count_by_labels(run("spot-insights-preceded"))
    assert preceded == {
        ("preceded by a rebalance",): report["rebalance_lead_seconds"]["count"],
        ("no rebalance first",): report["warnings_without_rebalance"],
    }
    compared += 1
    # Over time: the report's bars are wider; each is the sum of the panel's bars inside it.
    over_time = run("spot-insights-over-time")
    step = {"m": 60, "h": 3600, "d": 86400}
    width = int(report["interval"][:-1]) * step[report["interval"][-1]]
    regrouped: Counter = Counter()
    for stamp, _region, count in over_time.rows:
        start = oracle._epoch(stamp)
        regrouped[start - start % width] += count
    from_report = {oracle._epoch(b["key"]): b["count"] for b in report["over_time"] if b["count"]}
    assert dict(regrouped) == from_report
    compared += 1
    assert compared == len(REPORT_COUNTS) + len(REPORT_BUCKETS) + len(REPORT_PERCENTILES) + 2


def test_recent_events_search_lists_the_newest_documents_first(
    board: Dashboard,
    seeded_storm: Any,
    opensearch: Any,
    window: TimeRange,
    documents: list[dict[str, Any]],
) -> None:
    assert board.search is not None
    rows = run_search(
        opensearch, board.search, board.pattern, window, size=25, index=seeded_storm.index
    )
    times = sorted((d["event_time"] for d in documents), reverse=True)[:25]
    assert [r["event_time"] for r in rows] == times
    assert all(set(r) <= {"event_time", *board.search.columns} for r in rows)
