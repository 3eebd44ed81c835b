"""Events through the real handler: moto for EC2 and SQS, the real OpenSearch for the index."""

from __future__ import annotations

import pytest

from lambda_src.ingest import runtime
from tests.ingest.calls import count_calls
from tests.ingest.events import rebalance, redeliver, spot_warning, sqs_record
from tests.ingest.instances import launch

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]


def test_both_event_types_round_trip_with_full_enrichment(pipeline):
    [asg_instance] = launch(tags={"aws:autoscaling:groupName": "web-asg", "Name": "web-1"})
    warning = spot_warning(asg_instance, action="stop")
    advice = rebalance(asg_instance)
    assert pipeline.invoke([sqs_record(warning), sqs_record(advice)]) == set()

    docs = pipeline.index.documents()
    assert set(docs) == {warning["id"], advice["id"]}
    doc = docs[warning["id"]]
    assert doc["event_type"] == "EC2 Spot Instance Interruption Warning"
    assert doc["instance_action"] == "stop"
    assert doc["instance_id"] == asg_instance
    assert doc["asg_name"] == doc["capacity_group"] == "web-asg"
    assert doc["instance_name"] == "web-1"
    assert doc["instance_type"] == "m5.large"
    assert (doc["instance_family"], doc["instance_size"]) == ("m5", "large")
    assert doc["lifecycle"] == "spot"
    assert doc["enrichment"] == "full"
    assert doc["availability_zone"].startswith("us-east-1")
    assert doc["availability_zone_id"].startswith("use1-az")
    for key in ("private_ip", "image_id", "architecture", "vpc_id", "subnet_id", "launch_time"):
        assert doc[key], key
    assert isinstance(doc["runtime_seconds"], int)
    assert "instance_action" not in docs[advice["id"]]
    assert docs[advice["id"]]["event_type"] == "EC2 Instance Rebalance Recommendation"


def test_karpenter_eks_ecs_and_standalone_instances(pipeline):
    [karpenter] = launch(tags={"karpenter.sh/nodepool": "default", "eks:eks-cluster-name": "prod"})
    [nodegroup] = launch(
        tags={
            "eks:cluster-name": "prod",
            "eks:nodegroup-name": "ng-spot",
            "aws:autoscaling:groupName": "eks-ng-spot-1234",
        }
    )
    [ecs] = launch(tags={"aws:ecs:clusterName": "batch"})
    [standalone] = launch(spot=False)
    events = {
        name: spot_warning(i)
        for name, i in [
            ("karpenter", karpenter),
            ("nodegroup", nodegroup),
            ("ecs", ecs),
            ("standalone", standalone),
        ]
    }
    assert pipeline.invoke([sqs_record(e) for e in events.values()]) == set()

    docs = pipeline.index.documents()
    fields = (
        "capacity_group",
        "karpenter_nodepool",
        "eks_cluster",
        "eks_nodegroup",
        "asg_name",
        "ecs_cluster",
    )
    got = {name: {f: docs[e["id"]].get(f) for f in fields} for name, e in events.items()}
    assert got == {
        "karpenter": {
            "capacity_group": "default",
            "karpenter_nodepool": "default",
            "eks_cluster": "prod",
            "eks_nodegroup": None,
            "asg_name": None,
            "ecs_cluster": None,
        },
        "nodegroup": {
            "capacity_group": "ng-spot",
            "karpenter_nodepool": None,
            "eks_cluster": "prod",
            "eks_nodegroup": "ng-spot",
            "asg_name": "eks-ng-spot-1234",
            "ecs_cluster": None,
        },
        "ecs": {
            "capacity_group": "batch",
            "karpenter_nodepool": None,
            "eks_cluster": None,
            "eks_nodegroup": None,
            "asg_name": None,
            "ecs_cluster": "batch",
        },
        "standalone": {
            "capacity_group": "standalone",
            "karpenter_nodepool": None,
            "eks_cluster": None,
            "eks_nodegroup": None,
            "asg_name": None,
            "ecs_cluster": None,
        },
    }
    assert docs[events["standalone"]["id"]]["lifecycle"] == "on-demand"


def test_same_batch_delivered_three_times_leaves_one_document_per_event(pipeline):
    ids = launch(3)
    records = [sqs_record(spot_warning(i)) for i in ids] + [sqs_record(rebalance(ids[0]))]
    # The same event may also arrive twice within one batch (at-least-once delivery).
    records.append(sqs_record(records[0]["body"]))
    first = records
    second = redeliver(first)
    third = redeliver(second)
    for batch in (first, second, third):
        assert pipeline.invoke(batch) == set()
    assert pipeline.index.count() == 4


def test_instance_gone_is_indexed_as_missing(pipeline):
    gone = "i-0deadbeefdeadbeef"
    warning = spot_warning(gone, region="us-east-1", zone="us-east-1c")
    assert pipeline.invoke([sqs_record(warning)]) == set()
    doc = pipeline.index.documents()[warning["id"]]
    assert doc["enrichment"] == "missing"
    assert doc["enrichment_reason"] == "instance_not_found"
    assert doc["availability_zone"] == "us-east-1c"
    assert doc["availability_zone_id"].startswith("use1-az")
    assert doc["capacity_group"] == "unknown"
    assert "instance_type" not in doc


def test_ec2_calls_chunk_the_filter_and_describe_zones_once_per_region(pipeline):
    calls = count_calls(runtime.session())
    east = launch(450, region="us-east-1")
    west = launch(10, region="eu-west-1")
    records = [sqs_record(spot_warning(i)) for i in east]
    records += [sqs_record(spot_warning(i, region="eu-west-1")) for i in west]
    records += [sqs_record(rebalance(i)) for i in east[:50]]  # same instances, no extra lookups
    assert pipeline.invoke(records) == set()
    assert calls == {
        "ec2:DescribeInstances": 3 + 1,  # ceil(450/200) + ceil(10/200)
        "ec2:DescribeAvailabilityZones": 2,
    }
    assert pipeline.invoke([sqs_record(spot_warning(east[0]))]) == set()
    assert calls["ec2:DescribeAvailabilityZones"] == 2  # cached for the container
    assert not any(name.startswith("autoscaling:") for name in calls)
    assert pipeline.index.count() == 511
