"""Event documents as the ingest function writes them (shaped by dashboards/index-mapping.json),
built straight from a generated storm so the report tests can count the truth themselves; the
link fields are added by the ingest function's own linking step (lambda_src/ingest/linking.py)."""

import json
from datetime import UTC, datetime
from pathlib import Path

from lambda_src.ingest.linking import Linker, initial_fields
from spot_cli.events import WARNING, parse_time
from spot_cli.local.fleet import Fleet

MAPPING = json.loads(
    (Path(__file__).resolve().parents[2] / "dashboards" / "index-mapping.json").read_text()
)


def document(event, fleet: Fleet) -> dict:
    detail = event["detail"]
    instance = fleet.by_id.get(detail["instance-id"])
    az = event["resources"][0].split(":")[3]
    doc = {
        "event_id": event["id"],
        "event_type": event["detail-type"],
        "event_time": event["time"],
        "ingested_at": datetime.now(UTC).isoformat(),
        "account": event["account"],
        "region": event["region"],
        "availability_zone": az,
        "instance_id": detail["instance-id"],
        "enrichment": "missing",
        "enrichment_reason": "instance not found",
        "capacity_group": "unknown",
    }
    if event["detail-type"] == WARNING:
        doc["instance_action"] = detail["instance-action"]
    doc.update(initial_fields(event["detail-type"]))
    if instance is None:
        return doc
    runtime = parse_time(event["time"]) - instance.launch_time
    doc.update(
        {
            "availability_zone_id": instance.availability_zone_id,
            "instance_type": instance.instance_type,
            "instance_family": instance.instance_family,
            "instance_size": instance.instance_size,
            "instance_name": instance.tags.get("Name"),
            "capacity_group": instance.capacity_group,
            "lifecycle": "spot",
            "launch_time": instance.launch_time.isoformat(),
            "runtime_seconds": int(runtime.total_seconds()),
            "private_ip": instance.private_ip,
            "image_id": instance.image_id,
            "architecture": instance.architecture,
            "vpc_id": instance.vpc_id,
            "subnet_id": instance.subnet_id,
            "enrichment": "full",
        }
    )
    doc.pop("enrichment_reason")
    for key in ("asg_name", "eks_cluster", "eks_nodegroup", "karpenter_nodepool", "ecs_cluster"):
        if getattr(instance, key):
            doc[key] = getattr(instance, key)
    return {k: v for k, v in doc.items() if v is not None}


def index_documents(client, prefix: str, docs: list[dict]) -> None:
    index = f"{prefix}-000001"
    client.indices.create(
        index=index,
        body={
            "settings": {"number_of_replicas": 0, "number_of_shards": 1},
            "mappings": MAPPING,
            "aliases": {f"{prefix}-write": {"is_write_index": True}},
        },
    )
    lines = []
    for doc in docs:
        lines.append(json.dumps({"index": {"_index": f"{prefix}-write", "_id": doc["event_id"]}}))
        lines.append(json.dumps(doc))
    response = client.bulk(body="\n".join(lines) + "\n", refresh="true", require_alias=True)
    assert not response["errors"], response
    # The link fields the report reads, written by the ingest function's own linking step.
    assert Linker(client, f"{prefix}-write").link(docs) == {}
    client.indices.refresh(index=index)
