"""The OpenSearch document for one event: what the event carries plus what EC2 and tags add.

Field names and types follow dashboards/index-mapping.json (dynamic: strict)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lambda_src.ingest.events import SpotEvent, eviction_document_id
from lambda_src.ingest.linking import initial_fields
from lambda_src.ingest.tags import tag_fields, tag_map

__all__ = ["build_document", "eviction_document_id"]

FULL = "full"
MISSING = "missing"
# enrichment_reason values
INSTANCE_NOT_FOUND = "instance_not_found"
LOOKUP_FAILED = "lookup_failed"
# capacity_group when the instance could not be looked up: not the same as a real standalone one.
UNKNOWN_CAPACITY_GROUP = "unknown"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_document(
    event: SpotEvent,
    instance: dict[str, Any] | None,
    zone_ids: dict[str, str],
    *,
    missing_reason: str = INSTANCE_NOT_FOUND,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Without `instance` the document still carries everything the event holds
    (`enrichment: missing` plus `missing_reason`): an event is never dropped for lack of metadata.
    """
    doc: dict[str, Any] = {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "event_time": _iso(event.event_time),
        "ingested_at": _iso(now or datetime.now(UTC)),
        "account": event.account,
        "region": event.region,
        "instance_id": event.instance_id,
        "availability_zone": event.zone_hint,
        **event.event_fields(),
    }
    if instance is None:
        doc.update(
            enrichment=MISSING,
            enrichment_reason=missing_reason,
            capacity_group=UNKNOWN_CAPACITY_GROUP,
        )
    else:
        doc.update(_instance_fields(event, instance))
        doc["enrichment"] = FULL
    zone = doc.get("availability_zone")
    if zone and zone in zone_ids:
        doc["availability_zone_id"] = zone_ids[zone]
    if doc.get("instance_type") and doc.get("availability_zone_id"):
        # A Spot capacity pool: comparable across accounts because it uses the AZ id.
        doc["pool"] = f"{doc['instance_type']}:{doc['availability_zone_id']}"
    doc.update(initial_fields(event.event_type))
    return {key: value for key, value in doc.items() if value not in (None, "")}


def _instance_fields(event: SpotEvent, instance: dict[str, Any]) -> dict[str, Any]:
    instance_type = instance.get("InstanceType") or ""
    family, _, size = instance_type.partition(".")
    launch_time = instance.get("LaunchTime")
    fields: dict[str, Any] = {
        "instance_type": instance_type,
        "instance_family": family,
        "instance_size": size,
        # DescribeInstances omits InstanceLifecycle for on-demand instances.
        "lifecycle": instance.get("InstanceLifecycle") or "on-demand",
        "private_ip": instance.get("PrivateIpAddress"),
        "public_ip": instance.get("PublicIpAddress"),
        "image_id": instance.get("ImageId"),
        "architecture": instance.get("Architecture"),
        "vpc_id": instance.get("VpcId"),
        "subnet_id": instance.get("SubnetId"),
        **tag_fields(tag_map(instance.get("Tags"))),
    }
    zone = (instance.get("Placement") or {}).get("AvailabilityZone")
    if zone:
        fields["availability_zone"] = zone
    if isinstance(launch_time, datetime):
        fields["launch_time"] = _iso(launch_time)
        runtime = int((event.event_time - launch_time).total_seconds())
        # Clock skew can put the launch after the warning; a negative runtime means nothing.
        if runtime >= 0:
            fields["runtime_seconds"] = runtime
    return fields
