"""The sampler's daily market run over the moto fleet into the real node, provisioned by the
deploy-time code, with the advisor's file served on 127.0.0.1; then `report --market` checked
against the ground truth of the fleet, its warnings and the served file."""

import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from opensearchpy.exceptions import AuthorizationException

from lambda_src.contract import (
    ADVISOR_RECORD,
    PRICE_RECORD,
    index_pattern,
    market_index_pattern,
    market_write_alias,
    write_alias,
)
from lambda_src.provisioning.local import provision
from spot_cli.events import WARNING, parse_time
from spot_cli.local.market import MOTO_SPOT_PRICE, Route, market_config, run_market, serve
from spot_cli.local.moto_lifecycle import teach_moto_instance_lifecycle
from spot_cli.local.provisioning import SAMPLER_BACKEND_ROLE
from spot_cli.local.sampler import replay_sampler, sampler_user, ticks
from spot_cli.market import MarketRequest, build_market
from spot_cli.opensearch_client import OpenSearchSettings, connect
from tests.support.moto_ec2 import image_id
from tests.support.search_index import VISIBLE_ONLY_AFTER_REFRESH, searchable_now

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]

REGION = "us-east-1"
FIXTURE = (Path(__file__).parent / "advisor-fixture.json").read_bytes()
SINCE = parse_time("2026-11-30T10:00:00Z")
UNTIL = parse_time("2026-11-30T12:00:00Z")  # 12 ticks of 10 minutes: 2 h per instance
RUN_AT = parse_time("2026-12-01T00:15:00Z")


@pytest.fixture
def admin(opensearch_node):
    return OpenSearchSettings(
        endpoint=opensearch_node.url,
        auth="basic",
        user=opensearch_node.user,
        password=opensearch_node.password,
        ca_certs=opensearch_node.ca_certs,
    )


@pytest.fixture
def fleet(aws, opensearch_node, prefix):
    """2 x m5.large and 2 x c5.large in us-east-1a, 1 x r5.large in us-east-1b; the exposure
    family holds 2 h of ticks of them. Returns the pools' AZ ids."""
    summary = provision(
        opensearch_node.url,
        (opensearch_node.user, opensearch_node.password),
        ca_certs=opensearch_node.ca_certs,
        prefix=prefix,
        exposure_writer_backend_roles=[SAMPLER_BACKEND_ROLE],
    )
    assert summary["MarketWriteAlias"] == market_write_alias(prefix)
    teach_moto_instance_lifecycle()
    ec2 = boto3.client("ec2", region_name=REGION)
    image = image_id(ec2)
    for instance_type, count, zone in (
        ("m5.large", 2, "us-east-1a"),
        ("c5.large", 2, "us-east-1a"),
        ("r5.large", 1, "us-east-1b"),
    ):
        ec2.run_instances(
            ImageId=image,
            MinCount=count,
            MaxCount=count,
            InstanceType=instance_type,
            Placement={"AvailabilityZone": zone},
            InstanceMarketOptions={"MarketType": "spot"},
        )
    zones = {
        z["ZoneName"]: z["ZoneId"] for z in ec2.describe_availability_zones()["AvailabilityZones"]
    }
    return {"a": zones["us-east-1a"], "b": zones["us-east-1b"]}


def _warn(opensearch, prefix, pool, count):
    instance_type, _, zone_id = pool.partition(":")
    for n in range(count):
        opensearch.index(
            index=write_alias(prefix),
            id=f"{pool}-{n}",
            body={
                "event_id": f"{pool}-{n}",
                "event_type": WARNING,
                "event_time": (SINCE + timedelta(minutes=30 + n)).isoformat(),
                "region": REGION,
                "instance_type": instance_type,
                "availability_zone_id": zone_id,
                "pool": pool,
            },
        )
    opensearch.indices.refresh(index=index_pattern(prefix))


def _market_docs(opensearch, prefix):
    pattern = market_index_pattern(prefix)
    opensearch.indices.refresh(index=pattern)
    hits = opensearch.search(index=pattern, body={"size": 100})["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def test_the_market_run_stores_prices_buckets_and_flags_pools_above_their_bucket(
    opensearch, admin, prefix, fleet
):
    session = boto3.session.Session()
    writer = sampler_user(admin)
    replay_sampler(
        writer, session, prefix=prefix, regions=[REGION], scheduled=ticks(SINCE, UNTIL, 600)
    )
    m5, c5, r5 = (f"m5.large:{fleet['a']}", f"c5.large:{fleet['a']}", f"r5.large:{fleet['b']}")
    _warn(opensearch, prefix, m5, 1)  # 1 in 4 instance-hours: 18,000 % of a month, above "<5%"
    _warn(opensearch, prefix, c5, 3)  # in ">20%": no upper bound, never flagged

    # A report right after the run sees all of it (the demo's market check reads at once).
    opensearch.indices.put_settings(
        index=market_index_pattern(prefix), body=VISIBLE_ONLY_AFTER_REFRESH
    )
    with serve({"/advisor.json": Route(FIXTURE)}) as url:
        config = market_config(writer, prefix, [REGION], f"{url}/advisor.json")
        summary = run_market(config, session, RUN_AT)
        visible = searchable_now(opensearch, market_index_pattern(prefix))
        assert summary["advisor_error"] is None
        assert (summary["pools"], summary["price_documents"], summary["advisor_documents"]) == (
            3,
            3,
            3,
        )
        first = _market_docs(opensearch, prefix)
        assert visible == len(first) == 3 + 3 + 1  # prices, buckets, the run's record
        # The run is retried with the same scheduled time: same documents, nothing added.
        run_market(config, session, RUN_AT)
    assert _market_docs(opensearch, prefix) == first
    prices = {d["pool"]: d for d in first.values() if d["record_type"] == PRICE_RECORD}
    assert set(prices) == {m5, c5, r5}
    for pool, doc in prices.items():
        # moto's one price, stamped 2006: in effect all of the previous UTC day.
        assert doc["day"] == "2026-11-30"
        assert doc["price_min"] == doc["price_avg"] == doc["price_last"] == MOTO_SPOT_PRICE
        assert doc["availability_zone_id"] == pool.partition(":")[2]
        assert doc["availability_zone"] in {"us-east-1a", "us-east-1b"}
        assert doc["currency"] == "USD"
    buckets = {
        d["instance_type"]: d["advisor_bucket"]
        for d in first.values()
        if d["record_type"] == ADVISOR_RECORD
    }
    assert buckets == {"m5.large": "<5%", "c5.large": ">20%", "r5.large": "10-15%"}

    market = build_market(
        connect(admin),
        MarketRequest(since=SINCE, until=UNTIL, index_prefix=prefix, now=RUN_AT),
    )
    rows = {r.pool: r for r in market.pools}
    assert rows[m5].monthly_interruption_percent == pytest.approx(100 * 1 * 720 / 4)
    assert rows[c5].monthly_interruption_percent == pytest.approx(100 * 3 * 720 / 4)
    assert rows[r5].monthly_interruption_percent == 0
    assert [r.pool for r in market.flagged] == [m5]
    assert (rows[m5].last_price, rows[m5].average_price, rows[m5].region) == (
        MOTO_SPOT_PRICE,
        MOTO_SPOT_PRICE,
        REGION,
    )
    assert not market.advisor_stale and market.advisor_age_hours == 0.0
    assert json.loads(json.dumps(market.to_dict()))["flagged"] == [m5]

    # The sampler's role writes the market family and nothing it may not.
    client = connect(writer)
    with pytest.raises(AuthorizationException):
        client.index(index=write_alias(prefix), body={"event_id": "x"}, id="x")
    with pytest.raises(AuthorizationException):
        client.search(index=market_index_pattern(prefix), body={"size": 0})


def test_without_the_advisor_file_prices_still_land_and_the_report_says_stale(
    opensearch, admin, prefix, fleet
):
    session = boto3.session.Session()
    writer = sampler_user(admin)
    replay_sampler(
        writer, session, prefix=prefix, regions=[REGION], scheduled=ticks(SINCE, UNTIL, 600)
    )
    with serve({"/advisor.json": Route(FIXTURE)}) as url:
        run_market(market_config(writer, prefix, [REGION], f"{url}/advisor.json"), session, RUN_AT)
    later = RUN_AT + timedelta(days=3)
    with serve({}) as url:  # every path 404
        summary = run_market(
            market_config(writer, prefix, [REGION], f"{url}/advisor.json"), session, later
        )
    assert "HTTP 404" in summary["advisor_error"]
    assert summary["price_documents"] == 3 and summary["advisor_documents"] == 0
    docs = _market_docs(opensearch, prefix).values()
    assert sorted(d["day"] for d in docs if d["record_type"] == PRICE_RECORD) == [
        *(["2026-11-30"] * 3),
        *(["2026-12-03"] * 3),
    ]
    market = build_market(
        connect(admin),
        MarketRequest(since=SINCE, until=later, index_prefix=prefix, now=later),
    )
    assert market.advisor_stale
    assert market.advisor_age_hours == 72.0
    assert "HTTP 404" in (market.last_run_advisor_error or "")
    # The newest bucket known still applies to the pools (no warnings here: nothing flagged).
    rows = {r.pool: r for r in market.pools}
    assert rows[f"m5.large:{fleet['a']}"].advisor_bucket == "<5%"
    assert market.flagged == []
