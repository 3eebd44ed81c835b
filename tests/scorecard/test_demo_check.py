"""The demo's check of rates and scorecard against ground truth (spot_cli/local/insights_check.py)
notices a figure that differs: it passes figures built from the storm's and fleet's own truth
and names the one that was changed. (That the real pipeline's figures pass it is what the
dashboard tests' seeded demo asserts, tests/dashboards/conftest.py.)"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from spot_cli.local.fleet import create_fleet
from spot_cli.local.insights_check import (
    COUNTS,
    DIMENSIONS,
    check_rates,
    check_scorecard,
    expected_rates,
    expected_scores,
    instance_truth,
)
from spot_cli.local.pipeline import window_of
from spot_cli.local.storm import StormSettings, generate_storm
from spot_cli.rates import RateRow, Rates, per_thousand_hours
from spot_cli.scorecard import TOTAL, Score, Scorecard

pytestmark = [pytest.mark.aws]


@pytest.fixture
def result(aws):
    fleet = create_fleet(("us-east-1",), instances_per_region=150, seed=5)
    storm = generate_storm(fleet, StormSettings(events=120, seed=9))
    return SimpleNamespace(fleet=fleet, storm=storm, organisation=None)


def _rates(result) -> Rates:
    since, until = window_of(result.storm, result.fleet)
    until = since + timedelta(minutes=10) * int((until - since) / timedelta(minutes=10))
    truth = expected_rates(result, since, until)
    by = {
        name: [
            RateRow(key, int(w), round(h, 3), per_thousand_hours(int(w), h))
            for key, (w, h) in truth[name].items()
        ]
        for name in DIMENSIONS
    }
    return Rates(since.isoformat(), until.isoformat(), 0, 0.0, None, by, 0, {}, [])


def _score(key: str, counts: Counter, leads: dict[str, float] | None = None) -> Score:
    return Score(key, *(counts[n] for n in COUNTS[:4]), leads or {}, counts["no_signal"])


def _scorecard(result) -> Scorecard:
    truth = instance_truth(result, timedelta(hours=2))
    groups, total = expected_scores(truth)
    leads = sorted(e["lead"] for e in truth.values() if e["lead"] is not None)
    return Scorecard(
        7200,
        _score(TOTAL, total, {"p50": leads[len(leads) // 2]}),
        **{g: [_score(k, c) for k, c in keys.items()] for g, keys in groups.items()},
    )


def test_rates_equal_to_ground_truth_pass_and_a_changed_one_is_named(result) -> None:
    rates = _rates(result)
    problems, compared = check_rates(rates, result)
    assert not problems and compared == 3 * sum(len(rates.by[d]) for d in DIMENSIONS)
    [first, *rest] = rates.by["pool"]
    wrong = replace(
        rates, by={**rates.by, "pool": [replace(first, warnings=first.warnings + 1), *rest]}
    )
    [problem] = check_rates(wrong, result)[0]
    assert f"rates by pool {first.key}" in problem


def test_a_scorecard_equal_to_ground_truth_passes_and_a_changed_count_is_named(result) -> None:
    scorecard = _scorecard(result)
    assert not check_scorecard(scorecard, result)[0]
    assert scorecard.total.no_signal > 0 and scorecard.total.warnings_preceded > 0
    [first, *rest] = scorecard.capacity_groups
    wrong = replace(
        scorecard, capacity_groups=[replace(first, no_signal=first.no_signal + 1), *rest]
    )
    [problem] = check_scorecard(wrong, result)[0]
    assert f"capacity_group {first.key}" in problem
