"""Typed models of the EventBridge events we ingest, and the registry that maps a detail-type
to its model. Adding an event type is one small subclass with `@register`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from lambda_src.contract import EC2_SOURCE, REBALANCE_DETAIL_TYPE, WARNING_DETAIL_TYPE

# Unless the configuration says otherwise (IngestConfig.accepted_sources), EC2 alone.
EC2_ONLY = frozenset({EC2_SOURCE})
# Always used with fullmatch: `$` alone would accept a trailing newline.
INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
# Region names as AWS spells them (us-east-1, us-gov-west-1, eusc-de-east-1). The region picks
# the EC2 endpoint and a client the container keeps, so free text must not reach it.
REGION = re.compile(r"[a-z]{2,5}(?:-[a-z]+)+-[0-9]{1,2}")
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
    """The detail-types with a model; the rules match `contract.DETAIL_TYPES` (a test checks
    that the two agree)."""
    return tuple(_REGISTRY)


@register
@dataclass(frozen=True)
class SpotInterruptionWarning(SpotEvent):
    detail_type: ClassVar[str] = WARNING_DETAIL_TYPE
    ACTIONS: ClassVar[frozenset[str]] = frozenset({"terminate", "stop", "hibernate"})

    instance_action: str = ""

    @classmethod
    def from_detail(cls, common: dict[str, Any], detail: dict[str, Any]) -> SpotEvent:
        action = detail.get("instance-action")
        if not isinstance(action, str) or action not in cls.ACTIONS:
            raise InvalidEvent(f"detail.instance-action must be one of {sorted(cls.ACTIONS)}")
        return cls(**common, instance_action=action)

    def event_fields(self) -> dict[str, Any]:
        return {"instance_action": self.instance_action}


@register
@dataclass(frozen=True)
class RebalanceRecommendation(SpotEvent):
    detail_type: ClassVar[str] = REBALANCE_DETAIL_TYPE


def parse_event(event: Any, accepted_sources: frozenset[str] = EC2_ONLY) -> SpotEvent:
    """Validate an EventBridge event (already decoded from JSON) and return its typed model."""
    if not isinstance(event, dict):
        raise InvalidEvent("the message body is not a JSON object")
    # Any JSON value can stand where a string is expected: test the type before looking it up.
    source = event.get("source")
    if not isinstance(source, str) or source not in accepted_sources:
        raise InvalidEvent(f"unexpected source {_shown(source)}")
    detail_type = event.get("detail-type")
    model = _REGISTRY.get(detail_type) if isinstance(detail_type, str) else None
    if model is None:
        raise InvalidEvent(f"unsupported detail-type {_shown(detail_type)}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidEvent("detail is missing or not an object")
    instance_id = detail.get("instance-id")
    if not isinstance(instance_id, str) or not INSTANCE_ID.fullmatch(instance_id):
        raise InvalidEvent("detail.instance-id is missing or not an instance id")
    common = {
        "event_id": _required_str(event, "id"),
        "event_time": _timestamp(_required_str(event, "time")),
        "account": _required_str(event, "account"),
        "region": _region(event),
        "instance_id": instance_id,
        "zone_hint": _zone_from_resources(event.get("resources")),
    }
    return model.from_detail(common, detail)


def _required_str(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"{key} is missing or empty")
    return value


def _shown(value: Any) -> str:
    """A value for a reason: repr (escapes control characters), cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 100 else f"{text[:100]}..."


def _region(event: dict[str, Any]) -> str:
    value = _required_str(event, "region")
    if not REGION.fullmatch(value):
        raise InvalidEvent(f"region {_shown(value)} is not a region name")
    return value


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidEvent(f"time {_shown(value)} is not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise InvalidEvent(f"time {_shown(value)} has no time zone")
    try:
        # Normalised here so that a zone offset cannot push the instant out of datetime's
        # range later (9999-12-31T23:00:00-01:00 is year 10000 in UTC).
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidEvent(f"time {_shown(value)} is outside years 1-9999 in UTC") from exc


def _zone_from_resources(resources: Any) -> str | None:
    if not isinstance(resources, list):
        return None
    for arn in resources:
        match = _ARN_ZONE.match(arn) if isinstance(arn, str) else None
        if match:
            return match.group(1)
    return None
