"""The EC2 events the pipeline captures, shaped exactly as EventBridge delivers them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lambda_src.contract import DETAIL_TYPES, EC2_SOURCE, REBALANCE_DETAIL_TYPE, WARNING_DETAIL_TYPE

SOURCE = EC2_SOURCE
WARNING = WARNING_DETAIL_TYPE
REBALANCE = REBALANCE_DETAIL_TYPE
INSTANCE_ACTIONS: tuple[str, ...] = ("terminate", "stop", "hibernate")

# The pattern of the deployed rule on the default bus.
EVENT_PATTERN: Mapping[str, Any] = {"source": [SOURCE], "detail-type": list(DETAIL_TYPES)}


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
