"""The demo's rates and rebalance scorecard, checked against the storm's and fleet's ground truth.

What each figure must be follows from the fleet, the accounts' roles and the storm alone:

* instance-hours: every instance of an account the sampler reaches (the hub and the accounts
  with the spoke role) runs for the whole replay, so a key has its instances x ticks x interval;
* warnings: the storm's warnings in the window, keyed by what ingest can know: the fleet's pool
  and capacity group for an instance it can look up, `(unknown)` pool and `unknown` group for
  one it cannot (no role in its account, or gone);
* scorecard: each instance's first rebalance and first warning (the storm sends at most one of
  each), a rebalance followed and a warning preceded when the warning came within the horizon
  after the rebalance; no signal: evicted instances that got neither.

Every figure the demo prints is compared; `problems` lists each that differs."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from lambda_src.ingest.documents import UNKNOWN_CAPACITY_GROUP
from lambda_src.sampler.config import DEFAULT_INTERVAL_SECONDS
from spot_cli.events import REBALANCE, WARNING, parse_time
from spot_cli.rates import PER_INSTANCE_HOURS, Rates
from spot_cli.report import UNKNOWN, ReportRequest
from spot_cli.scorecard import Score, Scorecard, ScorecardRequest, build_scorecard
from spot_cli.scorecard_command import DEFAULT_HORIZON

# The dimensions checked key by key: the ones the dashboard's rate and scorecard panels show.
DIMENSIONS = ("pool", "capacity_group")
GROUPINGS = {"pools": "pool", "capacity_groups": "capacity_group"}
COUNTS = ("rebalances", "rebalances_followed", "warnings", "warnings_preceded", "no_signal")
# Scorecard groups fetched for the check (every one; the demo prints the busiest ten).
ALL_GROUPS = 10000
PRINTED_ROWS = 10


@dataclass
class Insights:
    rates: Rates
    scorecard: Scorecard  # every group
    problems: list[str] = field(default_factory=list)
    compared: int = 0  # figures checked against ground truth

    def printed_scorecard(self) -> Scorecard:
        """The busiest groups (terms order), as the terminal shows them; the total is all."""
        return replace(
            self.scorecard,
            pools=self.scorecard.pools[:PRINTED_ROWS],
            capacity_groups=self.scorecard.capacity_groups[:PRINTED_ROWS],
        )

    def line(self) -> str:
        verdict = "all equal" if not self.problems else f"{len(self.problems)} differ"
        return f"Rates and scorecard against ground truth: {self.compared} figures, {verdict}."


def _keys(result: Any, instance_id: str, account: str) -> dict[str, str]:
    """The pool and capacity group ingest writes for a document of the instance."""
    instance = result.fleet.by_id.get(instance_id)
    organisation = result.organisation
    blind = organisation is not None and account in organisation.without_role
    if instance is None or blind or instance_id in result.storm.ghost_instance_ids:
        return {"pool": UNKNOWN, "capacity_group": UNKNOWN_CAPACITY_GROUP}
    return {
        "pool": f"{instance.instance_type}:{instance.availability_zone_id}",
        "capacity_group": instance.capacity_group,
    }


def _sampled(result: Any) -> set[str]:
    fleet = result.fleet
    if result.organisation is None:
        return set(fleet.accounts)
    return {result.organisation.hub_account, *result.organisation.with_role}


def expected_rates(result: Any, since: datetime, until: datetime) -> dict[str, dict[str, Any]]:
    """dimension -> key -> [warnings, instance-hours]."""
    interval = DEFAULT_INTERVAL_SECONDS
    ticks = round((until - since).total_seconds() / interval)
    truth: dict[str, dict[str, list[float]]] = {
        name: defaultdict(lambda: [0, 0.0]) for name in DIMENSIONS
    }
    sampled = _sampled(result)
    for instance in result.fleet.instances:
        if (instance.account or result.fleet.account) not in sampled:
            continue
        keys = {
            "pool": f"{instance.instance_type}:{instance.availability_zone_id}",
            "capacity_group": instance.capacity_group,
        }
        for name in DIMENSIONS:
            truth[name][keys[name]][1] += ticks * interval / 3600
    for event in result.storm.of_type(WARNING):
        if since <= parse_time(event["time"]) < until:
            keys = _keys(result, event["detail"]["instance-id"], event["account"])
            for name in DIMENSIONS:
                truth[name][keys[name]][0] += 1
    return truth


def check_rates(rates: Rates, result: Any) -> tuple[list[str], int]:
    since, until = datetime.fromisoformat(rates.since), datetime.fromisoformat(rates.until)
    truth = expected_rates(result, since, until)
    problems: list[str] = []
    compared = 0
    for name in DIMENSIONS:
        shown = {row.key: row for row in rates.by[name]}
        if shown.keys() != truth[name].keys():
            problems.append(
                f"rates by {name}: keys {sorted(shown.keys() ^ truth[name].keys())[:5]} differ"
            )
            continue
        for key, (warnings, hours) in truth[name].items():
            row = shown[key]
            rate = round(warnings * PER_INSTANCE_HOURS / hours, 3) if hours else None
            # The report rounds hours and rates to 3 decimals.
            same_rate = rate == row.rate or (
                rate is not None
                and row.rate is not None
                and math.isclose(rate, row.rate, abs_tol=1e-3)
            )
            same_hours = math.isclose(row.instance_hours, hours, abs_tol=1e-3)
            if row.warnings != warnings or not same_hours or not same_rate:
                problems.append(
                    f"rates by {name} {key}: {row.warnings} warnings / {row.instance_hours} h "
                    f"= {row.rate}; ground truth {warnings} / {round(hours, 3)} h = {rate}"
                )
            compared += 3
    return problems, compared


def instance_truth(result: Any, horizon: timedelta) -> dict[str, dict[str, Any]]:
    first: dict[str, dict[str, datetime]] = defaultdict(dict)
    keys: dict[str, dict[str, str]] = {}
    for event in result.storm.events:
        instance = event["detail"]["instance-id"]
        when = parse_time(event["time"])
        kind = event["detail-type"]
        if kind not in first[instance] or when < first[instance][kind]:
            first[instance][kind] = when
        keys[instance] = _keys(result, instance, event["account"])
    truth = {}
    for instance, seen in first.items():
        rebalance, warning = seen.get(REBALANCE), seen.get(WARNING)
        lead = (warning - rebalance).total_seconds() if rebalance and warning else None
        linked = lead is not None and 0 <= lead <= horizon.total_seconds()
        truth[instance] = {
            "keys": keys[instance],
            "rebalances": int(rebalance is not None),
            "rebalances_followed": int(linked),
            "warnings": int(warning is not None),
            "warnings_preceded": int(linked),
            "lead": lead if lead is not None and lead >= 0 else None,
            "no_signal": 0,
        }
    # Evicted instances: a document each (enriched like the instance's events), counted as no
    # signal when neither a warning nor a rebalance came first.
    for entry in result.storm.eviction_truth().values():
        instance = entry["instance_id"]
        if instance not in truth:
            owner = result.fleet.by_id.get(instance)
            account = (owner.account if owner else "") or result.fleet.account
            truth[instance] = {
                "keys": _keys(result, instance, account),
                **dict.fromkeys(COUNTS, 0),
                "lead": None,
                "no_signal": 0,
            }
        silent = not entry["warned"] and not entry["rebalance_recommended"]
        truth[instance]["no_signal"] = int(silent)
    return truth


def expected_scores(
    truth: dict[str, dict[str, Any]],
) -> tuple[dict[str, dict[str, Counter]], Counter]:
    """The scorecard's counts per grouping and key, and in total, from `instance_truth`."""
    groups: dict[str, dict[str, Counter]] = {}
    for grouping, name in GROUPINGS.items():
        want: dict[str, Counter] = defaultdict(Counter)
        for entry in truth.values():
            want[entry["keys"][name]].update({n: entry[n] for n in COUNTS})
        groups[grouping] = dict(want)
    total: Counter = Counter()
    for entry in truth.values():
        total.update({n: entry[n] for n in COUNTS})
    return groups, total


def check_scorecard(scorecard: Scorecard, result: Any) -> tuple[list[str], int]:
    horizon = timedelta(seconds=scorecard.horizon_seconds)
    truth = instance_truth(result, horizon)
    problems: list[str] = []
    compared = 0

    def compare(where: str, score: Score, want: Counter) -> None:
        nonlocal compared
        got = {n: getattr(score, n) for n in COUNTS}
        expected = {n: want[n] for n in COUNTS}
        if got != expected:
            problems.append(f"scorecard {where}: {got}; ground truth {expected}")
        compared += len(COUNTS)

    groups, total = expected_scores(truth)
    for grouping, name in GROUPINGS.items():
        want = groups[grouping]
        scores = {s.key: s for s in getattr(scorecard, grouping)}
        if scores.keys() != want.keys():
            differ = sorted(scores.keys() ^ want.keys())[:5]
            problems.append(f"scorecard by {name}: groups {differ} differ from ground truth")
            continue
        for key, score in scores.items():
            compare(f"{name} {key}", score, want[key])
    compare("total", scorecard.total, total)
    leads = sorted(e["lead"] for e in truth.values() if e["lead"] is not None)
    median = scorecard.total.lead_seconds.get("p50")
    if leads:
        # HDR (3 significant digits) answers a value at the rank: between the middle values.
        low, high = leads[(len(leads) - 1) // 2], leads[len(leads) // 2]
        if median is None or not low * 0.999 <= median <= high * 1.001:
            problems.append(f"scorecard lead p50 {median}; ground truth between {low} and {high}")
        compared += 1
    return problems, compared


def demo_insights(client: Any, rates: Rates, result: Any, prefix: str) -> Insights:
    """The scorecard over the rates' window (every group), both checked against ground truth
    when the index holds this run alone (no `--keep` leftovers)."""
    since, until = datetime.fromisoformat(rates.since), datetime.fromisoformat(rates.until)
    request = ReportRequest(since=since, until=until, top=ALL_GROUPS, index_prefix=prefix)
    scorecard = build_scorecard(client, ScorecardRequest(request, DEFAULT_HORIZON))
    insights = Insights(rates, scorecard)
    if result.indexed != result.documents:
        return insights
    for problems, compared in (check_rates(rates, result), check_scorecard(scorecard, result)):
        insights.problems += problems
        insights.compared += compared
    return insights
