"""The rate, scorecard and market panels (Vega: a division across the events and exposure
families, and for the market a join with the market family) run as Dashboards runs them: the
searches its Vega panel sends with the dashboard's time range and controls, then the real Vega
runtime's transforms. Their numbers must equal `report --rates`, `report --scorecard` and
`report --market --json` for the same window, filters and data (the seeded storm of
tests/dashboards/conftest.py, whose demo ran the exposure sampler and one market run)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from lambda_src.provisioning.saved_objects import load_saved_objects
from lambda_src.provisioning.settings import ProvisioningSettings
from spot_cli.dashboard_panels import Dashboard, TimeRange, UnsupportedPanel
from spot_cli.main import main
from spot_cli.market import market_queries
from spot_cli.rates import RatesRequest, build_rates
from spot_cli.report import ReportRequest
from spot_cli.scorecard import ScorecardRequest, build_scorecard
from spot_cli.vega_panels import VegaPanel, load_vega_panels, run_vega_panel, searches
from tests.dashboards import oracle

RATE_PANELS = {
    "spot-insights-rate-by-pool": "pool",
    "spot-insights-rate-by-capacity-group": "capacity_group",
}
SCORE_PANELS = {
    "spot-insights-scorecard-by-pool": "pools",
    "spot-insights-scorecard-by-capacity-group": "capacity_groups",
}
MARKET_PANEL = "spot-insights-market-by-pool"
# `report --market --json`'s pool fields the panel holds, compared exactly; then within rounding.
MARKET_EXACT = ("region", "currency", "last_price", "last_price_day", "warnings",
                "advisor_bucket", "advisor_upper_percent", "flagged")  # fmt: skip
MARKET_CLOSE = {"average_price": 1e-6, "instance_hours": 1e-3, "monthly_interruption_percent": 1e-3}
COUNTS = ("rebalances", "rebalances_followed", "warnings", "warnings_preceded", "no_signal")
CONTROLS = pytest.mark.parametrize("with_controls", [False, True], ids=["all", "controls"])


@pytest.fixture(scope="module")
def vega() -> dict[str, VegaPanel]:
    return {p.id: p for p in load_vega_panels()}


def _until(window: TimeRange) -> Any:
    return window.end + timedelta(milliseconds=1)  # the reports' end is exclusive


def _close(shown: float | None, expected: float | None, tolerance: float) -> bool:
    if shown is None or expected is None:
        return shown is expected
    return abs(shown - expected) <= tolerance


@pytest.mark.opensearch
@CONTROLS
def test_rate_panels_equal_report_rates(  # noqa: PLR0917
    board: Dashboard,
    vega: dict[str, VegaPanel],
    seeded_storm: Any,
    opensearch: Any,
    window: TimeRange,
    documents: list[dict[str, Any]],
    with_controls: bool,
) -> None:
    selections = oracle.control_choice(documents) if with_controls else {}
    request = RatesRequest(window.start, _until(window), selections, seeded_storm.prefix)
    rates = build_rates(opensearch, request)
    assert rates.instance_hours > 0, "the seeded demo ran no sampler"
    for panel_id, dimension in RATE_PANELS.items():
        data = run_vega_panel(
            opensearch,
            vega[panel_id],
            board.pattern,
            window,
            selections=selections,
            index_prefix=seeded_storm.prefix,
        )
        shown = {row["key"]: row for row in data["rates"]}
        expected = {row.key: row for row in rates.by[dimension]}
        assert shown.keys() == expected.keys(), panel_id
        for key, row in expected.items():
            got = shown[key]
            assert got["warnings"] == row.warnings, (panel_id, key)
            assert _close(got["hours"], row.instance_hours, 1e-3), (panel_id, key)
            # The report rounds to 3 decimals; the panel keeps every digit and shows two.
            assert _close(got["rate"], row.rate, 5e-4 + 1e-9), (panel_id, key, got, row)
        assert sum(r["warnings"] for r in shown.values()) == rates.warnings, panel_id
        assert any(r["rate"] for r in shown.values()), f"{panel_id}: no rate above zero"
        # The bars: the highest rates, highest first.
        bars = sorted(data["shown"], key=lambda r: r["rank"])
        ranked = sorted((r["rate"] for r in shown.values() if r["rate"] is not None), reverse=True)
        assert [r["rate"] for r in bars] == ranked[: len(bars)]
        assert len(bars) == min(len(ranked), 20)


@pytest.mark.opensearch
@CONTROLS
def test_scorecard_panels_equal_report_scorecard(  # noqa: PLR0917
    board: Dashboard,
    vega: dict[str, VegaPanel],
    seeded_storm: Any,
    opensearch: Any,
    window: TimeRange,
    documents: list[dict[str, Any]],
    with_controls: bool,
) -> None:
    selections = oracle.control_choice(documents) if with_controls else {}
    for panel_id, grouping in SCORE_PANELS.items():
        panel = vega[panel_id]
        [search] = searches(panel, board.pattern, window)
        size = search.body["aggs"]["selected"]["aggs"]["keys"]["terms"]["size"]
        report = ReportRequest(window.start, _until(window), selections, size, seeded_storm.prefix)
        card = build_scorecard(opensearch, ScorecardRequest(report))
        data = run_vega_panel(
            opensearch,
            panel,
            board.pattern,
            window,
            selections=selections,
            index_prefix=seeded_storm.prefix,
        )
        shown = {row["key"]: row for row in data["scores"]}
        expected = {score.key: score for score in getattr(card, grouping)}
        assert shown and shown.keys() == expected.keys(), panel_id
        for key, score in expected.items():
            got = shown[key]
            assert {n: got[n] for n in COUNTS} == {n: getattr(score, n) for n in COUNTS}, key
            assert _close(got["precision"], score.precision, 1e-12), (panel_id, key)
            assert _close(got["recall"], score.recall, 1e-12), (panel_id, key)
            for name, value in score.lead_seconds.items():
                assert got[f"lead_{name}"] == value, (panel_id, key, name)
        # The seeded storm exercises every column: signals that worked, and evictions without.
        assert any(s.precision for s in expected.values()), panel_id
        assert any(s.recall for s in expected.values()), panel_id
        assert sum(r["no_signal"] for r in shown.values()) > 0, panel_id


@pytest.mark.opensearch
def test_market_panel_equals_report_market_json(  # noqa: PLR0917
    board: Dashboard,
    vega: dict[str, VegaPanel],
    seeded_storm: Any,
    opensearch_node: Any,
    opensearch: Any,
    window: TimeRange,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every pool row of `report --market --json` for the dashboard's window, in its order:
    price, advisor bucket, observed monthly rate and flag, computed by the panel's searches and
    Vega's joins and division."""
    node = opensearch_node
    settings = {"URL": node.url, "USER": node.user, "PASSWORD": node.password}
    for name, value in (settings | {"CA_CERTS": node.ca_certs}).items():
        if value:
            monkeypatch.setenv(f"OPENSEARCH_{name}", value)
    since, until = window.start.isoformat(), _until(window).isoformat()
    argv = ["report", "--market", "--json", "--since", since, "--until", until]
    assert main([*argv, "--index-prefix", seeded_storm.prefix]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = report["pools"]
    # The seeded demo's market run priced pools, read the advisor and flagged some pools.
    assert any(p["last_price"] is not None for p in expected)
    assert any(p["advisor_bucket"] for p in expected) and report["flagged"]
    panel = vega[MARKET_PANEL]
    data = run_vega_panel(
        opensearch, panel, board.pattern, window, index_prefix=seeded_storm.prefix
    )
    shown = sorted(data["pools"], key=lambda row: row["rank"])
    assert [row["key"] for row in shown] == [p["pool"] for p in expected]
    for got, row in zip(shown, expected, strict=True):
        assert {n: got[n] for n in MARKET_EXACT} == {n: row[n] for n in MARKET_EXACT}, row
        close = {"instance_hours": got["hours"], "average_price": got["average_price"],
                 "monthly_interruption_percent": got["monthly_percent"]}  # fmt: skip
        for name, tolerance in MARKET_CLOSE.items():
            assert _close(close[name], row[name], tolerance), (row["pool"], name, close, row)
    assert [row["key"] for row in shown if row["flagged"]] == report["flagged"]
    # The controls do not move the market panel (the market family has none of their
    # fields): the searches with a control's choice are the searches without.
    chosen = searches(panel, board.pattern, window, selections={"region": ["eu-west-1"]})
    assert chosen == searches(panel, board.pattern, window)


def test_vega_panels_are_on_the_dashboard_and_read_both_families(
    vega: dict[str, VegaPanel], board: Dashboard
) -> None:
    assert list(vega) == [*RATE_PANELS, *SCORE_PANELS, MARKET_PANEL]
    window = TimeRange.parse(board.time_from, board.time_to)
    rate = searches(vega["spot-insights-rate-by-pool"], board.pattern, window)
    assert [(s.name, s.index) for s in rate] == [
        ("exposure", "spot-interruptions.exposure-*"),
        ("warned", "spot-interruptions-*"),
    ]
    # Each family filtered on its own time field, inclusive bounds as Dashboards sends them.
    for search, field in zip(rate, ("sampled_at", "event_time"), strict=True):
        [time_range] = search.body["query"]["bool"]["must"]
        assert set(time_range["range"][field]) == {"gte", "lte", "format"}
    moved = searches(vega["spot-insights-rate-by-pool"], board.pattern, window, index_prefix="x")
    assert [s.index for s in moved] == ["x.exposure-*", "x-*"]
    # The market panel: the time picker's bounds in epoch ms, prices over the 30 days to its end.
    market = searches(vega[MARKET_PANEL], board.pattern, window, index_prefix="x")
    assert [(s.name, s.index) for s in market] == [
        ("exposure", "x.exposure-*"),
        ("warned", "x-*"),
        ("prices", "x.market-*"),
        ("advisor", "x.market-*"),
    ]
    end = int(window.end.timestamp() * 1000)
    [_, days] = market[2].body["aggs"]["window"]["filter"]["bool"]["filter"]
    assert days["range"]["day"] == {
        "gt": end - 30 * 86_400_000,
        "lte": end,
        "format": "epoch_millis",
    }
    assert all("query" not in s.body for s in market), "the market panel takes no filters"


def test_the_market_panel_prices_the_days_the_report_prices(
    vega: dict[str, VegaPanel], board: Dashboard
) -> None:
    """Both take the days starting in the 30 days before the window's end: the report from
    `until - 30 d` (inclusive) to `until` (exclusive, the panel's end + 1 ms), the panel after
    its end - 30 d up to its end, both in milliseconds, so the same days at any end."""
    window = TimeRange.parse(board.time_from, board.time_to)
    [_, _, prices, _] = searches(vega[MARKET_PANEL], board.pattern, window)
    [_, panel] = prices.body["aggs"]["window"]["filter"]["bool"]["filter"]
    until = _until(window)
    [_, index] = market_queries("p", window.start, until)["prices"]
    [_, report] = index["query"]["bool"]["filter"]
    first, end = (datetime.fromisoformat(report["range"]["day"][op]) for op in ("gte", "lt"))
    assert int(first.timestamp() * 1000) - 1 == panel["range"]["day"]["gt"]
    assert int(end.timestamp() * 1000) - 1 == panel["range"]["day"]["lte"]
    assert panel["range"]["day"]["lte"] - panel["range"]["day"]["gt"] == 30 * 86_400_000


def test_a_spec_with_its_own_query_is_refused(vega: dict[str, VegaPanel], board: Dashboard) -> None:
    panel = vega["spot-insights-rate-by-pool"]
    spec = json.loads(json.dumps(panel.spec))
    spec["data"][0]["url"]["body"]["query"] = {"match_all": {}}
    window = TimeRange.parse(board.time_from, board.time_to)
    with pytest.raises(UnsupportedPanel, match="without its own query"):
        searches(replace(panel, spec=spec), board.pattern, window)


def test_provisioning_moves_the_vega_panels_to_the_deployments_prefix() -> None:
    settings = ProvisioningSettings(
        endpoint="https://search.example", master_secret_arn="arn:secret", index_prefix="acme"
    )
    indices = set()
    for line in load_saved_objects(settings).decode().splitlines():
        obj = json.loads(line)
        state = json.loads(obj["attributes"].get("visState", "{}"))
        if state.get("type") == "vega":
            data = json.loads(state["params"]["spec"])["data"]
            indices |= {d["url"]["index"] for d in data if "url" in d}
    assert indices == {"acme-*", "acme.exposure-*", "acme.market-*"}
