"""The rebalance scorecard against ground truth from a seeded storm on the real node."""

import json
import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from spot_cli.events import REBALANCE, WARNING, parse_time
from spot_cli.local.fleet import create_fleet
from spot_cli.local.storm import StormSettings, generate_storm
from spot_cli.report import UNKNOWN, ReportRequest
from spot_cli.scorecard import (
    GROUPINGS,
    ScorecardRequest,
    build_scorecard,
    render_scorecard,
)
from tests.ingest.events import eviction, rebalance, spot_warning
from tests.ingest.instances import launch

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]
# Shorter than the storm's longest lead (30 minutes), so the horizon decides some pairs.
HORIZON = timedelta(minutes=10)


@pytest.fixture(scope="module")
def indexed(ingest_events_once):
    """A seeded storm over a fleet on the moto server, indexed by the real handler."""
    fleet = create_fleet(("us-east-1", "eu-west-1"), instances_per_region=80, seed=8)
    storm = generate_storm(fleet, StormSettings(events=300, seed=14, window=timedelta(hours=6)))
    prefix, docs = ingest_events_once(list(storm.events))
    return storm, docs, prefix


def expected_scores(storm, docs, field, horizon):
    """Per group: the storm's own pairs (one warning, at most one rebalance per instance),
    grouped by what ingest wrote for the instance."""
    group_of = {d["instance_id"]: d.get(field, UNKNOWN) for d in docs}
    times = defaultdict(dict)
    for event in storm.events:
        times[event["detail"]["instance-id"]][event["detail-type"]] = parse_time(event["time"])
    limit = horizon.total_seconds()
    counts = defaultdict(Counter)
    leads = defaultdict(list)
    for instance, seen in times.items():
        group = counts[group_of[instance]]
        lead = None
        if REBALANCE in seen and WARNING in seen:
            lead = (seen[WARNING] - seen[REBALANCE]).total_seconds()
            leads[group_of[instance]].append(lead)
        if REBALANCE in seen:
            group["rebalances"] += 1
            group["rebalances_followed"] += lead is not None and lead <= limit
        if WARNING in seen:
            group["warnings"] += 1
            group["warnings_preceded"] += lead is not None and lead <= limit
    return counts, leads


def median_ranks(values):
    """The one or two middle values: any median lies between them."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) / 2
    return ordered[math.floor(rank)], ordered[math.ceil(rank)]


def test_scorecard_equals_the_storms_ground_truth(opensearch, indexed):
    storm, docs, prefix = indexed
    request = ScorecardRequest(ReportRequest(index_prefix=prefix, top=500), HORIZON)
    scorecard = build_scorecard(opensearch, request)
    assert scorecard.horizon_seconds == 600
    all_leads = storm.rebalance_lead_seconds().values()
    # The horizon decides: some pairs are further apart than it, some closer.
    assert any(lead > 600 for lead in all_leads) and any(lead <= 600 for lead in all_leads)
    for name, field in GROUPINGS.items():
        counts, leads = expected_scores(storm, docs, field, HORIZON)
        got = {s.key: s for s in getattr(scorecard, name)}
        assert set(got) == {k for k, c in counts.items() if +c}
        for key, score in got.items():
            want = counts[key]
            assert score.rebalances == want["rebalances"], (name, key)
            assert score.rebalances_followed == want["rebalances_followed"], (name, key)
            assert score.warnings == want["warnings"], (name, key)
            assert score.warnings_preceded == want["warnings_preceded"], (name, key)
            assert score.no_signal == 0  # the storm has no evictions
            if leads[key]:
                low, high = median_ranks(leads[key])
                # HDR histogram (3 significant digits) gives a value of rank, not interpolated.
                assert low * 0.999 <= score.lead_seconds["p50"] <= high * 1.001, (name, key)
            else:
                assert score.lead_seconds["p50"] is None
        # Every group adds up to the whole selection.
        for attribute in ("rebalances", "rebalances_followed", "warnings", "warnings_preceded"):
            assert sum(getattr(s, attribute) for s in got.values()) == getattr(
                scorecard.total, attribute
            )
    total = scorecard.total
    assert total.rebalances == len(storm.of_type(REBALANCE))
    assert total.warnings == len(storm.of_type(WARNING))
    assert total.warnings_preceded == sum(lead <= 600 for lead in all_leads)
    assert 0 < total.precision < 1 and 0 < total.recall < 1
    text = render_scorecard(scorecard)
    assert "Rebalance scorecard by pool" in text and "(all)" in text
    json.dumps(scorecard.to_dict())  # --json holds only JSON values


def test_a_longer_horizon_counts_every_pair(opensearch, indexed):
    storm, _, prefix = indexed
    wide = build_scorecard(
        opensearch, ScorecardRequest(ReportRequest(index_prefix=prefix), timedelta(hours=2))
    )
    leads = storm.rebalance_lead_seconds()
    assert wide.total.warnings_preceded == len(leads) == wide.total.rebalances_followed
    assert wide.total.rebalances > wide.total.rebalances_followed  # rebalance-only instances


def test_filters_and_window_narrow_the_scorecard(opensearch, indexed):
    _, docs, prefix = indexed
    region = ReportRequest(index_prefix=prefix, filters={"region": ["eu-west-1"]})
    scorecard = build_scorecard(opensearch, ScorecardRequest(region, HORIZON))
    warnings = [d for d in docs if d["event_type"] == WARNING]
    assert scorecard.total.warnings == sum(d["region"] == "eu-west-1" for d in warnings) > 0
    since = min(parse_time(d["event_time"]) for d in warnings) + timedelta(hours=3)
    later = ReportRequest(index_prefix=prefix, since=since)
    recent = build_scorecard(opensearch, ScorecardRequest(later, HORIZON))
    assert recent.total.warnings == sum(parse_time(d["event_time"]) >= since for d in warnings)


def test_the_scorecard_is_one_msearch_of_aggregations(opensearch, indexed):
    _, _, prefix = indexed
    calls = []

    class Counting:
        def search(self, **kwargs):
            calls.append(("search", kwargs["body"]))
            return opensearch.search(**kwargs)

        def msearch(self, **kwargs):
            calls.append(("msearch", kwargs["body"]))
            return opensearch.msearch(**kwargs)

    build_scorecard(Counting(), ScorecardRequest(ReportRequest(index_prefix=prefix)))
    assert [kind for kind, _ in calls] == ["msearch"]
    bodies = [line for line in calls[0][1] if "aggs" in line]
    assert bodies and all(body["size"] == 0 for body in bodies)
    assert "composite" not in json.dumps(calls) and "script" not in json.dumps(calls)


def test_a_horizon_of_zero_is_refused():
    with pytest.raises(ValueError, match="horizon must be positive"):
        ScorecardRequest(ReportRequest(), timedelta(0))


def test_no_signal_counts_evicted_instances_nobody_warned(opensearch, ingest_events):
    """Evictions (issue 13) with neither a warning nor a rebalance ahead of them, per group."""
    web = launch(4, tags={"aws:autoscaling:groupName": "web-asg"})
    batch = launch(1, tags={"aws:autoscaling:groupName": "batch-asg"}, instance_type="c5.large")
    now = datetime.now(UTC).replace(microsecond=0)

    def at(minutes):
        return (now + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    events = [
        spot_warning(web[0], time=at(-5)),
        eviction([web[0]], time=at(-3)),  # warned
        rebalance(web[1], time=at(-20)),
        eviction([web[1]], time=at(-3)),  # a rebalance came first
        eviction([web[2]], time=at(-3)),  # nothing came first
        eviction([web[3]], time=at(-2)),  # nothing came first
        eviction([batch[0]], time=at(-1)),  # nothing came first
    ]
    prefix, docs = ingest_events(events)
    scorecard = build_scorecard(opensearch, ScorecardRequest(ReportRequest(index_prefix=prefix)))
    group_of = {d["instance_id"]: d["capacity_group"] for d in docs}
    pool_of = {d["instance_id"]: d["pool"] for d in docs}
    by_group = {s.key: s.no_signal for s in scorecard.capacity_groups}
    assert by_group == {group_of[web[0]]: 2, group_of[batch[0]]: 1}
    assert {s.key: s.no_signal for s in scorecard.pools} == {
        pool_of[web[0]]: 2,
        pool_of[batch[0]]: 1,
    }
    assert scorecard.total.no_signal == 3
    assert scorecard.total.warnings == 1 and scorecard.total.rebalances == 1
