"""The report's aggregations against the real OpenSearch, checked against direct counts."""

import json
import math
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from spot_cli.events import REBALANCE, WARNING, parse_time
from spot_cli.local.fleet import create_fleet
from spot_cli.local.storm import StormSettings, generate_storm
from spot_cli.report import (
    UNKNOWN,
    ReportRequest,
    build_report,
    choose_interval,
    render,
)

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]


@pytest.fixture(scope="module")
def indexed(ingest_events_once):
    fleet = create_fleet(("us-east-1", "us-west-2", "eu-west-1"), instances_per_region=80, seed=21)
    storm = generate_storm(fleet, StormSettings(events=300, seed=4, window=timedelta(hours=6)))
    prefix, docs = ingest_events_once(list(storm.events))
    return fleet, storm, docs, prefix


def test_report_numbers_equal_direct_counts(opensearch, indexed):
    fleet, storm, docs, prefix = indexed
    end = fleet.created_at + timedelta(minutes=1)
    request = ReportRequest(
        since=end - timedelta(hours=12), until=end, index_prefix=prefix, top=500
    )
    report = build_report(opensearch, request)
    warnings = [d for d in docs if d["event_type"] == WARNING]
    assert report.warnings == len(warnings) == len(storm.of_type(WARNING))
    assert report.rebalances == len(storm.of_type(REBALANCE))
    assert report.instances == len({d["instance_id"] for d in docs})
    assert report.not_enriched == sum(d["enrichment"] != "full" for d in docs) > 0
    assert sum(b.count for b in report.over_time) == len(warnings)
    for got, field in (
        (report.top_azs, "availability_zone"),
        (report.instance_types, "instance_type"),
        (report.capacity_groups, "capacity_group"),
        (report.by_action, "instance_action"),
    ):
        assert {b.key: b.count for b in got} == Counter(d.get(field, UNKNOWN) for d in warnings)
    pools = Counter(d.get("pool", UNKNOWN) for d in warnings)
    assert {b.key: b.count for b in report.hottest_pools} == dict(pools)
    assert [b.count for b in report.hottest_pools] == sorted(pools.values(), reverse=True)
    runtimes = [d["runtime_seconds"] for d in warnings if "runtime_seconds" in d]
    assert report.runtime_seconds.count == len(runtimes)
    assert report.runtime_seconds.min == min(runtimes)
    assert report.runtime_seconds.max == max(runtimes)
    p50 = report.runtime_seconds.percentiles["p50"]
    assert min(runtimes) <= p50 <= max(runtimes)
    # Percentiles are approximate (HDR histogram): within 10% of the range of the exact median.
    assert abs(p50 - percentile(runtimes, 50)) <= 0.1 * (max(runtimes) - min(runtimes))
    # Ground truth from the storm (one warning and at most one rebalance per instance).
    leads = storm.rebalance_lead_seconds()
    assert report.rebalance_lead_seconds.count == len(leads)
    assert report.rebalance_lead_seconds.min == min(leads.values())
    assert report.rebalance_lead_seconds.max == max(leads.values())
    assert report.rebalance_lead_seconds.avg == pytest.approx(sum(leads.values()) / len(leads))
    lead_p50 = report.rebalance_lead_seconds.percentiles["p50"]
    spread = max(leads.values()) - min(leads.values())
    assert abs(lead_p50 - percentile(list(leads.values()), 50)) <= 0.1 * spread
    warned = {e["detail"]["instance-id"] for e in storm.of_type(WARNING)}
    assert report.warnings_without_rebalance == len(warned - set(leads))
    rebalanced = {e["detail"]["instance-id"] for e in storm.of_type(REBALANCE)}
    assert report.rebalances_not_followed == len(rebalanced - warned) > 0
    text = render(report)
    assert re.search(rf"interruption warnings\s+{report.warnings}\n", text)
    assert "Hottest pools" in text


def test_filters_and_time_range_narrow_the_counts(opensearch, indexed):
    fleet, _, docs, prefix = indexed
    warnings = [d for d in docs if d["event_type"] == WARNING]
    region_only = ReportRequest(filters={"region": ["us-west-2"]}, index_prefix=prefix)
    report = build_report(opensearch, region_only)
    assert report.warnings == sum(d["region"] == "us-west-2" for d in warnings)
    since = fleet.created_at - timedelta(hours=2)
    recent = build_report(opensearch, ReportRequest(since=since, index_prefix=prefix))
    assert recent.warnings == sum(parse_time(d["event_time"]) >= since for d in warnings)
    group = warnings[0]["capacity_group"]
    by_group = build_report(
        opensearch, ReportRequest(filters={"capacity_group": [group]}, index_prefix=prefix)
    )
    assert by_group.warnings == sum(d["capacity_group"] == group for d in warnings)
    assert [b.key for b in by_group.capacity_groups] == [group]


def percentile(values, percent):
    """Linear interpolation between closest ranks (numpy's default), to check the percentiles."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def test_interval_without_a_window_comes_from_the_data(opensearch, indexed):
    _, storm, _, prefix = indexed
    report = build_report(opensearch, ReportRequest(index_prefix=prefix))
    times = [parse_time(e["time"]) for e in storm.of_type(WARNING)]
    # The storm spans 6 hours: 15-minute bars (24 of them at most), not one per hour of a range
    # nobody asked for; and no empty bars before the first or after the last warning.
    assert report.interval == choose_interval(min(times), max(times) + timedelta(milliseconds=1))
    assert report.interval == "15m"
    assert report.over_time[0].count > 0 and report.over_time[-1].count > 0
    assert len(report.over_time) <= 25
    assert sum(b.count for b in report.over_time) == len(times)


def test_choose_interval_keeps_bars_readable():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert choose_interval(start, start + timedelta(hours=6)) == "15m"
    assert choose_interval(start, start + timedelta(days=7)) == "12h"
    assert choose_interval(start, start + timedelta(days=90)) == "7d"
    assert choose_interval(start, start + timedelta(days=365)) == "30d"
    assert choose_interval(None, None) == "1m"


def test_the_report_never_pages_through_instances(opensearch, indexed):
    """Two requests (the data's range, then every section in one `_msearch`), however many
    instances."""
    _, _, _, prefix = indexed
    calls = []

    class Counting:
        def search(self, **kwargs):
            calls.append(kwargs["body"])
            return opensearch.search(**kwargs)

        def msearch(self, **kwargs):
            calls.append(kwargs["body"])
            return opensearch.msearch(**kwargs)

    build_report(Counting(), ReportRequest(index_prefix=prefix))
    assert len(calls) == 2
    assert "composite" not in json.dumps(calls)


@pytest.mark.opensearch
def test_a_refused_section_fails_the_report_in_one_line_naming_it(opensearch):
    """The sections go as one `_msearch`, which answers 200 even when one search fails: that
    failure must not become a report with a section missing."""
    from spot_cli.report import SectionError  # noqa: PLC0415

    prefix = f"refused-{uuid.uuid4().hex[:8]}"
    opensearch.indices.create(
        index=f"{prefix}-000001",
        body={
            "mappings": {
                "properties": {
                    "event_type": {"type": "keyword"},
                    "event_time": {"type": "date"},
                    "pool": {"type": "text"},  # terms on a text field is refused
                }
            }
        },
    )
    try:
        opensearch.index(
            index=f"{prefix}-000001",
            body={"event_type": WARNING, "event_time": "2026-11-30T00:00:00Z", "pool": "x"},
            refresh=True,
        )
        with pytest.raises(SectionError, match=r"^the report's 'where' search failed: "):
            build_report(opensearch, ReportRequest(index_prefix=prefix))
    finally:
        opensearch.indices.delete(index=f"{prefix}-*")
