"""The event pattern of each rule that captures Spot events (default bus, hub bus, spokes).

One place, so the three kinds of rule cannot drift: a pattern is the contract's
(`lambda_src.contract.rule_pattern`). Spot warnings and rebalance recommendations are EC2's own
events, matched by detail-type; an eviction arrives under CloudTrail's detail-type for every
service event, so its rule also matches `detail.eventName` and no other service event reaches
the queue (the function would park each one in the DLQ)."""

from __future__ import annotations

from aws_cdk import aws_events as events

from lambda_src.contract import rule_pattern


def rule_event_pattern(detail_type: str) -> events.EventPattern:
    """The rule's pattern for `detail_type` (ValueError for a detail-type with no pattern)."""
    pattern = rule_pattern(detail_type)
    detail = pattern.get("detail")
    return events.EventPattern(
        source=list(pattern["source"]),  # type: ignore[call-overload]
        detail_type=[detail_type],
        detail=dict(detail) if isinstance(detail, dict) else None,
    )
