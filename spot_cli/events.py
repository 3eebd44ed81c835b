"""The EC2 events the pipeline captures, shaped exactly as EventBridge delivers them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lambda_src.contract import (
    BID_EVICTED_EVENT_NAME,
    CLOUDTRAIL_DETAIL_TYPE,
    DETAIL_TYPES,
    EC2_SOURCE,
    REBALANCE_DETAIL_TYPE,
    WARNING_DETAIL_TYPE,
    rule_pattern,
)

SOURCE = EC2_SOURCE
WARNING = WARNING_DETAIL_TYPE
REBALANCE = REBALANCE_DETAIL_TYPE
INSTANCE_ACTIONS: tuple[str, ...] = ("terminate", "stop", "hibernate")

# The pattern of the deployed rule on the default bus.
EVENT_PATTERN: Mapping[str, Any] = {"source": [SOURCE], "detail-type": list(DETAIL_TYPES)}
# Evictions come under CloudTrail's detail-type for every service event: their own rule.
EVICTION = CLOUDTRAIL_DETAIL_TYPE
EVICTION_PATTERN: Mapping[str, Any] = rule_pattern(CLOUDTRAIL_DETAIL_TYPE)


def format_time(when: datetime) -> str:
    """EventBridge's `time`: UTC, second precision, `Z` suffix."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def instance_arn(availability_zone: str, instance_id: str) -> str:
    # Real interruption events carry the AZ in the region slot and no account.
    return f"arn:aws:ec2:{availability_zone}:instance/{instance_id}"


def ec2_event(
    *,
    event_id: str,
    detail_type: str,
    account: str,
    region: str,
    availability_zone: str,
    instance_id: str,
    when: datetime,
    instance_action: str | None = None,
    source: str = SOURCE,
) -> dict[str, Any]:
    detail: dict[str, Any] = {"instance-id": instance_id}
    if detail_type == WARNING:
        detail["instance-action"] = instance_action or "terminate"
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": format_time(when),
        "region": region,
        "resources": [instance_arn(availability_zone, instance_id)],
        "detail": detail,
    }


def eviction_event(
    *,
    cloudtrail_event_id: str,
    account: str,
    region: str,
    instance_ids: list[str],
    when: datetime,
    source: str = SOURCE,
) -> dict[str, Any]:
    """A CloudTrail `BidEvictedEvent` as EventBridge delivers it: the CloudTrail record is the
    `detail` (request and response null, the instances in serviceEventDetails.instanceIdSet)."""
    return {
        "version": "0",
        "id": cloudtrail_event_id,  # EventBridge assigns its own; only the record's id counts
        "detail-type": CLOUDTRAIL_DETAIL_TYPE,
        "source": source,
        "account": account,
        "time": format_time(when),
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.05",
            "userIdentity": {"accountId": account, "invokedBy": "ec2.amazonaws.com"},
            "eventTime": format_time(when),
            "eventSource": "ec2.amazonaws.com",
            "eventName": BID_EVICTED_EVENT_NAME,
            "awsRegion": region,
            "sourceIPAddress": "ec2.amazonaws.com",
            "userAgent": "ec2.amazonaws.com",
            "requestParameters": None,
            "responseElements": None,
            "eventID": cloudtrail_event_id,
            "eventType": "AwsServiceEvent",
            "recipientAccountId": account,
            "serviceEventDetails": {"instanceIdSet": list(instance_ids)},
        },
    }
