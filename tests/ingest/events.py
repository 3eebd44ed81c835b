"""Builders for EventBridge events as EC2 emits them and SQS records as Lambda receives them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

WARNING = "EC2 Spot Instance Interruption Warning"
REBALANCE = "EC2 Instance Rebalance Recommendation"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spot_warning(
    instance_id: str,
    *,
    region: str = "us-east-1",
    action: str = "terminate",
    time: str | None = None,
    event_id: str | None = None,
    zone: str | None = None,
) -> dict[str, Any]:
    # Real warnings name the AZ in the ARN's region slot and leave the account out.
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": WARNING,
        "source": "aws.ec2",
        "account": "123456789012",
        "time": time or _now(),
        "region": region,
        "resources": [f"arn:aws:ec2:{zone or region + 'a'}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "instance-action": action},
    }


def rebalance(
    instance_id: str,
    *,
    region: str = "us-east-1",
    time: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": REBALANCE,
        "source": "aws.ec2",
        "account": "123456789012",
        "time": time or _now(),
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:123456789012:instance/{instance_id}"],
        "detail": {"instance-id": instance_id},
    }


def eviction(
    instance_ids: list[Any],
    *,
    region: str = "us-east-1",
    time: str | None = None,
    cloudtrail_event_id: str | None = None,
    envelope_id: str | None = None,
) -> dict[str, Any]:
    """A CloudTrail `BidEvictedEvent` as EventBridge delivers it (the documented record shape:
    request and response null, the instances in serviceEventDetails.instanceIdSet)."""
    when = time or _now()
    return {
        "version": "0",
        "id": envelope_id or str(uuid.uuid4()),
        "detail-type": "AWS Service Event via CloudTrail",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": when,
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.05",
            "userIdentity": {"accountId": "123456789012", "invokedBy": "ec2.amazonaws.com"},
            "eventTime": when,
            "eventSource": "ec2.amazonaws.com",
            "eventName": "BidEvictedEvent",
            "awsRegion": region,
            "sourceIPAddress": "ec2.amazonaws.com",
            "userAgent": "ec2.amazonaws.com",
            "requestParameters": None,
            "responseElements": None,
            "eventID": cloudtrail_event_id or str(uuid.uuid4()),
            "eventType": "AwsServiceEvent",
            "recipientAccountId": "123456789012",
            "serviceEventDetails": {"instanceIdSet": instance_ids},
        },
    }


def sqs_record(body: dict[str, Any] | str, *, receive_count: int = 1) -> dict[str, Any]:
    """One record of a Lambda SQS event, with a fresh message id (as each delivery has)."""
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1764057600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1764057600000",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:spot-insights-events",
        "awsRegion": "us-east-1",
    }


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def redeliver(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same bodies as SQS delivers them again: new message ids, higher receive counts."""
    out = []
    for record in records:
        again = dict(record, messageId=str(uuid.uuid4()))
        count = int(record["attributes"]["ApproximateReceiveCount"]) + 1
        again["attributes"] = dict(record["attributes"], ApproximateReceiveCount=str(count))
        out.append(again)
    return out
