"""Typed models of the EventBridge events we ingest, and the registry that maps an event kind
(its detail-type, narrowed by `detail.eventName` for CloudTrail's shared detail-type) to its
model. Adding an event type is one small subclass with `@register`.

One record may hold several events: a CloudTrail `BidEvictedEvent` lists every evicted instance
in `serviceEventDetails.instanceIdSet`, and each instance is one event (one document)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from lambda_src.contract import (
    BID_EVICTED_EVENT_NAME,
    CLOUDTRAIL_DETAIL_TYPE,
    EC2_SOURCE,
    EVICTION_EVENT_TYPE,
    REBALANCE_DETAIL_TYPE,
    WARNING_DETAIL_TYPE,
)

# Unless the configuration says otherwise (IngestConfig.accepted_sources), EC2 alone.
EC2_ONLY = frozenset({EC2_SOURCE})
# Always used with fullmatch: `$` alone would accept a trailing newline.
INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
# Region names as AWS spells them (us-east-1, us-gov-west-1, eusc-de-east-1). The region picks
# the EC2 endpoint and a client the container keeps, so free text must not reach it.
REGION = re.compile(r"[a-z]{2,5}(?:-[a-z]+)+-[0-9]{1,2}")
ACCOUNT = re.compile(r"[0-9]{12}")
# Real warnings may put the AZ in the ARN's region slot (arn:aws:ec2:us-west-2c:instance/i-...).
_ARN_ZONE = re.compile(r"^arn:[^:]+:ec2:([a-z]{2}(?:-[a-z]+)+-\d[a-z]):")


class InvalidEvent(ValueError):
    """The record can never be ingested as it is (a poison record); the message says why."""


@dataclass(frozen=True)
class SpotEvent:
    """Fields every ingested event carries; subclasses add what their `detail` holds.

    `event_id` is the document's `_id`: the same event delivered again is the same document."""

    detail_type: ClassVar[str]  # the EventBridge detail-type routed to this model
    event_name: ClassVar[str | None] = None  # and `detail.eventName`, where it narrows it
    event_type: ClassVar[str]  # the document's `event_type`

    event_id: str
    event_time: datetime
    account: str
    region: str
    instance_id: str
    zone_hint: str | None

    @classmethod
    def from_record(cls, envelope: dict[str, Any], detail: dict[str, Any]) -> tuple[SpotEvent, ...]:
        """The events one EventBridge record holds (`envelope`: the validated envelope fields
        `event_id`, `event_time`, `account`, `region`, `zone_hint`). By default one, for the
        instance in `detail.instance-id`."""
        instance_id = detail.get("instance-id")
        if not isinstance(instance_id, str) or not INSTANCE_ID.fullmatch(instance_id):
            raise InvalidEvent("detail.instance-id is missing or not an instance id")
        return (cls.from_detail({**envelope, "instance_id": instance_id}, detail),)

    @classmethod
    def from_detail(cls, common: dict[str, Any], detail: dict[str, Any]) -> SpotEvent:
        """Build the model from the envelope fields and the `detail` object."""
        return cls(**common)

    def event_fields(self) -> dict[str, Any]:
        """Document fields this event type contributes beyond the common ones."""
        return {}


EventKind = tuple[str, str | None]  # (detail-type, detail.eventName or None)
_REGISTRY: dict[EventKind, type[SpotEvent]] = {}


def register(model: type[SpotEvent]) -> type[SpotEvent]:
    """Class decorator: route events of `model`'s detail-type (and event name) to `model`."""
    kind = (model.detail_type, model.event_name)
    if kind in _REGISTRY:
        raise ValueError(f"event kind {kind!r} is already registered")
    _REGISTRY[kind] = model
    return model


def registered_kinds() -> tuple[EventKind, ...]:
    """The (detail-type, event name) pairs with a model; the rules match
    `contract.EVENT_PATTERNS` (a test checks that the two agree)."""
    return tuple(_REGISTRY)


def registered_detail_types() -> tuple[str, ...]:
    """The detail-types with a model (`contract.ACCEPTED_DETAIL_TYPES`)."""
    return tuple(dict.fromkeys(detail_type for detail_type, _ in _REGISTRY))


@register
@dataclass(frozen=True)
class SpotInterruptionWarning(SpotEvent):
    detail_type: ClassVar[str] = WARNING_DETAIL_TYPE
    event_type: ClassVar[str] = WARNING_DETAIL_TYPE
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
    event_type: ClassVar[str] = REBALANCE_DETAIL_TYPE


def eviction_document_id(cloudtrail_event_id: str, instance_id: str) -> str:
    """The `_id` of one instance's eviction document: from the CloudTrail record's own
    `eventID` (never the EventBridge envelope's id), so the eviction delivered live and the same
    record found later in CloudTrail's event history (backfill) are one document."""
    return f"{cloudtrail_event_id}:{instance_id}"


@register
@dataclass(frozen=True)
class SpotEviction(SpotEvent):
    """EC2 evicted the instance (CloudTrail `BidEvictedEvent`): the ground truth that an
    interruption happened, whether or not a warning came first."""

    detail_type: ClassVar[str] = CLOUDTRAIL_DETAIL_TYPE
    event_name: ClassVar[str | None] = BID_EVICTED_EVENT_NAME
    event_type: ClassVar[str] = EVICTION_EVENT_TYPE

    cloudtrail_event_id: str = ""

    @classmethod
    def from_record(cls, envelope: dict[str, Any], detail: dict[str, Any]) -> tuple[SpotEvent, ...]:
        # The account and region the event came from are the envelope's (validated there);
        # the time is the record's own, as backfill sees it.
        return evictions_from_cloudtrail(
            detail, account=envelope["account"], region=envelope["region"]
        )

    def event_fields(self) -> dict[str, Any]:
        return {"cloudtrail_event_id": self.cloudtrail_event_id}


def evictions_from_cloudtrail(
    record: Any, *, account: str | None = None, region: str | None = None
) -> tuple[SpotEviction, ...]:
    """The evictions of one CloudTrail `BidEvictedEvent` record (the EventBridge event's
    `detail`, or a LookupEvents `CloudTrailEvent` decoded), one per instance, in the order
    listed, repeats dropped. Without `account`/`region` they are the record's
    `recipientAccountId`/`awsRegion`.

    A record with no valid instance id, or with any entry that is not one, is refused whole
    (InvalidEvent): it goes to the DLQ with the reason rather than being indexed in part."""
    if not isinstance(record, dict):
        raise InvalidEvent("the CloudTrail record is not an object")
    name = record.get("eventName")
    if name != BID_EVICTED_EVENT_NAME:
        raise InvalidEvent(f"eventName {_shown(name)} is not {BID_EVICTED_EVENT_NAME}")
    cloudtrail_event_id = _required_str(record, "eventID")
    event_time = _timestamp(_required_str(record, "eventTime"))
    account = account or _account(record)
    region = region or _region_of(record, "awsRegion")
    details = record.get("serviceEventDetails")
    ids = details.get("instanceIdSet") if isinstance(details, dict) else None
    if not isinstance(ids, list) or not ids:
        raise InvalidEvent("serviceEventDetails.instanceIdSet is missing or empty")
    for position, instance_id in enumerate(ids):
        if not isinstance(instance_id, str) or not INSTANCE_ID.fullmatch(instance_id):
            raise InvalidEvent(
                f"serviceEventDetails.instanceIdSet[{position}] {_shown(instance_id)} "
                "is not an instance id"
            )
    return tuple(
        SpotEviction(
            event_id=eviction_document_id(cloudtrail_event_id, instance_id),
            event_time=event_time,
            account=account,
            region=region,
            instance_id=instance_id,
            zone_hint=None,
            cloudtrail_event_id=cloudtrail_event_id,
        )
        for instance_id in dict.fromkeys(ids)
    )


def _account(record: dict[str, Any]) -> str:
    value = record.get("recipientAccountId")
    if not isinstance(value, str) or not ACCOUNT.fullmatch(value):
        raise InvalidEvent(f"recipientAccountId {_shown(value)} is not an account id")
    return value


def parse_events(event: Any, accepted_sources: frozenset[str] = EC2_ONLY) -> tuple[SpotEvent, ...]:
    """Validate an EventBridge event (already decoded from JSON) and return the typed events it
    holds: one, or one per instance for an eviction. Raises InvalidEvent with the reason."""
    if not isinstance(event, dict):
        raise InvalidEvent("the message body is not a JSON object")
    # Any JSON value can stand where a string is expected: test the type before looking it up.
    source = event.get("source")
    if not isinstance(source, str) or source not in accepted_sources:
        raise InvalidEvent(f"unexpected source {_shown(source)}")
    detail_type = event.get("detail-type")
    detail = event.get("detail")
    model = _model(detail_type, detail)
    if not isinstance(detail, dict):
        raise InvalidEvent("detail is missing or not an object")
    envelope = {
        "event_id": _required_str(event, "id"),
        "event_time": _timestamp(_required_str(event, "time")),
        "account": _required_str(event, "account"),
        "region": _region_of(event, "region"),
        "zone_hint": _zone_from_resources(event.get("resources")),
    }
    return model.from_record(envelope, detail)


def parse_event(event: Any, accepted_sources: frozenset[str] = EC2_ONLY) -> SpotEvent:
    """`parse_events` for a record that holds exactly one event (a warning, a rebalance
    recommendation, an eviction of one instance)."""
    events = parse_events(event, accepted_sources)
    if len(events) != 1:
        raise InvalidEvent(f"the record holds {len(events)} events, not one")
    return events[0]


def _model(detail_type: Any, detail: Any) -> type[SpotEvent]:
    if not isinstance(detail_type, str) or not any(k[0] == detail_type for k in _REGISTRY):
        raise InvalidEvent(f"unsupported detail-type {_shown(detail_type)}")
    model = _REGISTRY.get((detail_type, None))
    if model is not None:
        return model
    name = detail.get("eventName") if isinstance(detail, dict) else None
    model = _REGISTRY.get((detail_type, name)) if isinstance(name, str) else None
    if model is None:
        raise InvalidEvent(f"unsupported detail.eventName {_shown(name)} for {detail_type!r}")
    return model


def _required_str(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"{key} is missing or empty")
    return value


def _shown(value: Any) -> str:
    """A value for a reason: repr (escapes control characters), cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 100 else f"{text[:100]}..."


def _region_of(event: dict[str, Any], key: str) -> str:
    value = _required_str(event, key)
    if not REGION.fullmatch(value):
        raise InvalidEvent(f"{key} {_shown(value)} is not a region name")
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
