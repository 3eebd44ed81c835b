"""The sampler's count against moto's EC2: running Spot instances only, grouped by the ingest's
own capacity-group derivation, one DescribeInstances page per PAGE_SIZE instances."""

import json
import math
from datetime import UTC, datetime

import boto3
import pytest

from lambda_src.contract import SPOKE_ROLE_NAME
from lambda_src.ingest.cross_account import AccountDirectories, SpokeAccess
from lambda_src.ingest.instances import InstanceDirectory
from lambda_src.sampler import fleet_count
from lambda_src.sampler.fleet_count import Group, exposure_documents, sample
from spot_cli.local.moto_lifecycle import teach_moto_instance_lifecycle
from tests.org.sts_gate import StsGate, account_session
from tests.support.moto_ec2 import image_id

pytestmark = pytest.mark.aws


@pytest.fixture(autouse=True)
def _lifecycle_filter():
    """moto lacks the `instance-lifecycle` filter (spot_cli/local/moto_lifecycle.py)."""
    teach_moto_instance_lifecycle()


REGION = "us-east-1"
HOME = "123456789012"
WITH_ROLE = "111111111111"
WITHOUT_ROLE = "222222222222"
ASG_TAGS = [{"Key": "aws:autoscaling:groupName", "Value": "web-asg"}]
# Karpenter's nodepool wins over the ASG tag, as in lambda_src/ingest/tags.py.
KARPENTER_TAGS = [*ASG_TAGS, {"Key": "karpenter.sh/nodepool", "Value": "batch"}]


def _launch(ec2, count, instance_type, zone, tags=None, *, spot=True):
    options = {"InstanceMarketOptions": {"MarketType": "spot"}} if spot else {}
    tag_spec = [{"ResourceType": "instance", "Tags": tags}] if tags else []
    image = image_id(ec2)
    reply = ec2.run_instances(
        ImageId=image,
        MinCount=count,
        MaxCount=count,
        InstanceType=instance_type,
        Placement={"AvailabilityZone": zone},
        TagSpecifications=tag_spec,
        **options,
    )
    return [i["InstanceId"] for i in reply["Instances"]]


@pytest.fixture
def fleet(aws):
    ec2 = boto3.client("ec2", region_name=REGION)
    _launch(ec2, 3, "m5.large", "us-east-1a", ASG_TAGS)
    _launch(ec2, 2, "m5.large", "us-east-1b", KARPENTER_TAGS)
    _launch(ec2, 4, "c5.xlarge", "us-east-1a")
    stopped = _launch(ec2, 2, "m5.large", "us-east-1a", ASG_TAGS)
    ec2.stop_instances(InstanceIds=stopped)
    terminated = _launch(ec2, 1, "c5.xlarge", "us-east-1a")
    ec2.terminate_instances(InstanceIds=terminated)
    _launch(ec2, 5, "m5.large", "us-east-1a", ASG_TAGS, spot=False)  # on-demand
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    return {z["ZoneName"]: z["ZoneId"] for z in zones}


def _directories():
    return AccountDirectories(InstanceDirectory(boto3.session.Session()))


def test_counts_running_spot_instances_per_pool_and_capacity_group(fleet):
    tick = sample(_directories(), (), [REGION])
    account = boto3.client("sts").get_caller_identity()["Account"]

    def group(zone, instance_type, capacity_group):
        return Group(account, REGION, zone, fleet[zone], instance_type, capacity_group)

    assert dict(tick.counts) == {
        group("us-east-1a", "m5.large", "web-asg"): 3,
        group("us-east-1b", "m5.large", "batch"): 2,
        group("us-east-1a", "c5.xlarge", "standalone"): 4,
    }
    assert tick.failures == {}


def test_pages_per_region_not_calls_per_instance(fleet, monkeypatch):
    """The cost of a tick: one DescribeInstances page per PAGE_SIZE results per region (moto
    pages by reservation, AWS by instance; either way pages, not calls per instance)."""
    west = boto3.client("ec2", region_name="us-west-2")
    for _ in range(7):
        _launch(west, 1, "m5.large", "us-west-2a")
    monkeypatch.setattr(fleet_count, "PAGE_SIZE", 3)
    tick = sample(_directories(), (), [REGION, "us-west-2"])
    assert sum(tick.counts.values()) == 9 + 7
    # us-east-1: 3 matching reservations -> 1 page; us-west-2: 7 -> 3 pages.
    assert tick.pages == 1 + math.ceil(7 / 3)


def test_spoke_accounts_are_counted_through_their_role_and_one_without_it_is_skipped(
    aws, monkeypatch
):
    """Through the ingest's AccountDirectories and tests/org/sts_gate.py (moto alone would let
    any role be assumed): each account's instances are counted with its own AZ ids."""
    with StsGate(aws) as gate:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", gate.url)
        spoke = account_session(aws, WITH_ROLE)
        spoke.client("iam").create_role(
            RoleName=SPOKE_ROLE_NAME, AssumeRolePolicyDocument=json.dumps({"Statement": []})
        )
        _launch(spoke.client("ec2", region_name=REGION), 2, "r5.large", "us-east-1a")
        _launch(
            account_session(aws, WITHOUT_ROLE).client("ec2", region_name=REGION),
            1,
            "t3.large",
            "us-east-1a",
        )
        _launch(boto3.client("ec2", region_name=REGION), 1, "c5.large", "us-east-1a")
        directories = AccountDirectories(
            InstanceDirectory(boto3.session.Session()), SpokeAccess(SPOKE_ROLE_NAME, HOME)
        )
        tick = sample(directories, [HOME, WITH_ROLE, WITHOUT_ROLE], [REGION])
    by_account = {(g.account, g.instance_type): n for g, n in tick.counts.items()}
    assert by_account == {(HOME, "c5.large"): 1, (WITH_ROLE, "r5.large"): 2}
    assert list(tick.no_access) == [WITHOUT_ROLE]
    assert tick.failures == {}
    spoke_zones = spoke.client("ec2", region_name=REGION).describe_availability_zones()
    spoke_ids = {z["ZoneName"]: z["ZoneId"] for z in spoke_zones["AvailabilityZones"]}
    (spoke_group,) = [g for g in tick.counts if g.account == WITH_ROLE]
    assert spoke_group.availability_zone_id == spoke_ids["us-east-1a"]


def test_a_tick_has_one_document_per_group_named_by_tick_and_group(fleet):
    tick = sample(_directories(), (), [REGION])
    at = datetime(2026, 12, 1, 12, 10, tzinfo=UTC)
    documents = exposure_documents(tick, at, 600)
    assert len(documents) == 3
    assert sum(d["instance_count"] for d in documents) == 9
    assert sum(d["instance_hours"] for d in documents) == pytest.approx(9 * 600 / 3600)
    assert {d["sampled_at"] for d in documents} == {"2026-12-01T12:10:00Z"}
    assert {d["pool"] for d in documents} == {
        f"m5.large:{fleet['us-east-1a']}",
        f"m5.large:{fleet['us-east-1b']}",
        f"c5.xlarge:{fleet['us-east-1a']}",
    }
    again = exposure_documents(sample(_directories(), (), [REGION]), at, 600)
    assert [d["sample_id"] for d in again] == [d["sample_id"] for d in documents]
    later = exposure_documents(tick, at.replace(minute=20), 600)
    assert not {d["sample_id"] for d in later} & {d["sample_id"] for d in documents}
