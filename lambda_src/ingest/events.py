"""Typed models of the EventBridge events we ingest, and the registry that maps a detail-type
to its model. Adding an event type is one small subclass with `@register`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

# EC2 itself, plus a test source the deployment opted into (IngestPipeline test_event_source).
ACCEPTED_SOURCES = frozenset(
    source.strip()
    for source in os.environ.get("ACCEPTED_SOURCES", "aws.ec2").split(",")
    if source.strip()
)
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
# Real warnings may put the AZ in the ARN's region slot (arn:aws:ec2:us-west-2c:instance/i-...).
_ARN_ZONE = re.compile(r"^arn:[^:]+:ec2:([a-z]{2}(?:-[a-z]+)+-\d[a-z]):")


class InvalidEvent(ValueError):
    """The record can never be ingested as it is (a poison record); the message says why."""


@dataclass(frozen=True)
class SpotEvent:
    """Fields every ingested event carries; subclasses add what their `detail` holds."""

    detail_type: ClassVar[str]

    event_id: str
    event_time: datetime
    account: str
    region: str
    instance_id: str
    zone_hint: str | None

    @classmethod
    def from_detail(cls, common: dict[str, Any], detail: dict[str, Any]) -> SpotEvent:
        """Build the model from the envelope fields and the `detail` object."""
        return cls(**common)

    def event_fields(self) -> dict[str, Any]:
        """Document fields this event type contributes beyond the common ones."""
        return {}


_REGISTRY: dict[str, type[SpotEvent]] = {}


def register(model: type[SpotEvent]) -> type[SpotEvent]:
    """Class decorator: route events with `model.detail_type` to `model`."""
    if model.detail_type in _REGISTRY:
        raise ValueError(f"detail-type {model.detail_type!r} is already registered")
    _REGISTRY[model.detail_type] = model
    return model


def registered_detail_types() -> tuple[str, ...]:
    """The detail-types the EventBridge rules must match (the construct keeps its own list)."""
    return tuple(_REGISTRY)


@register
@dataclass(frozen=True)
class SpotInterruptionWarning(SpotEvent):
    detail_type: ClassVar[str] = "EC2 Spot Instance Interruption Warning"
    ACTIONS: ClassVar[frozenset[str]] = frozenset({"terminate", "stop", "hibernate"})

    instance_action: str = ""

    @classmethod
    def from_detail(cls, common: dict[str, Any], detail: dict[str, Any]) -> SpotEvent:
        action = detail.get("instance-action")
        if action not in cls.ACTIONS:
            raise InvalidEvent(f"detail.instance-action must be one of {sorted(cls.ACTIONS)}")
        return cls(**common, instance_action=action)

    def event_fields(self) -> dict[str, Any]:
        return {"instance_action": self.instance_action}


@register
@dataclass(frozen=True)
class RebalanceRecommendation(SpotEvent):
    detail_type: ClassVar[str] = "EC2 Instance Rebalance Recommendation"


def parse_event(event: Any, accepted_sources: frozenset[str] = ACCEPTED_SOURCES) -> SpotEvent:
    """Validate an EventBridge event (already decoded from JSON) and return its typed model."""
    if not isinstance(event, dict):
        raise InvalidEvent("the message body is not a JSON object")
    if event.get("source") not in accepted_sources:
        raise InvalidEvent(f"unexpected source {event.get('source')!r}")
    model = _REGISTRY.get(event.get("detail-type"))  # type: ignore[arg-type]
    if model is None:
        raise InvalidEvent(f"unsupported detail-type {event.get('detail-type')!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidEvent("detail is missing or not an object")
    instance_id = detail.get("instance-id")
    if not isinstance(instance_id, str) or not INSTANCE_ID.match(instance_id):
        raise InvalidEvent("detail.instance-id is missing or not an instance id")
    common = {
        "event_id": _required_str(event, "id"),
        "event_time": _timestamp(_required_str(event, "time")),
        "account": _required_str(event, "account"),
        "region": _required_str(event, "region"),
        "instance_id": instance_id,
        "zone_hint": _zone_from_resources(event.get("resources")),
    }
    return model.from_detail(common, detail)


def _required_str(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"{key} is missing or empty")
    return value


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidEvent(f"time {value!r} is not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise InvalidEvent(f"time {value!r} has no time zone")
    return parsed


def _zone_from_resources(resources: Any) -> str | None:
    if not isinstance(resources, list):
        return None
    for arn in resources:
        match = _ARN_ZONE.match(arn) if isinstance(arn, str) else None
        if match:
            return match.group(1)
    return None
