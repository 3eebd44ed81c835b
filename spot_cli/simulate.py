"""Put synthetic interruption warnings on a real account's bus.

EventBridge reserves `aws.*` sources for AWS, so the events carry a custom source that only the
stack's test rule (created when its context flag is on) forwards to the ingest queue."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lambda_src.contract import SIMULATION_SOURCE
from spot_cli.errors import CliError
from spot_cli.eventbridge import put_events
from spot_cli.events import REBALANCE, WARNING, ec2_event


@dataclass(frozen=True)
class Target:
    instance_id: str
    availability_zone: str


def discover_spot_instances(ec2: Any, limit: int) -> list[Target]:
    """Running Spot instances of the account, so simulated events enrich like real ones."""
    found: list[Target] = []
    # Lifecycle is checked here rather than with the `instance-lifecycle` filter, which
    # some EC2-compatible endpoints (moto) do not implement.
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for raw in reservation["Instances"]:
                if raw.get("InstanceLifecycle") != "spot":
                    continue
                found.append(Target(raw["InstanceId"], raw["Placement"]["AvailabilityZone"]))
                if len(found) >= limit:
                    return found
    return found


def simulated_events(
    targets: Sequence[Target],
    count: int,
    *,
    account: str,
    region: str,
    source: str = SIMULATION_SOURCE,
    rebalance_lead: timedelta | None = None,
    action: str = "terminate",
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    if not targets:
        raise CliError("no instances to simulate interruptions for")
    now = now or datetime.now(UTC)
    events = []
    for index in range(count):
        target = targets[index % len(targets)]
        common = {
            "account": account,
            "region": region,
            "availability_zone": target.availability_zone,
            "instance_id": target.instance_id,
            "source": source,
        }
        if rebalance_lead:
            events.append(
                ec2_event(
                    event_id=str(uuid.uuid4()),
                    detail_type=REBALANCE,
                    when=now - rebalance_lead,
                    **common,
                )
            )
        events.append(
            ec2_event(
                event_id=str(uuid.uuid4()),
                detail_type=WARNING,
                when=now,
                instance_action=action,
                **common,
            )
        )
    return events


def fabricated_targets(region: str, count: int, seed: int | None = None) -> list[Target]:
    rng = random.Random(seed)
    zones = [f"{region}{suffix}" for suffix in "abc"]
    return [
        Target("i-" + "".join(rng.choice("0123456789abcdef") for _ in range(17)), rng.choice(zones))
        for _ in range(count)
    ]


def simulate(
    session: Any,
    *,
    count: int,
    region: str,
    bus: str = "default",
    source: str = SIMULATION_SOURCE,
    instance_ids: Sequence[str] = (),
    discover: bool = False,
    rebalance_lead: timedelta | None = None,
    action: str = "terminate",
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Put the events and return the ids EventBridge assigned."""
    if source.startswith("aws."):
        raise CliError("sources starting with 'aws.' are reserved for AWS services")
    ec2 = session.client("ec2", region_name=region)
    if instance_ids:
        described = ec2.describe_instances(
            Filters=[{"Name": "instance-id", "Values": list(instance_ids)}]
        )
        zones = {
            i["InstanceId"]: i["Placement"]["AvailabilityZone"]
            for r in described["Reservations"]
            for i in r["Instances"]
        }
        targets = [Target(i, zones.get(i, f"{region}a")) for i in instance_ids]
    elif discover:
        targets = discover_spot_instances(ec2, count)
    else:
        targets = fabricated_targets(region, count)
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    events = simulated_events(
        targets,
        count,
        account=account,
        region=region,
        source=source,
        rebalance_lead=rebalance_lead,
        action=action,
    )
    client = session.client("events", region_name=region)
    assigned: list[str] = []
    for start in range(0, len(events), 100):
        chunk = events[start : start + 100]
        ids = put_events(client, chunk, bus=bus)
        assigned.extend(ids[e["id"]] for e in chunk)
        if progress:
            progress(len(chunk))
    return assigned
