"""A deterministic storm of Spot interruption warnings and rebalance recommendations.

Each interrupted instance gets at most one warning; most get a rebalance recommendation some
minutes earlier; a few get only the rebalance; a few events name instances that no longer
exist. The same seed and fleet always give the same events, so tests compute their expected
counts from `Storm.events` directly."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3

from lambda_src.ingest.events import eviction_document_id
from spot_cli.eventbridge import put_events
from spot_cli.events import (
    INSTANCE_ACTIONS,
    REBALANCE,
    WARNING,
    ec2_event,
    eviction_event,
    parse_time,
)
from spot_cli.local.fleet import Fleet, FleetInstance

# Poison kinds. Body-level poison cannot pass through EventBridge (it only emits JSON events),
# so it goes straight to the queue, as a misconfigured producer would put it there.
POISON_NOT_JSON = "not-json"
POISON_NOT_AN_EVENT = "not-an-event"
POISON_MISSING_INSTANCE_ID = "missing-instance-id"
POISON_KINDS: tuple[str, ...] = (POISON_NOT_JSON, POISON_NOT_AN_EVENT, POISON_MISSING_INSTANCE_ID)


@dataclass(frozen=True)
class StormSettings:
    events: int = 5000
    seed: int = 42
    window: timedelta = timedelta(hours=6)
    rebalance_ratio: float = 0.6  # interrupted instances that first got a rebalance
    rebalance_only_ratio: float = 0.1  # instances that got a rebalance and no warning
    ghost_ratio: float = 0.03  # events for instances that no longer exist
    max_lead: timedelta = timedelta(minutes=30)
    poison: int = 0
    # Evictions (CloudTrail BidEvictedEvent), on top of `events`: some warned instances are
    # evicted two minutes after their warning; some instances are evicted without one (a
    # rebalance-only instance, or one never signalled), which is what the report calls missed.
    # Few enough to add about 13 % to the messages the demo publishes (PutEvents on moto is
    # its bottleneck), enough for every eviction panel to have data.
    warned_eviction_ratio: float = 0.15
    unwarned_evictions_ratio: float = 0.5  # per eviction after a warning
    # Unwarned evictions of instances never signalled come two to a CloudTrail record.
    instances_per_record: int = 2


@dataclass(frozen=True)
class PoisonInput:
    """A bad input the storm sends on purpose (not `dead_letter.PoisonRecord`, which is a
    record the ingest function parked in the DLQ with its reason)."""

    kind: str
    region: str
    # The raw SQS body for queue-level poison; the EventBridge event for bus-level poison.
    body: str | None = None
    event: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Storm:
    events: tuple[dict[str, Any], ...]
    poison: tuple[PoisonInput, ...]
    ghost_instance_ids: frozenset[str]
    settings: StormSettings
    # CloudTrail BidEvictedEvent records (one or more instances each), published with `events`.
    evictions: tuple[dict[str, Any], ...] = ()
    by_id: Mapping[str, dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {e["id"]: e for e in self.events})

    def of_type(self, detail_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["detail-type"] == detail_type]

    def eviction_truth(self) -> dict[str, dict[str, Any]]:
        """Ground truth per eviction document id: its instance, pool-free context, whether a
        warning of that instance came at or before it and how long before, whether a
        rebalance recommendation did."""
        times: dict[tuple[str, str], list[datetime]] = {}
        for event in self.events:
            key = (event["detail"]["instance-id"], event["detail-type"])
            times.setdefault(key, []).append(parse_time(event["time"]))
        truth: dict[str, dict[str, Any]] = {}
        for record in self.evictions:
            detail = record["detail"]
            when = parse_time(detail["eventTime"])
            for instance_id in detail["serviceEventDetails"]["instanceIdSet"]:
                warnings = [t for t in times.get((instance_id, WARNING), []) if t <= when]
                rebalances = [t for t in times.get((instance_id, REBALANCE), []) if t <= when]
                entry: dict[str, Any] = {
                    "instance_id": instance_id,
                    "region": record["region"],
                    "warned": bool(warnings),
                    "rebalance_recommended": bool(rebalances),
                }
                if warnings:
                    entry["warning_lead_seconds"] = int((when - max(warnings)).total_seconds())
                truth[eviction_document_id(detail["eventID"], instance_id)] = entry
        return truth

    def document_ids(self, delivered_ids: Mapping[str, str]) -> list[str]:
        """Every document the storm must leave: an EC2 event under the id EventBridge gave it,
        an eviction once per instance under its CloudTrail record's id."""
        return [delivered_ids[e["id"]] for e in self.events] + list(self.eviction_truth())

    def rebalance_lead_seconds(self) -> dict[str, float]:
        """Per instance with both: first warning time minus first rebalance time."""
        first: dict[tuple[str, str], datetime] = {}
        for event in self.events:
            key = (event["detail"]["instance-id"], event["detail-type"])
            when = parse_time(event["time"])
            if key not in first or when < first[key]:
                first[key] = when
        return {
            iid: (first[(iid, WARNING)] - first[(iid, REBALANCE)]).total_seconds()
            for iid, kind in first
            if kind == WARNING and (iid, REBALANCE) in first
        }


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ghost(rng: random.Random, template: FleetInstance) -> FleetInstance:
    """An instance EC2 no longer knows: only what an event carries (id, region, AZ)."""
    return FleetInstance(
        instance_id="i-" + "".join(rng.choice("0123456789abcdef") for _ in range(17)),
        region=template.region,
        availability_zone=template.availability_zone,
        availability_zone_id=template.availability_zone_id,
        instance_type="",
        architecture="",
        image_id="",
        subnet_id="",
        vpc_id="",
        private_ip=None,
        public_ip=None,
        launch_time=template.launch_time,
        tags={},
        capacity_kind="gone",
        capacity_group="standalone",
        account=template.account,
    )


def generate_storm(fleet: Fleet, settings: StormSettings | None = None) -> Storm:
    settings = settings or StormSettings()
    if settings.events < 1:
        raise ValueError("a storm needs at least one event")
    rng = random.Random(settings.seed)
    end = fleet.created_at
    start = end - settings.window
    candidates = sorted(fleet.instances, key=lambda i: i.instance_id)
    rng.shuffle(candidates)
    events: list[dict[str, Any]] = []
    ghosts: set[str] = set()
    while len(events) < settings.events:
        if not candidates or rng.random() < settings.ghost_ratio:
            subject = _ghost(rng, rng.choice(fleet.instances))
            ghosts.add(subject.instance_id)
        else:
            subject = candidates.pop()
        earliest = max(start, subject.launch_time + timedelta(minutes=1))
        # Without backdated launch times (moto out of process) events follow the launch.
        latest = max(end, earliest)
        warned_at = earliest + (latest - earliest) * rng.random()
        warned_at = warned_at.replace(microsecond=0)
        remaining = settings.events - len(events)
        rebalance_only = rng.random() < settings.rebalance_only_ratio
        wants_rebalance = rebalance_only or (
            remaining >= 2 and rng.random() < settings.rebalance_ratio
        )
        if wants_rebalance:
            lead = timedelta(seconds=rng.randint(60, int(settings.max_lead.total_seconds())))
            rebalanced_at = max(warned_at - lead, subject.launch_time + timedelta(seconds=30))
            events.append(
                _event(rng, fleet, subject, REBALANCE, rebalanced_at.replace(microsecond=0))
            )
        if rebalance_only and wants_rebalance:
            continue
        if len(events) < settings.events:
            events.append(_event(rng, fleet, subject, WARNING, warned_at))
    poison = tuple(_poison(rng, fleet, i) for i in range(settings.poison))
    events = events[: settings.events]
    return Storm(
        events=tuple(events),
        poison=poison,
        ghost_instance_ids=frozenset(ghosts),
        settings=settings,
        evictions=_evictions(fleet, settings, events, candidates, start, end),
    )


def _evictions(  # noqa: PLR0917 (the storm's state, passed once)
    fleet: Fleet,
    settings: StormSettings,
    events: list[dict[str, Any]],
    unused: list[FleetInstance],
    start: datetime,
    end: datetime,
) -> tuple[dict[str, Any], ...]:
    """Evictions after warnings, of rebalance-only instances, and of instances never signalled.
    A generator of its own, so the warnings and rebalances stay what they were for a seed."""
    rng = random.Random(f"evictions-{settings.seed}")
    records: list[dict[str, Any]] = []

    def record(account: str, region: str, instance_ids: list[str], when: datetime) -> None:
        # CloudTrail records an eviction in the account that owned the instance.
        records.append(
            eviction_event(
                cloudtrail_event_id=_uuid(rng),
                account=account,
                region=region,
                instance_ids=instance_ids,
                when=when.replace(microsecond=0),
            )
        )

    warned = [e for e in events if e["detail-type"] == WARNING]
    for warning in warned:
        if rng.random() < settings.warned_eviction_ratio:
            when = parse_time(warning["time"]) + timedelta(minutes=2)
            record(warning["account"], warning["region"], [warning["detail"]["instance-id"]], when)
    wanted = round(len(records) * settings.unwarned_evictions_ratio)
    warned_ids = {w["detail"]["instance-id"] for w in warned}
    rebalance_only = [
        e
        for e in events
        if e["detail-type"] == REBALANCE and e["detail"]["instance-id"] not in warned_ids
    ]
    for rebalance in rebalance_only[: wanted // 2]:
        when = parse_time(rebalance["time"]) + timedelta(minutes=rng.randint(3, 20))
        record(
            rebalance["account"], rebalance["region"], [rebalance["detail"]["instance-id"]], when
        )
    by_place: dict[tuple[str, str], list[FleetInstance]] = {}
    for instance in unused[: max(0, wanted - wanted // 2)]:
        by_place.setdefault((instance.account or fleet.account, instance.region), []).append(
            instance
        )
    for (account, region), instances in sorted(by_place.items()):
        size = max(1, settings.instances_per_record)
        for first in range(0, len(instances), size):
            group = instances[first : first + size]
            earliest = max([start, *(i.launch_time + timedelta(minutes=1) for i in group)])
            when = earliest + (max(end, earliest) - earliest) * rng.random()
            record(account, region, [i.instance_id for i in group], when)
    return tuple(records)


def _event(
    rng: random.Random, fleet: Fleet, subject: FleetInstance, detail_type: str, when: datetime
) -> dict[str, Any]:
    action = rng.choices(INSTANCE_ACTIONS, weights=(80, 12, 8))[0]
    return ec2_event(
        event_id=_uuid(rng),
        detail_type=detail_type,
        account=subject.account or fleet.account,
        region=subject.region,
        availability_zone=subject.availability_zone,
        instance_id=subject.instance_id,
        when=when,
        instance_action=action if detail_type == WARNING else None,
    )


def _poison(rng: random.Random, fleet: Fleet, index: int) -> PoisonInput:
    kind = POISON_KINDS[index % len(POISON_KINDS)]
    host = rng.choice(fleet.instances)
    if kind == POISON_NOT_JSON:
        return PoisonInput(kind, host.region, body='{"detail-type": "EC2 Spot Instance Interr')
    if kind == POISON_NOT_AN_EVENT:
        return PoisonInput(kind, host.region, body=json.dumps(["not", "an", "event"]))
    event = _event(rng, fleet, host, WARNING, fleet.created_at)
    event["detail"].pop("instance-id")
    return PoisonInput(kind, host.region, event=event)


@dataclass(frozen=True)
class PublishResult:
    # Generated event id -> the id EventBridge assigned (the one the queue's message carries).
    delivered_ids: Mapping[str, str]
    poison_event_ids: tuple[str, ...]


def publish(
    storm: Storm,
    queue_urls: Mapping[str, str],
    session: Any | None = None,
    progress: Callable[[int], None] | None = None,
    account_sessions: Mapping[str, Any] | None = None,
) -> PublishResult:
    """Put the storm on each account's and region's default bus, all at once (as EC2 publishes
    in each independently); then the poison: bodies straight to the queue. `progress` is called
    from the publishing threads. `account_sessions`: account -> session for events of accounts
    other than `session`'s."""
    session = session or boto3.session.Session()
    by_region: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in (*storm.events, *storm.evictions):
        by_region.setdefault((event["account"], event["region"]), []).append(event)
    # Clients are made here: a session must not be shared between threads, a client may.
    sessions = account_sessions or {}
    clients = {
        key: sessions.get(key[0], session).client("events", region_name=key[1]) for key in by_region
    }

    def put_region(region: tuple[str, str]) -> dict[str, str]:
        assigned: dict[str, str] = {}
        events = by_region[region]
        for start in range(0, len(events), 100):
            chunk = events[start : start + 100]
            assigned.update(put_events(clients[region], chunk))
            if progress:
                progress(len(chunk))
        return assigned

    delivered: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(by_region))) as pool:
        for assigned in pool.map(put_region, sorted(by_region)):
            delivered.update(assigned)
    poison_ids: list[str] = []
    for record in storm.poison:
        if record.event is not None:
            client = session.client("events", region_name=record.region)
            poison_ids.extend(put_events(client, [record.event]).values())
        else:
            sqs = session.client("sqs", region_name=record.region)
            sqs.send_message(QueueUrl=queue_urls[record.region], MessageBody=record.body)
    return PublishResult(delivered_ids=delivered, poison_event_ids=tuple(poison_ids))
