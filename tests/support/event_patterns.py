"""What every rule that captures Spot events must match, checked the same way for the default
bus (IngestPipeline), the hub bus (HubBus) and the spokes (SpokeForwarder)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lambda_src.contract import (
    ACCEPTED_DETAIL_TYPES,
    BID_EVICTED_EVENT_NAME,
    CLOUDTRAIL_DETAIL_TYPE,
)


def assert_spot_event_patterns(patterns: Iterable[Mapping[str, Any]]) -> None:
    """One rule per accepted detail-type, all from aws.ec2; the CloudTrail one narrowed to
    `BidEvictedEvent` (CloudTrail sends every EC2 service event under that detail-type, and
    each other one would be parked in the DLQ); EC2's own events by detail-type alone."""
    patterns = list(patterns)
    assert sorted(p["detail-type"][0] for p in patterns) == sorted(ACCEPTED_DETAIL_TYPES)
    for pattern in patterns:
        assert pattern["source"] == ["aws.ec2"]
        if pattern["detail-type"] == [CLOUDTRAIL_DETAIL_TYPE]:
            assert pattern["detail"] == {"eventName": [BID_EVICTED_EVENT_NAME]}
        else:
            assert "detail" not in pattern
