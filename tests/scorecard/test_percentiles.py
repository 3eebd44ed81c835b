"""One home for percentiles: the report, the rates and the scorecard ask for them alike and read
them alike (spot_cli/percentiles.py), and no module borrows another's private helper."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from spot_cli.percentiles import PERCENTS, percentile_values, percentiles_agg
from spot_cli.rates import RatesRequest, rate_queries
from spot_cli.report import ReportRequest, section_queries
from spot_cli.scorecard import ScorecardRequest, scorecard_queries

ROOT = Path(__file__).resolve().parents[2]


def _percentile_aggs(body: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(body, dict):
        if "percentiles" in body:
            found.append(body)
        for value in body.values():
            found += _percentile_aggs(value)
    elif isinstance(body, (list, tuple)):
        for value in body:
            found += _percentile_aggs(value)
    return found


def test_report_rates_and_scorecard_ask_for_percentiles_the_same_way() -> None:
    bodies = {
        "report": section_queries(ReportRequest(), "1h"),
        "rates": rate_queries(RatesRequest(), None, None),
        "scorecard": scorecard_queries(ScorecardRequest(ReportRequest())),
    }
    for name, body in bodies.items():
        aggs = _percentile_aggs(body)
        assert aggs, name
        for agg in aggs:
            assert agg == percentiles_agg(agg["percentiles"]["field"]), (name, json.dumps(agg))


def test_percentile_values_are_keyed_p50_p90_p99_in_order() -> None:
    answer = {"values": {"99.0": 30.0, "50.0": 10.0, "90.0": None}}
    assert list(percentile_values(answer).items()) == [("p50", 10.0), ("p90", None), ("p99", 30.0)]
    assert [f"p{p:g}" for p in PERCENTS] == list(percentile_values(answer))


def test_no_module_imports_another_modules_private_names() -> None:
    borrowed = []
    for path in sorted((ROOT / "spot_cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("spot_cli"):
                borrowed += [
                    f"{path.relative_to(ROOT)}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                ]
    assert not borrowed
