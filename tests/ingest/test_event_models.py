"""Event validation, tag conventions and the document shape, without any server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambda_src.contract import ACCEPTED_DETAIL_TYPES, DETAIL_TYPES
from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.documents import build_document
from lambda_src.ingest.events import (
    InvalidEvent,
    RebalanceRecommendation,
    SpotInterruptionWarning,
    parse_event,
    registered_detail_types,
)
from lambda_src.ingest.handler import build_handler
from lambda_src.ingest.search_client import SearchSettings
from lambda_src.ingest.tags import tag_fields
from tests.ingest.events import rebalance, spot_warning
from tests.support.lambda_context import fake_context

INSTANCE = "i-0123456789abcdef0"


def test_warning_takes_instance_from_detail_and_zone_from_arn_region_slot():
    event = parse_event(spot_warning(INSTANCE, region="us-west-2", zone="us-west-2c"))
    assert isinstance(event, SpotInterruptionWarning)
    assert event.instance_id == INSTANCE
    assert event.region == "us-west-2"
    assert event.zone_hint == "us-west-2c"
    assert event.instance_action == "terminate"


def test_rebalance_recommendation_has_no_action_and_no_zone_hint():
    event = parse_event(rebalance(INSTANCE, region="eu-west-1"))
    assert isinstance(event, RebalanceRecommendation)
    assert event.zone_hint is None
    assert event.event_fields() == {}


def test_every_detail_type_of_the_contract_has_a_model_and_no_other():
    # The constructs' rules match contract.DETAIL_TYPES; an event type with a model but no
    # rule would never arrive, one with a rule but no model would all be poison.
    assert set(registered_detail_types()) == set(ACCEPTED_DETAIL_TYPES)
    assert set(DETAIL_TYPES) == {
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e["detail"].pop("instance-id"), "instance-id"),
        (lambda e: e["detail"].update({"instance-id": "not-an-id"}), "instance-id"),
        (lambda e: e["detail"].update({"instance-action": "explode"}), "instance-action"),
        (lambda e: e.update({"detail-type": "EC2 Something Else"}), "detail-type"),
        (lambda e: e.update({"source": "aws.s3"}), "source"),
        (lambda e: e.update({"time": "yesterday"}), "time"),
        (lambda e: e.pop("id"), "id"),
        (lambda e: e.update({"detail": "text"}), "detail"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(mutate, message):
    event = spot_warning(INSTANCE)
    mutate(event)
    with pytest.raises(InvalidEvent, match=message):
        parse_event(event)


def test_non_object_body_is_rejected():
    with pytest.raises(InvalidEvent):
        parse_event([spot_warning(INSTANCE)])


@pytest.mark.parametrize(
    ("tags", "group"),
    [
        ({"karpenter.sh/nodepool": "np", "aws:autoscaling:groupName": "asg"}, "np"),
        ({"eks:nodegroup-name": "ng", "aws:autoscaling:groupName": "eks-ng-asg"}, "ng"),
        ({"aws:autoscaling:groupName": "asg", "aws:ecs:clusterName": "ecs"}, "asg"),
        ({"aws:ecs:clusterName": "ecs"}, "ecs"),
        ({"Name": "web-1"}, "standalone"),
        ({}, "standalone"),
    ],
)
def test_capacity_group_precedence(tags, group):
    assert tag_fields(tags)["capacity_group"] == group


def test_eks_cluster_conventions():
    assert tag_fields({"eks:cluster-name": "a"})["eks_cluster"] == "a"
    assert tag_fields({"eks:eks-cluster-name": "b"})["eks_cluster"] == "b"
    assert tag_fields({"kubernetes.io/cluster/c": "owned"})["eks_cluster"] == "c"
    assert tag_fields({"karpenter.sh/provisioner-name": "old"})["karpenter_nodepool"] == "old"


def test_missing_instance_document_keeps_what_the_event_carries():
    event = parse_event(
        spot_warning(INSTANCE, region="us-west-2", zone="us-west-2c", time="2026-11-25T08:00:00Z")
    )
    doc = build_document(
        event, None, {"us-west-2c": "usw2-az3"}, now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert doc == {
        "event_id": event.event_id,
        "event_type": "EC2 Spot Instance Interruption Warning",
        "event_time": "2026-11-25T08:00:00Z",
        "ingested_at": "2026-01-01T00:00:00Z",
        "account": "123456789012",
        "region": "us-west-2",
        "instance_id": INSTANCE,
        "instance_action": "terminate",
        "availability_zone": "us-west-2c",
        "availability_zone_id": "usw2-az3",
        "capacity_group": "unknown",
        "enrichment": "missing",
        "enrichment_reason": "instance_not_found",
        "eviction_confirmed": False,  # until its eviction arrives (linking.py)
    }


def test_runtime_is_event_time_minus_launch_time():
    event = parse_event(spot_warning(INSTANCE, time="2026-11-25T08:00:00Z"))
    instance = {
        "InstanceId": INSTANCE,
        "InstanceType": "c7g.2xlarge",
        "LaunchTime": datetime(2026, 11, 25, 6, 30, tzinfo=UTC),
        "Placement": {"AvailabilityZone": "us-east-1b"},
    }
    doc = build_document(event, instance, {})
    assert doc["runtime_seconds"] == 5400
    assert doc["launch_time"] == "2026-11-25T06:30:00Z"
    assert (doc["instance_family"], doc["instance_size"]) == ("c7g", "2xlarge")
    assert doc["lifecycle"] == "on-demand"
    assert doc["availability_zone"] == "us-east-1b"
    assert doc["enrichment"] == "full"


def test_handler_refuses_an_event_that_is_not_from_sqs():
    # Basic auth: building the client needs no credentials and connects nowhere.
    search = SearchSettings(endpoint="http://127.0.0.1:9", user="u", password="p")
    handler = build_handler(IngestConfig(search=search))
    # Powertools notes that the failed invocation published no metrics.
    with pytest.raises(ValueError, match="Records"), pytest.warns(UserWarning, match="metrics"):
        handler({"detail-type": "EC2 Spot Instance Interruption Warning"}, fake_context())


def test_a_test_source_is_accepted_only_when_the_deployment_opted_in():
    event = spot_warning("i-0123456789abcdef0")
    event["source"] = "spot-insights.simulate"
    with pytest.raises(InvalidEvent, match=r"unexpected source 'spot-insights\.simulate'"):
        parse_event(event)  # default: ACCEPTED_SOURCES unset, EC2 only
    opted_in = frozenset({"aws.ec2", "spot-insights.simulate"})
    assert parse_event(event, opted_in).instance_id == "i-0123456789abcdef0"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e["detail"].update({"instance-id": "i-00000000\n"}), "instance-id"),
        (lambda e: e.update({"source": ["aws.ec2"]}), "source"),
        (lambda e: e.update({"detail-type": ["EC2 Spot Instance Interruption Warning"]}), "detail"),
        (lambda e: e["detail"].update({"instance-action": ["terminate"]}), "instance-action"),
        (lambda e: e.update({"time": "9999-12-31T23:00:00-01:00"}), "outside years"),
        (lambda e: e.update({"time": "0001-01-01T00:00:00+00:01"}), "outside years"),
        (lambda e: e.update({"region": "us-east-1\n"}), "region"),
        (lambda e: e.update({"region": ["us-east-1"]}), "region"),
    ],
)
def test_body_content_that_used_to_raise_is_an_invalid_event(mutate, message):
    event = spot_warning(INSTANCE)
    mutate(event)
    with pytest.raises(InvalidEvent, match=message):
        parse_event(event)


def test_event_time_is_kept_in_utc():
    event = parse_event(spot_warning(INSTANCE, time="2026-11-25T08:00:00+02:00"))
    assert event.event_time == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
