"""One local run of the whole capture path: fleet, storm through EventBridge, pollers feeding
the ingest handler, then a check that every event is indexed exactly once.

It needs a moto endpoint (a session whose clients reach it, or `AWS_ENDPOINT_URL`) and a
provisioned OpenSearch index; `demo` starts both, tests bring their fixtures."""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lambda_src.contract import DEFAULT_INDEX_PREFIX, index_pattern
from spot_cli.local.capture_path import (
    QueueSettings,
    RegionalPipeline,
    create_hub_capture,
    create_pipelines,
)
from spot_cli.local.enrichment_check import EnrichmentCheck, check_enrichment
from spot_cli.local.evictions_check import EvictionCheck, check_evictions
from spot_cli.local.fleet import DEFAULT_REGIONS, Fleet, create_fleet, create_org_fleet
from spot_cli.local.freshness import FreshnessRecorder
from spot_cli.local.moto_replica import MotoReplica
from spot_cli.local.organisation import Organisation
from spot_cli.local.poller import EventSourceSettings, Handler, PollerStats, SqsEventSourcePoller
from spot_cli.local.storm import PublishResult, Storm, StormSettings, generate_storm, publish
from spot_cli.redrive import depth
from spot_cli.terminal import ProgressBar


@dataclass(frozen=True)
class RunSettings:
    storm: StormSettings = field(default_factory=StormSettings)
    regions: Sequence[str] = DEFAULT_REGIONS
    queue: QueueSettings = field(default_factory=QueueSettings)
    source: EventSourceSettings = field(
        default_factory=lambda: EventSourceSettings(
            batch_size=100, batching_window_seconds=1.0, maximum_concurrency=2
        )
    )
    index_prefix: str = DEFAULT_INDEX_PREFIX
    show_progress: bool = True


@dataclass
class RunResult:
    fleet: Fleet
    storm: Storm
    published: PublishResult
    pipelines: dict[str, RegionalPipeline]
    poller_stats: dict[str, PollerStats]
    indexed: int
    missing_event_ids: list[str]
    dlq_depth: dict[str, int]
    seconds: dict[str, float]
    # PutEvents to searchable (spot_cli/local/freshness.py), and each document's enrichment
    # against what the fleet and the accounts' roles say it must be.
    freshness: dict[str, Any] = field(default_factory=dict)
    enrichment: EnrichmentCheck | None = None
    organisation: Organisation | None = None
    evictions: EvictionCheck | None = None

    @property
    def events(self) -> int:
        return len(self.storm.events)

    @property
    def documents(self) -> int:
        """Documents the storm must leave: one per EC2 event, one per evicted instance."""
        return len(self.storm.events) + len(self.storm.eviction_truth())

    @property
    def events_per_second(self) -> float:
        drain = self.seconds.get("drain", 0.0)
        return self.events / drain if drain else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "poison_records": len(self.storm.poison),
            "instances": len(self.fleet.instances),
            "indexed": self.indexed,
            "documents": self.documents,
            "missing_event_ids": len(self.missing_event_ids),
            "dead_letter_queue": self.dlq_depth,
            "invocations": sum(s.invocations for s in self.poller_stats.values()),
            "failed_records": sum(s.failed_records for s in self.poller_stats.values()),
            # Below the queue's visibility timeout, or the queue handed held messages out again.
            "longest_batch_seconds": round(
                max((s.longest_batch_seconds for s in self.poller_stats.values()), default=0.0), 2
            ),
            "visibility_timeout_seconds": {
                r: p.settings.visibility_timeout for r, p in self.pipelines.items()
            },
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "events_per_second": round(self.events_per_second, 1),
            "freshness_seconds": self.freshness,
            **({"evictions": self.evictions.summary()} if self.evictions else {}),
        } | ({"accounts": self.enrichment.summary()} if self.enrichment else {})


def fleet_size_for(storm: StormSettings, regions: int) -> int:
    # One warning per interrupted instance; a little headroom keeps ghosts at their ratio.
    interrupted = storm.events / (1 + storm.rebalance_ratio)
    return max(10, math.ceil(interrupted * 1.15 / regions))


def count_indexed(client: Any, index: str, event_ids: Sequence[str]) -> tuple[int, list[str]]:
    """Documents in the indices, and which of `event_ids` have no document."""
    client.indices.refresh(index=index)
    total = client.count(index=index)["count"]
    missing: list[str] = []
    for start in range(0, len(event_ids), 1000):
        chunk = list(event_ids[start : start + 1000])
        response = client.search(
            index=index,
            body={"size": len(chunk), "_source": False, "query": {"ids": {"values": chunk}}},
        )
        found = {hit["_id"] for hit in response["hits"]["hits"]}
        missing.extend(i for i in chunk if i not in found)
    return total, missing


def run_pipeline(
    handler: Handler,
    opensearch: Any,
    settings: RunSettings | None = None,
    session: Any | None = None,
    *,
    on_handler_error: Callable[[BaseException], None] | None = None,
    pipelines: dict[str, RegionalPipeline] | None = None,
    organisation: Organisation | None = None,
    replica: MotoReplica | None = None,
) -> RunResult:
    """Run the storm through the pipelines (created here unless the caller made them first,
    e.g. to hand the handler a dead-letter queue URL).

    With `organisation`, every account runs a fleet in every region and their events reach the
    hub account's one queue through the hub bus (`create_hub_capture`); `session` is then the
    hub's. `replica`: started once the fleet exists, before anything is published (the handler
    then reads EC2 from it, spot_cli/local/moto_replica.py)."""
    settings = settings or RunSettings()
    seconds: dict[str, float] = {}
    started = time.monotonic()
    fleet, pipelines, queue_urls = _fleet_and_capture(settings, session, pipelines, organisation)
    if replica is not None:
        replica.start()
    seconds["setup"] = time.monotonic() - started

    storm = generate_storm(fleet, settings.storm)
    if organisation is not None:
        storm = _poison_bodies_to(storm, organisation.hub_region)
    total_messages = len(storm.events) + len(storm.evictions) + len(storm.poison)
    bar = ProgressBar("ingest", total_messages) if settings.show_progress else None
    deleted: dict[str, int] = dict.fromkeys(pipelines, 0)
    progress_lock = threading.Lock()

    def report(region: str, snapshot: PollerStats) -> None:
        with progress_lock:
            deleted[region] = snapshot.deleted
            if bar:
                bar.update(sum(deleted.values()), f"{snapshot.failed_records} retried")

    # Pollers consume while the storm is published, as the event source mapping does; this
    # also keeps moto's queues shallow (its receive cost grows with queue depth).
    published_all = threading.Event()
    invoke_lock = threading.Lock()
    recorder = FreshnessRecorder(handler)
    pollers = {
        region: SqsEventSourcePoller(
            pipeline.queue_url,
            recorder,
            settings.source,
            region=region,
            session=session,
            progress=functools.partial(report, region),
            on_handler_error=on_handler_error,
            invoke_lock=invoke_lock,
            input_closed=published_all,
        )
        for region, pipeline in pipelines.items()
    }
    mark = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(pollers)) as pool:
        futures = {region: pool.submit(p.run) for region, p in pollers.items()}
        try:
            published = publish(
                storm,
                queue_urls,
                session,
                account_sessions=organisation.sessions if organisation else None,
            )
        finally:
            published_all.set()
        seconds["publish"] = time.monotonic() - mark
        stats = {region: future.result() for region, future in futures.items()}
    if bar:
        bar.update(total_messages)
        bar.finish("queues drained")
    seconds["drain"] = time.monotonic() - mark

    index = index_pattern(settings.index_prefix)
    indexed, missing = count_indexed(opensearch, index, storm.document_ids(published.delivered_ids))
    evictions = check_evictions(opensearch, index, storm)
    dlq = {r: _dlq_depth(session, p) for r, p in pipelines.items()}
    seconds["total"] = time.monotonic() - started
    enrichment = (
        check_enrichment(opensearch, index, storm, published, organisation)
        if organisation
        else None
    )
    return RunResult(
        fleet=fleet,
        storm=storm,
        published=published,
        pipelines=pipelines,
        poller_stats=stats,
        indexed=indexed,
        missing_event_ids=missing,
        dlq_depth=dlq,
        seconds=seconds,
        freshness=recorder.summary(published.delivered_ids.values()),
        enrichment=enrichment,
        organisation=organisation,
        evictions=evictions,
    )


def _fleet_and_capture(
    settings: RunSettings,
    session: Any,
    pipelines: dict[str, RegionalPipeline] | None,
    organisation: Organisation | None,
) -> tuple[Fleet, dict[str, RegionalPipeline], dict[str, str]]:
    """The fleet, the capture path, and the queue each region's queue-level poison goes to."""
    regions = list(settings.regions)
    if organisation is None:
        fleet = create_fleet(
            regions,
            fleet_size_for(settings.storm, len(regions)),
            seed=settings.storm.seed,
            session=session,
        )
        if pipelines is None:
            pipelines = create_pipelines(regions, settings.queue, session=session)
        return fleet, pipelines, {r: p.queue_url for r, p in pipelines.items()}
    fleet = create_org_fleet(
        organisation.sessions,
        regions,
        fleet_size_for(settings.storm, len(regions) * len(organisation.accounts)),
        seed=settings.storm.seed,
    )
    if pipelines is None:
        hub = create_hub_capture(organisation.sessions, regions, settings.queue)
        pipelines = {hub.region: hub}
    # One queue in the hub: queue-level poison lands there, whatever region it names.
    (hub,) = pipelines.values()
    return fleet, pipelines, dict.fromkeys(regions, hub.queue_url)


def _poison_bodies_to(storm: Storm, region: str) -> Storm:
    """Queue-level poison goes to the one queue there is, the hub's (bus-level poison still
    starts on its own region's bus and is forwarded like any event)."""
    poison = tuple(
        dataclasses.replace(record, region=region) if record.body is not None else record
        for record in storm.poison
    )
    return dataclasses.replace(storm, poison=poison)


def _dlq_depth(session: Any, pipeline: RegionalPipeline) -> int:
    import boto3  # noqa: PLC0415

    sqs = (session or boto3.session.Session()).client("sqs", region_name=pipeline.region)
    return depth(sqs, pipeline.dlq_url)


def window_of(storm: Storm, fleet: Fleet) -> tuple[Any, Any]:
    """A report range that covers the storm."""
    return fleet.created_at - storm.settings.window - timedelta(minutes=45), (
        fleet.created_at + timedelta(hours=1)
    )
