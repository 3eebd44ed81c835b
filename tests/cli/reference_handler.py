"""A small stand-in for the ingest handler (issue 3) so the local pipeline can be tested end to
end before the real one is wired in. Test support only: it enriches from moto's EC2 and
bulk-indexes with `_id` = event id; poison records are reported as failures until the queue's
redrive policy moves them to the DLQ."""

import json
import os
from datetime import UTC, datetime

import boto3

from lambda_src.ingest.linking import Linker
from spot_cli.events import DETAIL_TYPES, WARNING, parse_time


class ReferenceHandler:
    def __init__(self, client, alias):
        self.client = client
        self.alias = alias
        self.ec2 = {}

    def _describe(self, region, ids):
        ec2 = self.ec2.setdefault(region, boto3.client("ec2", region_name=region))
        found = {}
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            for page in ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "instance-id", "Values": chunk}]
            ):
                for reservation in page["Reservations"]:
                    for raw in reservation["Instances"]:
                        found[raw["InstanceId"]] = raw
        return found

    def __call__(self, event, context):
        failures = []
        valid = []
        for record in event["Records"]:
            try:
                body = json.loads(record["body"])
                assert isinstance(body, dict) and body["detail-type"] in DETAIL_TYPES
                assert isinstance(body["detail"]["instance-id"], str)
                valid.append((record, body))
            except (ValueError, KeyError, TypeError, AssertionError):
                failures.append({"itemIdentifier": record["messageId"]})
        by_region = {}
        for _, body in valid:
            by_region.setdefault(body["region"], set()).add(body["detail"]["instance-id"])
        instances = {}
        for region, ids in by_region.items():
            instances.update(self._describe(region, sorted(ids)))
        lines = []
        docs = [self._document(body, instances) for _, body in valid]
        for doc in docs:
            lines.append(json.dumps({"index": {"_index": self.alias, "_id": doc["event_id"]}}))
            lines.append(json.dumps(doc))
        if lines:
            response = self.client.bulk(
                body="\n".join(lines) + "\n", require_alias=True, refresh="wait_for"
            )
            for (record, _), item in zip(valid, response["items"], strict=True):
                if item["index"]["status"] >= 300:
                    failures.append({"itemIdentifier": record["messageId"]})
            # The report reads link fields written at ingest: the product's own linking step.
            unlinked = Linker(self.client, self.alias).link(docs)
            failures += [
                {"itemIdentifier": record["messageId"]}
                for record, body in valid
                if body["detail"]["instance-id"] in unlinked
            ]
        return {"batchItemFailures": failures}

    @staticmethod
    def _document(body, instances):
        iid = body["detail"]["instance-id"]
        doc = {
            "event_id": body["id"],
            "event_type": body["detail-type"],
            "event_time": body["time"],
            "ingested_at": datetime.now(UTC).isoformat(),
            "account": body["account"],
            "region": body["region"],
            "availability_zone": body["resources"][0].split(":")[3],
            "instance_id": iid,
            "capacity_group": "standalone",
            "enrichment": "missing",
        }
        if body["detail-type"] == WARNING:
            doc["instance_action"] = body["detail"]["instance-action"]
        raw = instances.get(iid)
        if raw is None:
            return doc
        tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
        launched = raw["LaunchTime"].astimezone(UTC)
        group = (
            tags.get("karpenter.sh/nodepool")
            or tags.get("eks:nodegroup-name")
            or tags.get("aws:autoscaling:groupName")
            or tags.get("aws:ecs:clusterName")
            or "standalone"
        )
        doc.update(
            instance_type=raw["InstanceType"],
            instance_family=raw["InstanceType"].split(".")[0],
            instance_size=raw["InstanceType"].split(".")[1],
            capacity_group=group,
            launch_time=launched.isoformat(),
            runtime_seconds=int((parse_time(body["time"]) - launched).total_seconds()),
            enrichment="full",
        )
        return doc


_instance = None


def handler(event, context):
    """Module-level entry point configured from the environment, as a Lambda handler is."""
    global _instance  # noqa: PLW0603 - per-container state, like the real handler's clients
    if _instance is None:
        from opensearchpy import OpenSearch  # noqa: PLC0415

        endpoint = os.environ["OPENSEARCH_ENDPOINT"]
        client = OpenSearch(
            hosts=[endpoint],
            http_auth=(os.environ["OPENSEARCH_USER"], os.environ["OPENSEARCH_PASSWORD"]),
            use_ssl=endpoint.startswith("https"),
            verify_certs=endpoint.startswith("https"),
            ca_certs=os.environ.get("OPENSEARCH_CA_CERTS"),
            timeout=30,
        )
        _instance = ReferenceHandler(client, os.environ["INDEX_ALIAS"])
    return _instance(event, context)
