"""Enrichment across accounts and regions (hub and spokes) on the moto server.

Spoke accounts are real moto accounts: moto puts an assumed role's session in the account of
the role's ARN, so instances launched with those credentials live in that account. The
function assumes `spot-insights-enrichment` in each event's account through tests/org/sts_gate.py
(moto would let it assume a role that does not exist; the gate answers AccessDenied then)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest

from lambda_src.contract import NO_ACCESS, SPOKE_ROLE_NAME, IngestEnv
from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.cross_account import AccountDirectories, NoAccess, SpokeAccess
from lambda_src.ingest.instances import InstanceDirectory
from tests.ingest.conftest import Pipeline
from tests.ingest.events import spot_warning, sqs_record
from tests.org.sts_gate import StsGate, account_session
from tests.support.moto_ec2 import image_id

HOME = "123456789012"
WITH_ROLE = "111111111111"
WITHOUT_ROLE = "222222222222"


def _launch(session: boto3.Session, region: str, instance_type: str) -> str:
    ec2 = session.client("ec2", region_name=region)
    image = image_id(ec2)
    run = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,
        InstanceMarketOptions={"MarketType": "spot"},
    )
    return run["Instances"][0]["InstanceId"]


def _event(instance_id: str, account: str, region: str) -> dict:
    event = spot_warning(instance_id, region=region)
    event["account"] = account
    return event


@dataclass
class Spokes:
    gate: StsGate
    moto_url: str
    # (account, region) -> an instance there
    instances: dict[tuple[str, str], str]

    def role_arn(self, account: str) -> str:
        return f"arn:aws:iam::{account}:role/{SPOKE_ROLE_NAME}"


@pytest.fixture
def gate(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[StsGate]:
    """STS through the gate; WITH_ROLE holds the enrichment role, WITHOUT_ROLE does not."""
    with StsGate(aws) as gate:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", gate.url)
        account_session(aws, WITH_ROLE).client("iam").create_role(
            RoleName=SPOKE_ROLE_NAME, AssumeRolePolicyDocument=json.dumps({"Statement": []})
        )
        yield gate


@pytest.fixture
def spokes(aws: str, gate: StsGate) -> Spokes:
    spoke = account_session(aws, WITH_ROLE)
    instances = {
        (HOME, "us-east-1"): _launch(
            boto3.Session(region_name="us-east-1"), "us-east-1", "c5.large"
        ),
        (WITH_ROLE, "us-east-1"): _launch(spoke, "us-east-1", "m5.large"),
        (WITH_ROLE, "eu-west-1"): _launch(spoke, "eu-west-1", "r5.large"),
        (WITHOUT_ROLE, "us-east-1"): _launch(
            account_session(aws, WITHOUT_ROLE), "us-east-1", "t3.large"
        ),
    }
    return Spokes(gate, aws, instances)


def _with_spokes(pipeline: Pipeline) -> None:
    pipeline.reconfigure(
        **{IngestEnv.SPOKE_ROLE_NAME: SPOKE_ROLE_NAME, IngestEnv.HOME_ACCOUNT: HOME}
    )


def test_each_event_is_enriched_in_its_own_account_and_region(
    pipeline: Pipeline, spokes: Spokes, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_spokes(pipeline)
    records = [
        sqs_record(_event(instance, account, region))
        for (account, region), instance in spokes.instances.items()
    ]
    assert pipeline.invoke(records) == set()

    by_instance = {doc["instance_id"]: doc for doc in pipeline.index.documents().values()}
    assert len(by_instance) == 4, "every event is indexed, none dropped"
    expected_types = {
        (HOME, "us-east-1"): "c5.large",
        (WITH_ROLE, "us-east-1"): "m5.large",
        (WITH_ROLE, "eu-west-1"): "r5.large",
    }
    for place, instance_type in expected_types.items():
        doc = by_instance[spokes.instances[place]]
        assert (doc["account"], doc["region"]) == place
        assert doc["enrichment"] == "full", doc
        assert doc["instance_type"] == instance_type
        # AZ ids come from the event's own account (names map to other AZs elsewhere).
        zones = account_session(spokes.moto_url, place[0], place[1]).client("ec2")
        zone_ids = {
            z["ZoneName"]: z["ZoneId"]
            for z in zones.describe_availability_zones()["AvailabilityZones"]
        }
        assert doc["availability_zone_id"] == zone_ids[doc["availability_zone"]]
    missing = by_instance[spokes.instances[(WITHOUT_ROLE, "us-east-1")]]
    assert missing["enrichment"] == "missing"
    assert missing["enrichment_reason"] == NO_ACCESS
    assert "instance_type" not in missing
    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert [m["EnrichmentNoAccess"] for m in metrics if "EnrichmentNoAccess" in m] == [[1.0]]

    # Two more batches: one AssumeRole per account in all (credentials per account, clients
    # per region on top of them; a refusal is not asked again at once); the home account is
    # read with the function's own role, never assumed into.
    for _ in range(2):
        again = [
            sqs_record(_event(instance, account, region))
            for (account, region), instance in spokes.instances.items()
        ]
        assert pipeline.invoke(again) == set()
    assert spokes.gate.assume_role_calls == {
        spokes.role_arn(WITH_ROLE): 1,
        spokes.role_arn(WITHOUT_ROLE): 1,
    }
    reasons = [doc.get("enrichment_reason") for doc in pipeline.index.documents().values()]
    assert reasons.count(NO_ACCESS) == 3


def test_sts_trouble_is_retried_not_taken_for_missing_access(
    pipeline: Pipeline, gate: StsGate, aws: str
) -> None:
    _with_spokes(pipeline)
    instance = _launch(account_session(aws, WITH_ROLE), "us-east-1", "m5.large")
    record = sqs_record(_event(instance, WITH_ROLE, "us-east-1"))
    gate.fail_with = "Throttling"
    # Held back for another receive (as a failed DescribeInstances is), nothing indexed yet.
    assert pipeline.invoke([record]) == {record["messageId"]}
    assert pipeline.index.count() == 0
    gate.fail_with = None
    # Not remembered as a refusal: the redelivery assumes the role and enriches in full.
    assert pipeline.invoke([record]) == set()
    (doc,) = pipeline.index.documents().values()
    assert doc["enrichment"] == "full"
    assert doc["instance_type"] == "m5.large"


def _directories(session_seconds: int, clock=None) -> AccountDirectories:
    home = InstanceDirectory(boto3.Session(region_name="us-east-1"))
    access = SpokeAccess(SPOKE_ROLE_NAME, HOME, session_seconds=session_seconds)
    return AccountDirectories(home, access, **({"clock": clock} if clock else {}))


def test_credentials_are_refreshed_before_they_expire(gate: StsGate) -> None:
    instance = "i-0123456789abcdef0"  # the lookups sign requests; what they find is not the point
    # An hour's credentials serve many lookups.
    hour = _directories(3600)
    for _ in range(3):
        assert hour.for_account(WITH_ROLE).describe("us-east-1", [instance]) == {}
    assert hour.assume_role_calls == 1
    # 15-minute credentials are inside botocore's refresh window from the start: every lookup
    # signs with fresh ones instead of waiting for them to expire.
    short = _directories(900)
    for _ in range(3):
        assert short.for_account(WITH_ROLE).describe("us-east-1", [instance]) == {}
    assert short.assume_role_calls >= 3


def test_a_refusal_is_asked_again_after_a_while(gate: StsGate) -> None:
    now = [0.0]
    directories = _directories(3600, clock=lambda: now[0])
    for _ in range(2):
        with pytest.raises(NoAccess, match=WITHOUT_ROLE):
            directories.for_account(WITHOUT_ROLE)
    assert directories.assume_role_calls == 1
    # The role may have been rolled out since: after `denied_seconds` STS is asked again.
    now[0] += directories.access.denied_seconds + 1
    with pytest.raises(NoAccess):
        directories.for_account(WITHOUT_ROLE)
    assert directories.assume_role_calls == 2


def test_without_spoke_configuration_every_account_is_read_at_home(gate: StsGate) -> None:
    home = InstanceDirectory(boto3.Session(region_name="us-east-1"))
    unset = IngestConfig.from_env({IngestEnv.OPENSEARCH_ENDPOINT: "https://search.example"})
    directories = AccountDirectories(home, SpokeAccess.from_config(unset))
    assert directories.for_account(WITH_ROLE) is home
    assert gate.assume_role_calls == {}
