"""Fleet and storm through moto's EventBridge into the SQS queues, as deployed."""

import json
from collections import Counter
from datetime import timedelta

import boto3
import pytest

from spot_cli.events import REBALANCE, WARNING
from spot_cli.local.capture_path import create_pipelines
from spot_cli.local.fleet import ASG, ECS, EKS_NODEGROUP, KARPENTER, STANDALONE, create_fleet
from spot_cli.local.storm import (
    POISON_MISSING_INSTANCE_ID,
    StormSettings,
    generate_storm,
    publish,
)

pytestmark = pytest.mark.aws

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


def _drain_bodies(url: str, region: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=region)
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)
        messages = got.get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(m["Body"] for m in messages)


def test_fleet_is_tagged_as_its_capacity_systems_tag_it(aws):
    fleet = create_fleet(REGIONS, instances_per_region=40, seed=3)
    assert len(fleet.instances) == 120
    assert {i.region for i in fleet.instances} == set(REGIONS)
    assert {i.capacity_kind for i in fleet.instances} >= {ASG, KARPENTER, EKS_NODEGROUP, ECS}
    assert fleet.launch_times_backdated
    ages = [fleet.created_at - i.launch_time for i in fleet.instances]
    assert all(age >= timedelta(minutes=10) for age in ages)
    assert max(ages) > timedelta(hours=12)
    ec2 = boto3.client("ec2", region_name="us-west-2")
    for inst in fleet.in_region("us-west-2"):
        raw = ec2.describe_instances(
            Filters=[{"Name": "instance-id", "Values": [inst.instance_id]}]
        )["Reservations"][0]["Instances"][0]
        tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
        assert raw["LaunchTime"] == inst.launch_time
        assert raw["InstanceLifecycle"] == "spot"
        assert raw["Placement"]["AvailabilityZone"] == inst.availability_zone
        if inst.capacity_kind == KARPENTER:
            assert tags["karpenter.sh/nodepool"] == inst.capacity_group
            assert inst.eks_cluster and tags["eks:eks-cluster-name"] == inst.eks_cluster
        elif inst.capacity_kind == EKS_NODEGROUP:
            assert tags["eks:nodegroup-name"] == inst.capacity_group == inst.eks_nodegroup
            assert tags["aws:autoscaling:groupName"] == inst.asg_name
        elif inst.capacity_kind == ASG:
            assert tags["aws:autoscaling:groupName"] == inst.capacity_group
        elif inst.capacity_kind == ECS:
            assert tags["aws:ecs:clusterName"] == inst.capacity_group == inst.ecs_cluster
        elif inst.capacity_kind == STANDALONE:
            assert inst.capacity_group == "standalone"
            assert not any(k.startswith(("aws:", "eks:", "karpenter")) for k in tags)


def test_storm_is_deterministic_and_shaped_like_eventbridge(aws):
    fleet = create_fleet(REGIONS, instances_per_region=30, seed=3)
    settings = StormSettings(events=150, seed=9)
    storm = generate_storm(fleet, settings)
    assert storm == generate_storm(fleet, settings)
    assert len(storm.events) == 150
    assert len({e["id"] for e in storm.events}) == 150
    for event in storm.events:
        assert set(event) == {
            "version", "id", "detail-type", "source", "account", "time", "region",
            "resources", "detail",
        }  # fmt: skip
        iid = event["detail"]["instance-id"]
        inst = fleet.by_id.get(iid)
        assert (inst is None) == (iid in storm.ghost_instance_ids)
        az = event["resources"][0].split(":")[3]
        assert event["resources"] == [f"arn:aws:ec2:{az}:instance/{iid}"]
        assert az.startswith(event["region"])
        if event["detail-type"] == WARNING:
            assert event["detail"]["instance-action"] in {"terminate", "stop", "hibernate"}
        else:
            assert event["detail"] == {"instance-id": iid}
    warnings = Counter(e["detail"]["instance-id"] for e in storm.of_type(WARNING))
    assert max(warnings.values()) == 1
    leads = storm.rebalance_lead_seconds()
    assert leads and all(0 < lead <= 1800 for lead in leads.values())
    assert storm.of_type(REBALANCE)


def test_storm_through_eventbridge_reaches_each_regions_queue_once(aws):
    fleet = create_fleet(REGIONS, instances_per_region=40, seed=5)
    pipelines = create_pipelines(REGIONS)
    storm = generate_storm(fleet, StormSettings(events=200, seed=11, poison=3))
    result = publish(storm, {r: p.queue_url for r, p in pipelines.items()})
    assert storm.evictions  # CloudTrail BidEvictedEvent records, through their own rule
    assert len(result.delivered_ids) == 200 + len(storm.evictions)
    delivered_to_generated = {v: k for k, v in result.delivered_ids.items()}
    published = {e["id"]: e for e in (*storm.events, *storm.evictions)}
    for region, pipeline in pipelines.items():
        bodies = _drain_bodies(pipeline.queue_url, region)
        parsed = []
        raw_poison = []
        for body in bodies:
            try:
                parsed.append(json.loads(body))
            except json.JSONDecodeError:
                raw_poison.append(body)
        events = [p for p in parsed if isinstance(p, dict) and p["id"] in delivered_to_generated]
        expected = [e for e in (*storm.events, *storm.evictions) if e["region"] == region]
        assert len(events) == len(expected)
        for got in events:
            generated = published[delivered_to_generated[got["id"]]]
            assert got["region"] == region
            for key in ("detail-type", "source", "time", "resources", "detail", "account"):
                assert got[key] == generated[key]
        poison_here = [p for p in storm.poison if p.region == region]
        assert len(bodies) == len(expected) + len(poison_here)
    missing = [p for p in storm.poison if p.kind == POISON_MISSING_INSTANCE_ID]
    assert len(result.poison_event_ids) == len(missing)
