"""The sampler's handler over the moto fleet into the real node, provisioned by the deploy-time
code, and `report --rates` checked against the ground truth of a seeded fleet and storm."""

from collections import Counter
from datetime import timedelta

import boto3
import pytest
from opensearchpy.exceptions import AuthorizationException

from lambda_src.contract import (
    exposure_index_pattern,
    exposure_write_alias,
    index_pattern,
    write_alias,
)
from lambda_src.provisioning.local import provision
from spot_cli.events import WARNING, parse_time
from spot_cli.local.ingest import LocalFunction, ingest_handler
from spot_cli.local.pipeline import RunSettings, run_pipeline, window_of
from spot_cli.local.poller import EventSourceSettings
from spot_cli.local.provisioning import SAMPLER_BACKEND_ROLE
from spot_cli.local.sampler import replay_sampler, run_sampler, sampler_user, ticks
from spot_cli.local.storm import StormSettings
from spot_cli.opensearch_client import connect
from spot_cli.rates import RatesRequest, build_rates
from tests.support.moto_ec2 import image_id
from tests.support.search_index import VISIBLE_ONLY_AFTER_REFRESH, searchable_now

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]

REGIONS = ("us-east-1", "us-west-2")
INTERVAL = 600


@pytest.fixture
def admin(opensearch_node):
    return opensearch_node.settings()


def _provision(opensearch_node, prefix):
    return provision(
        opensearch_node.url,
        (opensearch_node.user, opensearch_node.password),
        ca_certs=opensearch_node.ca_certs,
        prefix=prefix,
        exposure_writer_backend_roles=[SAMPLER_BACKEND_ROLE],
    )


def _count(opensearch, pattern):
    opensearch.indices.refresh(index=pattern)
    return opensearch.count(index=pattern)["count"]


def test_the_exposure_family_is_apart_from_the_events_family(opensearch, opensearch_node, prefix):
    summary = _provision(opensearch_node, prefix)
    assert summary["ExposureWriteAlias"] == exposure_write_alias(prefix)
    assert summary["ExposureWriteAliasState"] == "created"
    events = set(opensearch.indices.get(index=index_pattern(prefix)))
    exposure = set(opensearch.indices.get(index=exposure_index_pattern(prefix)))
    assert events == {f"{prefix}-000001"}
    assert exposure == {f"{prefix}.exposure-000001"}
    mapping = opensearch.indices.get_mapping(index=f"{prefix}.exposure-000001")
    properties = mapping[f"{prefix}.exposure-000001"]["mappings"]["properties"]
    assert properties["instance_hours"]["type"] == "double"
    assert "event_time" not in properties
    # A second run (a stack update) finds everything in place.
    assert _provision(opensearch_node, prefix)["ExposureWriteAliasState"] == "exists"


def test_a_retried_tick_overwrites_and_the_sampler_may_write_nothing_else(
    aws, opensearch, opensearch_node, admin, prefix
):
    _provision(opensearch_node, prefix)
    session = boto3.session.Session()
    ec2 = session.client("ec2", region_name=REGIONS[0])
    image = image_id(ec2)
    for instance_type in ("m5.large", "c5.large"):
        ec2.run_instances(
            ImageId=image,
            MinCount=2,
            MaxCount=2,
            InstanceType=instance_type,
            InstanceMarketOptions={"MarketType": "spot"},
        )
    writer = sampler_user(admin)
    scheduled = ticks(parse_time("2026-12-01T12:00:00Z"), parse_time("2026-12-01T12:30:00Z"), 600)
    pattern = exposure_index_pattern(prefix)
    # A report read right after a run counts its ticks: the run waits for them to be
    # searchable (the demo's rates, read at once, missed the last second's ticks without it).
    opensearch.indices.put_settings(index=pattern, body=VISIBLE_ONLY_AFTER_REFRESH)
    first = run_sampler(writer, session, prefix=prefix, regions=REGIONS, scheduled=scheduled)
    assert searchable_now(opensearch, pattern) == first.documents
    assert (first.ticks, first.instances_per_tick) == (3, 4)
    assert _count(opensearch, pattern) == first.documents == 3 * 2
    # Scheduler and Lambda retry a tick with the same scheduled time: nothing is added.
    run_sampler(writer, session, prefix=prefix, regions=REGIONS, scheduled=scheduled[:2])
    assert _count(opensearch, pattern) == 6
    assert _count(opensearch, index_pattern(prefix)) == 0, "events pattern sees no exposure"
    hours = opensearch.search(
        index=pattern, body={"size": 0, "aggs": {"h": {"sum": {"field": "instance_hours"}}}}
    )["aggregations"]["h"]["value"]
    assert hours == pytest.approx(3 * 4 * INTERVAL / 3600)

    client = connect(writer)
    with pytest.raises(AuthorizationException):
        client.index(index=write_alias(prefix), body={"event_id": "x"}, id="x")
    with pytest.raises(AuthorizationException):
        client.search(index=pattern, body={"size": 0})


def test_the_demo_replay_writes_exactly_what_the_handler_writes_for_every_tick(
    aws, opensearch, opensearch_node, admin, prefix
):
    """The demo samples the static moto fleet once and writes every later tick from that count:
    the documents must be the handler's own, tick for tick (same ids, same sources)."""
    _provision(opensearch_node, prefix)
    session = boto3.session.Session()
    ec2 = session.client("ec2", region_name=REGIONS[0])
    image = image_id(ec2)
    for instance_type in ("m5.large", "c5.large", "c5.large"):
        ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            InstanceMarketOptions={"MarketType": "spot"},
        )
    writer = sampler_user(admin)
    scheduled = ticks(parse_time("2026-12-01T12:00:00Z"), parse_time("2026-12-01T12:40:00Z"), 600)
    pattern = exposure_index_pattern(prefix)

    def documents() -> dict[str, dict]:
        opensearch.indices.refresh(index=pattern)
        hits = opensearch.search(index=pattern, body={"size": 100})["hits"]["hits"]
        return {hit["_id"]: hit["_source"] for hit in hits}

    opensearch.indices.put_settings(index=pattern, body=VISIBLE_ONLY_AFTER_REFRESH)
    replayed = replay_sampler(writer, session, prefix=prefix, regions=REGIONS, scheduled=scheduled)
    assert searchable_now(opensearch, pattern) == replayed.documents == 4 * 2, "as the handler"
    assert replayed.ticks == 4
    by_replay = documents()
    run_sampler(writer, session, prefix=prefix, regions=REGIONS, scheduled=scheduled)
    assert documents() == by_replay
    assert sum(d["instance_count"] for d in by_replay.values()) == 4 * 3


def test_rates_match_the_ground_truth_of_a_seeded_fleet_and_storm(
    aws, opensearch, opensearch_node, admin, prefix
):
    _provision(opensearch_node, prefix)
    handler = ingest_handler(LocalFunction(admin, write_alias(prefix)), boto3.session.Session())
    settings = RunSettings(
        storm=StormSettings(events=300, seed=11),
        regions=REGIONS,
        source=EventSourceSettings(
            batch_size=100, batching_window_seconds=0.5, maximum_concurrency=2
        ),
        index_prefix=prefix,
        show_progress=False,
    )
    result = run_pipeline(handler, opensearch, settings)
    assert result.missing_event_ids == []
    since, until = window_of(result.storm, result.fleet)
    scheduled = ticks(since, until, INTERVAL)
    # The demo's replay (46 ticks; the handler on the first, its documents on every tick, as
    # test_the_demo_replay_writes_exactly_what_the_handler_writes_for_every_tick proves):
    # invoking the handler 46 times took most of this test.
    run = replay_sampler(
        sampler_user(admin),
        boto3.session.Session(),
        prefix=prefix,
        regions=REGIONS,
        scheduled=scheduled,
    )
    fleet = result.fleet
    assert run.instances_per_tick == len(fleet.instances)
    until = scheduled[-1] + timedelta(seconds=INTERVAL)
    rates = build_rates(connect(admin), RatesRequest(since=since, until=until, index_prefix=prefix))

    # Ground truth: every tick counts the whole (unchanging) fleet.
    hours_per_instance = len(scheduled) * INTERVAL / 3600
    pools = Counter(f"{i.instance_type}:{i.availability_zone_id}" for i in fleet.instances)
    groups = Counter(i.capacity_group for i in fleet.instances)
    warnings = [e for e in result.storm.events if e["detail-type"] == WARNING]
    warned = [
        fleet.by_id[e["detail"]["instance-id"]]
        for e in warnings
        if e["detail"]["instance-id"] in fleet.by_id
    ]
    warned_pools = Counter(f"{i.instance_type}:{i.availability_zone_id}" for i in warned)
    warned_groups = Counter(i.capacity_group for i in warned)

    assert rates.warnings == len(warnings)
    assert rates.instance_hours == pytest.approx(len(fleet.instances) * hours_per_instance)
    by_pool = {row.key: row for row in rates.by["pool"]}
    assert {k for k, row in by_pool.items() if row.instance_hours} == set(pools)
    for pool, count in pools.items():
        row = by_pool[pool]
        assert row.warnings == warned_pools[pool]
        assert row.instance_hours == pytest.approx(count * hours_per_instance, abs=1e-3)
        assert row.rate == pytest.approx(
            warned_pools[pool] * 1000 / (count * hours_per_instance), abs=1e-3
        )
    by_group = {row.key: row for row in rates.by["capacity_group"]}
    for group, count in groups.items():
        assert by_group[group].warnings == warned_groups[group]
        assert by_group[group].rate == pytest.approx(
            warned_groups[group] * 1000 / (count * hours_per_instance), abs=1e-3
        )
    # Ghost instances (gone before enrichment) have warnings but no exposure: no rate.
    assert all(row.rate is None for row in rates.by["pool"] if not row.instance_hours)
    by_account = {row.key: row for row in rates.by["account"]}
    assert by_account[fleet.account].instance_hours == pytest.approx(rates.instance_hours)

    # The ingest function stores whole seconds (documents._instance_fields).
    runtimes = [
        int(
            (
                parse_time(e["time"]) - fleet.by_id[e["detail"]["instance-id"]].launch_time
            ).total_seconds()
        )
        for e in warnings
        if e["detail"]["instance-id"] in fleet.by_id
    ]
    runtimes = [r for r in runtimes if r >= 0]
    assert rates.with_runtime == len(runtimes)
    assert rates.early["within_10m"] == pytest.approx(
        sum(r <= 600 for r in runtimes) / len(runtimes), abs=1e-4
    )
    assert rates.early["within_1h"] == pytest.approx(
        sum(r <= 3600 for r in runtimes) / len(runtimes), abs=1e-4
    )
    assert 0 < rates.early["within_1h"] < 1, "the seeded storm has both kinds"
    assert {row.capacity_group for row in rates.runtime_by_group} >= set(warned_groups)
