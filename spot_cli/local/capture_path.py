"""The deployed capture path, recreated in moto: a rule on each region's default bus that sends
the EC2 events to an SQS queue whose redrive policy moves poison messages to a DLQ.

EC2 publishes an instance's events on the default bus of the instance's own region, and an
SQS target must live in the rule's region, so each region gets its own queue pair."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3

from lambda_src.contract import HUB_BUS_NAME
from spot_cli.events import EVENT_PATTERN, EVICTION_PATTERN

DEFAULT_QUEUE_NAME = "spot-insights-events"
RULE_NAME = "spot-insights-capture"
# As the stack: evictions have a rule of their own (CloudTrail's detail-type + eventName).
EVICTION_RULE_NAME = "spot-insights-capture-evictions"
CAPTURE_RULES = ((RULE_NAME, EVENT_PATTERN), (EVICTION_RULE_NAME, EVICTION_PATTERN))
SPOKE_RULES = (
    ("spot-insights-forward", EVENT_PATTERN),
    ("spot-insights-forward-evictions", EVICTION_PATTERN),
)

# moto's default SQS delivery drops the envelope's `account`. This transformer rebuilds the
# whole envelope, so the queue receives what EventBridge delivers without a transformer.
_FULL_ENVELOPE = {
    "InputPathsMap": {
        key: f"$.{key}"
        for key in ("id", "detail-type", "source", "account", "time", "region", "resources")
    }
    | {"detail": "$.detail"},
    "InputTemplate": (
        '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
        '"account": "<account>", "time": <time>, "region": "<region>", '
        '"resources": <resources>, "detail": <detail>}'
    ),
}


# As deployed (spot_insights/ingest_pipeline.py, which spot_cli must not import): the queue's
# visibility timeout is this many times the function timeout, so a message is never handed to a
# second invocation while the first may still hold it (tests/cli/test_poller_concurrency.py
# checks the two agree).
VISIBILITY_TIMEOUT_FACTOR = 6
# The local function's timeout: far above the demo's worst batch (a 500-record batch takes a
# few seconds with its batching window), short enough that a retried record is back within a
# minute.
LOCAL_FUNCTION_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class QueueSettings:
    """Queue attributes as deployed, scaled for a local run.

    The visibility timeout follows the deployed rule, `VISIBILITY_TIMEOUT_FACTOR` times the
    function timeout, unless given: a timeout shorter than a batch's time in the poller (its
    batching window plus the handler) makes the queue hand the batch's messages to a second
    poller while the first still holds them; each such receive counts towards
    maxReceiveCount, and healthy records reached the DLQ that way at concurrency 2."""

    visibility_timeout_seconds: int | None = None
    max_receive_count: int = 3
    retention_seconds: int = 14 * 24 * 3600
    function_timeout_seconds: int = LOCAL_FUNCTION_TIMEOUT_SECONDS

    @property
    def visibility_timeout(self) -> int:
        """The queue's VisibilityTimeout in seconds."""
        if self.visibility_timeout_seconds is not None:
            return self.visibility_timeout_seconds
        return VISIBILITY_TIMEOUT_FACTOR * self.function_timeout_seconds


@dataclass(frozen=True)
class RegionalPipeline:
    region: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    rule_arn: str
    settings: QueueSettings


def _queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def create_regional_pipeline(
    region: str,
    name: str = DEFAULT_QUEUE_NAME,
    settings: QueueSettings | None = None,
    session: Any | None = None,
) -> RegionalPipeline:
    settings = settings or QueueSettings()
    session = session or boto3.session.Session()
    sqs = session.client("sqs", region_name=region)
    dlq_url, dlq_arn = _queue(
        sqs, f"{name}-dlq", {"MessageRetentionPeriod": str(settings.retention_seconds)}
    )
    queue_url, queue_arn = _queue(
        sqs,
        name,
        {
            "VisibilityTimeout": str(settings.visibility_timeout),
            "MessageRetentionPeriod": str(settings.retention_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count}
            ),
        },
    )
    events = session.client("events", region_name=region)
    rule_arn = _rules_to(
        events, CAPTURE_RULES, {"Id": "queue", "Arn": queue_arn, "InputTransformer": _FULL_ENVELOPE}
    )
    return RegionalPipeline(
        region=region,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        rule_arn=rule_arn,
        settings=settings,
    )


def create_pipelines(
    regions: Sequence[str],
    settings: QueueSettings | None = None,
    session: Any | None = None,
) -> dict[str, RegionalPipeline]:
    return {r: create_regional_pipeline(r, settings=settings, session=session) for r in regions}


def create_hub_capture(
    sessions: Mapping[str, Any],
    regions: Sequence[str],
    settings: QueueSettings | None = None,
) -> RegionalPipeline:
    """The hub and its spokes as deployed (HubBus, SpokeForwarder): the hub account's queue pair
    in the hub region (`regions[0]`) fed by the home default bus's rule and by the hub bus's rule;
    every other account and region forwards the EC2 events from its default bus to the hub bus
    (one hop, the event unchanged). `sessions`: account -> session, the hub's first."""
    hub_account, *_ = sessions
    hub_region = regions[0]
    hub_session = sessions[hub_account]
    pipeline = create_regional_pipeline(hub_region, settings=settings, session=hub_session)
    hub_events = hub_session.client("events", region_name=hub_region)
    bus_arn = hub_events.create_event_bus(Name=HUB_BUS_NAME)["EventBusArn"]
    _rules_to(
        hub_events,
        CAPTURE_RULES,
        {"Id": "queue", "Arn": pipeline.queue_arn, "InputTransformer": _FULL_ENVELOPE},
        bus_name=HUB_BUS_NAME,
    )
    for account, session in sessions.items():
        for region in regions:
            if (account, region) != (hub_account, hub_region):
                _forward_to_hub(session.client("events", region_name=region), bus_arn)
    return pipeline


def _forward_to_hub(events: Any, hub_bus_arn: str) -> None:
    # The spoke's rule needs a role for a bus in another account; moto does not check it.
    _rules_to(events, SPOKE_RULES, {"Id": "hub", "Arn": hub_bus_arn})


def _rules_to(
    events: Any,
    rules: Sequence[tuple[str, Mapping[str, Any]]],
    target: Mapping[str, Any],
    bus_name: str = "default",
) -> str:
    """One rule per (name, pattern), all to `target`; returns the first rule's ARN."""
    arns = []
    for name, pattern in rules:
        arns.append(
            events.put_rule(
                Name=name, EventBusName=bus_name, EventPattern=json.dumps(pattern), State="ENABLED"
            )["RuleArn"]
        )
        events.put_targets(Rule=name, EventBusName=bus_name, Targets=[dict(target)])
    return arns[0]
