"""Which accounts a deployed hub sampler counts: the listed ones and every account and region
that sent an event in the look-back window, read from the events index on the real node by the
sampler's own (field-level secured) role, each counted through its spoke role on moto. An
account without the role is `no_access`, not a failed tick (lambda_src/sampler/
account_discovery.py, lambda_src/provisioning/discovery_role.py)."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from opensearchpy.exceptions import AuthorizationException

from lambda_src.contract import (
    SPOKE_ROLE_NAME,
    exposure_index_pattern,
    exposure_write_alias,
    index_pattern,
    write_alias,
)
from lambda_src.ingest.search_client import SearchSettings
from lambda_src.provisioning.discovery_role import DISCOVERY_FIELDS
from lambda_src.provisioning.local import provision
from lambda_src.sampler.config import SamplerConfig
from lambda_src.sampler.handler import Sampler, TickFailed
from spot_cli.events import parse_time
from spot_cli.local.moto_lifecycle import teach_moto_instance_lifecycle
from spot_cli.local.provisioning import SAMPLER_BACKEND_ROLE
from spot_cli.local.sampler import sampler_user
from spot_cli.opensearch_client import OpenSearchSettings, connect
from tests.org.sts_gate import StsGate, account_session
from tests.support.moto_ec2 import image_id

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]

HOME = "123456789012"  # moto's default account
WITH_ROLE = "111111111111"
WITHOUT_ROLE = "222222222222"
STALE = "333333333333"  # its last event is older than the look-back
LISTED = "444444444444"  # listed in sourceAccounts, never sent an event
AT = parse_time("2026-12-01T12:00:00Z")
DAYS = 30


@pytest.fixture
def writer(opensearch_node, opensearch, prefix) -> OpenSearchSettings:
    provision(
        opensearch_node.url,
        (opensearch_node.user, opensearch_node.password),
        ca_certs=opensearch_node.ca_certs,
        prefix=prefix,
        exposure_writer_backend_roles=[SAMPLER_BACKEND_ROLE],
    )
    events = [
        (HOME, "us-east-1", AT - timedelta(hours=1)),
        (WITH_ROLE, "us-east-1", AT - timedelta(days=3)),
        (WITH_ROLE, "us-west-2", AT - timedelta(days=DAYS - 1)),
        (WITHOUT_ROLE, "us-east-1", AT - timedelta(days=1)),
        (STALE, "eu-west-1", AT - timedelta(days=DAYS + 1)),
    ]
    for n, (account, region, when) in enumerate(events):
        opensearch.index(
            index=write_alias(prefix),
            id=f"e{n}",
            body={
                "event_id": f"e{n}",
                "event_time": when.isoformat().replace("+00:00", "Z"),
                "account": account,
                "region": region,
                "instance_id": f"i-{n:017x}",
            },
        )
    opensearch.indices.refresh(index=index_pattern(prefix))
    return sampler_user(
        OpenSearchSettings(
            endpoint=opensearch_node.url,
            auth="basic",
            user=opensearch_node.user,
            password=opensearch_node.password,
            ca_certs=opensearch_node.ca_certs,
        )
    )


def _launch(session: boto3.Session, region: str, instance_type: str, count: int) -> None:
    ec2 = session.client("ec2", region_name=region)
    image = image_id(ec2)
    ec2.run_instances(
        ImageId=image,
        MinCount=count,
        MaxCount=count,
        InstanceType=instance_type,
        InstanceMarketOptions={"MarketType": "spot"},
    )


def _sampler(writer: OpenSearchSettings, prefix: str, events_index: str) -> Sampler:
    config = SamplerConfig(
        search=SearchSettings(
            endpoint=writer.endpoint,
            user=writer.user,
            password=writer.password,
            ca_certs=writer.ca_certs,
        ),
        regions=("us-east-1",),
        index_alias=exposure_write_alias(prefix),
        accounts=(LISTED,),
        spoke_role_name=SPOKE_ROLE_NAME,
        home_account=HOME,
        discovery_days=DAYS,
        events_index=events_index,
        log_level="WARNING",
    )
    return Sampler.from_config(config, boto3.session.Session())


def _fleet(aws: str) -> None:
    teach_moto_instance_lifecycle()
    spoke = account_session(aws, WITH_ROLE)
    spoke.client("iam").create_role(
        RoleName=SPOKE_ROLE_NAME, AssumeRolePolicyDocument=json.dumps({"Statement": []})
    )
    _launch(spoke, "us-east-1", "r5.large", 2)
    _launch(spoke, "us-west-2", "m5.large", 3)
    _launch(account_session(aws, WITHOUT_ROLE), "us-east-1", "t3.large", 1)
    _launch(account_session(aws, STALE), "eu-west-1", "c5.large", 4)
    _launch(boto3.session.Session(), "us-east-1", "c5.large", 1)


def _stored(opensearch, prefix: str) -> dict[tuple[str, str], int]:
    pattern = exposure_index_pattern(prefix)
    opensearch.indices.refresh(index=pattern)
    hits = opensearch.search(index=pattern, body={"size": 100})["hits"]["hits"]
    counts: dict[tuple[str, str], int] = {}
    for hit in hits:
        key = (hit["_source"]["account"], hit["_source"]["region"])
        counts[key] = counts.get(key, 0) + hit["_source"]["instance_count"]
    return counts


def test_accounts_and_regions_with_recent_events_are_counted_through_their_role(
    aws, opensearch, writer, prefix, monkeypatch
):
    with StsGate(aws) as gate:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", gate.url)
        _fleet(aws)
        summary = _sampler(writer, prefix, index_pattern(prefix)).run(
            {"scheduled_time": AT.isoformat()}
        )
    # Home, the listed account and the two discovered ones; not the stale one.
    assert summary["accounts"] == 4
    assert summary["discovered_accounts"] == 3  # HOME, WITH_ROLE, WITHOUT_ROLE
    assert summary["regions"] == ["us-east-1", "us-west-2"]
    # No role in WITHOUT_ROLE (nor in the listed account): recorded, the tick goes on.
    assert summary["no_access"] == sorted([WITHOUT_ROLE, LISTED])
    assert _stored(opensearch, prefix) == {
        (HOME, "us-east-1"): 1,
        (WITH_ROLE, "us-east-1"): 2,
        (WITH_ROLE, "us-west-2"): 3,
    }
    # One AssumeRole per spoke account for the whole tick, whatever the regions.
    role = f"arn:aws:iam::{WITH_ROLE}:role/{SPOKE_ROLE_NAME}"
    assert gate.assume_role_calls[role] == 1


def test_the_sampler_sees_only_account_region_and_time_of_the_events(writer, prefix):
    client = connect(writer)
    hits = client.search(index=index_pattern(prefix), body={"size": 10})["hits"]["hits"]
    assert len(hits) == 5
    for hit in hits:
        assert set(hit["_source"]) <= set(DISCOVERY_FIELDS), hit["_source"]
    with pytest.raises(AuthorizationException):
        client.index(index=write_alias(prefix), body={"event_id": "x"}, id="x")


def test_a_failed_discovery_counts_the_listed_accounts_and_fails_the_tick_for_a_retry(
    aws, opensearch, writer, prefix, monkeypatch
):
    with StsGate(aws) as gate:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", gate.url)
        _fleet(aws)
        # An index the sampler's role may not search: discovery fails (403).
        sampler = _sampler(writer, prefix, exposure_index_pattern(prefix))
        with pytest.raises(TickFailed, match="account discovery"):
            sampler.run({"scheduled_time": AT.isoformat()})
    # What it could count is stored; the retry (same scheduled time) overwrites it.
    assert _stored(opensearch, prefix) == {(HOME, "us-east-1"): 1}
