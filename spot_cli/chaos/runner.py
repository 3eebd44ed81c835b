"""Disruption runs: a fresh moto state and index prefix, a storm through the pipeline (the
demo's own pieces: fleet, storm, SQS event-source pollers, the real ingest handler in a child
process, the real provisioning code), the fault(s) mid-storm, then the checks against the
storm's ground truth. `make chaos` gives each fault a storm of its own; the reduced run in the
test suite puts all four into one storm, one after another."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from spot_cli.chaos.faults import (
    Fault,
    FaultSequence,
    KillHandler,
    KillNode,
    PauseNode,
    RestartMoto,
)
from spot_cli.chaos.handler_process import HandlerProcess, Timeline
from spot_cli.chaos.servers import ChaosNode, RestartableMotoServer
from spot_cli.events import parse_time
from spot_cli.local.capture_path import QueueSettings, RegionalPipeline, create_pipelines
from spot_cli.local.ingest import LocalFunction, ingest_config
from spot_cli.local.pipeline import RunResult, RunSettings, run_pipeline
from spot_cli.local.poller import EventSourceSettings
from spot_cli.local.provisioning import provision_local
from spot_cli.local.servers import local_session
from spot_cli.local.storm import StormSettings
from spot_cli.opensearch_client import connect
from spot_cli.redrive import depth

FAULTS = ("kill-node", "pause-node", "restart-moto", "kill-handler")
# In one storm the handler kill goes first (poison is parked late, so its second kill, after the
# DLQ send, still finds some) and the node kill last (its restart is the longest).
ONE_STORM_ORDER = ("kill-handler", "pause-node", "restart-moto", "kill-node")


@dataclass(frozen=True)
class ChaosPlan:
    events: int = 1000
    poison: int = 6
    regions: tuple[str, ...] = ("us-east-1", "us-west-2", "eu-west-1")
    seed: int = 15
    # One storm per fault; or all faults in one storm, one after another (the reduced run:
    # one fleet, storm and drain instead of four).
    one_storm: bool = False
    node_down_seconds: float = 20.0
    pause_seconds: float = 10.0
    moto_down_seconds: float = 10.0
    # The function's OpenSearch request timeout (the construct sets a quarter of the function
    # timeout). Two attempts per bulk (OPENSEARCH_MAX_RETRIES=1) fit in one visibility timeout.
    client_timeout: float = 2.0
    # Deployed: visibility 6 x 90 s and 5 receives, 45 minutes before a record would leave for
    # the DLQ. Scaled down here, the receive budget (100 x 8 s) outlasts every fault, a
    # node restart on a loaded machine (100 s and more) included.
    queue: QueueSettings = field(
        default_factory=lambda: QueueSettings(visibility_timeout_seconds=8, max_receive_count=100)
    )
    source: EventSourceSettings = field(
        default_factory=lambda: EventSourceSettings(
            batch_size=50, batching_window_seconds=0.5, maximum_concurrency=2, max_seconds=900
        )
    )
    # Attempts for the pollers' and the publisher's own SQS / EventBridge calls. Lambda's
    # event source mapping keeps polling through an SQS outage and EventBridge retries a
    # delivery for 24 hours; botocore's standard retries (jittered backoff up to 20 s; 10
    # attempts can be spent in under 10 s) stand in for both during the moto restart.
    aws_max_attempts: int = 30


REDUCED = ChaosPlan(
    events=400,
    one_storm=True,
    poison=3,
    regions=("us-east-1", "eu-west-1"),
    node_down_seconds=5.0,
    pause_seconds=5.0,
    moto_down_seconds=3.0,
)


@dataclass
class ScenarioResult:
    name: str
    title: str
    events: int
    poison: int
    indexed: int = 0
    missing: int = 0
    # Documents beyond the ground truth that repeat a storm event under a new EventBridge id:
    # the storm's own PutEvents retried after moto had taken the first request (an artifact of
    # the publisher, which stands in for EC2; the pipeline cannot tell them from new events).
    republished: int = 0
    dlq_total: int = 0
    dlq_non_poison: int = 0
    dlq_duplicates: int = 0
    # Duplicates whose copies carry the same source message id: one SQS message parked twice.
    dlq_reparked: int = 0
    dlq_missing_poison: int = 0
    source_left: int = 0
    held_seconds: float | None = None
    recovery_seconds: float | None = None
    outage_seconds: float | None = None
    max_queue_age_seconds: float = 0.0
    max_receive_count: int = 0
    handler_starts: int = 0
    failed_invocations: int = 0
    failed_records: int = 0
    wall_seconds: float = 0.0
    # True when the storm carried several faults (its end-of-run figures are shared).
    shared_storm: bool = False
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()} | {"ok": self.ok}


def make_fault(name: str, plan: ChaosPlan, node: ChaosNode, moto: RestartableMotoServer) -> Fault:
    if name == "kill-node":
        return KillNode(node, plan.node_down_seconds)
    if name == "pause-node":
        return PauseNode(node, plan.pause_seconds, plan.client_timeout)
    if name == "restart-moto":
        return RestartMoto(moto, plan.moto_down_seconds)
    if name == "kill-handler":
        return KillHandler()
    raise ValueError(f"unknown fault {name!r}; expected one of {', '.join(FAULTS)}")


def run_storm(
    faults: Sequence[Fault], plan: ChaosPlan, node: ChaosNode, moto: RestartableMotoServer
) -> list[ScenarioResult]:
    """One storm with `faults` put in one after another; one result per fault."""
    began = time.monotonic()
    results = [
        ScenarioResult(f.name, f.title, plan.events, plan.poison, shared_storm=len(faults) > 1)
        for f in faults
    ]
    assert node.settings is not None
    moto.reset()
    admin = connect(node.settings)
    prefix = f"chaos-{'-'.join(f.name for f in faults)[:40]}-{uuid.uuid4().hex[:6]}"
    handler: HandlerProcess | None = None
    try:
        home = plan.regions[0]
        session = local_session(moto.url, home, max_attempts=plan.aws_max_attempts)
        writer = provision_local(node.settings, prefix)
        pipelines = create_pipelines(plan.regions, plan.queue, session=session)
        timeline = Timeline()
        config = ingest_config(LocalFunction(writer, f"{prefix}-write", pipelines[home].dlq_url))
        config = replace(
            config,
            search=replace(config.search, timeout=plan.client_timeout, max_retries=1),
        )
        sequence = FaultSequence(faults, lambda: timeline.stored, plan.events)
        # The deployed function, run in a child process as Lambda runs it, calling moto.
        handler = HandlerProcess(
            config, moto.url, home, timeline, holds=sequence.holds, on_hold=sequence.on_hold
        )
        handler.start()  # the first environment is warm, as after Lambda's first invocation
        settings = RunSettings(
            # EC2 events only: the checks below count one document per storm event (evictions
            # are one per instance, keyed by CloudTrail id; the demo and tests/ingest check them).
            storm=StormSettings(
                events=plan.events,
                seed=plan.seed,
                poison=plan.poison,
                warned_eviction_ratio=0,
                unwarned_evictions_ratio=0,
            ),
            regions=plan.regions,
            queue=plan.queue,
            source=plan.source,
            index_prefix=prefix,
            show_progress=False,
        )
        errors: list[BaseException] = []
        counting = _AfterFaults(admin, faults)
        run = run_pipeline(
            handler,
            counting,
            settings,
            session,
            on_handler_error=errors.append,
            pipelines=pipelines,
        )
        counting.wait()
        storm = ScenarioResult("storm", "", plan.events, plan.poison)
        _check_storm(
            storm,
            run=run,
            timeline=timeline,
            handler=handler,
            session=session,
            admin=admin,
            index=f"{prefix}-*",
        )
        for result, fault in zip(results, faults, strict=True):
            _check_fault(result, fault, timeline)
            _copy_storm_figures(storm, result)
    finally:
        if handler is not None:
            handler.close()
        try:
            admin.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
            admin.indices.delete_index_template(name=prefix, ignore=[404])
        except Exception as exc:  # cleanup only; the node may be what the run broke
            results[-1].notes.append(f"cleanup failed: {exc!r}")
    for result in results:
        result.wall_seconds = time.monotonic() - began
    return results


class _AfterFaults:
    """The admin client, for run_pipeline's count of the index once the queues are drained;
    first waits until every fault is cleared. Queues drain while the node is still down only
    if records were acknowledged without being stored; the count must then see the loss, not
    a refused connection."""

    def __init__(self, client: Any, faults: Sequence[Fault]) -> None:
        self._client = client
        self._faults = faults
        self._waited = False

    def wait(self) -> None:
        if not self._waited:
            self._waited = True
            for fault in self._faults:
                fault.finish(timeout=300)

    def __getattr__(self, name: str) -> Any:
        self.wait()
        return getattr(self._client, name)


_STORM_FIGURES = (
    "indexed",
    "missing",
    "republished",
    "dlq_total",
    "dlq_non_poison",
    "dlq_duplicates",
    "dlq_reparked",
    "dlq_missing_poison",
    "source_left",
    "max_queue_age_seconds",
    "max_receive_count",
    "handler_starts",
    "failed_invocations",
    "failed_records",
)


def _copy_storm_figures(storm: ScenarioResult, result: ScenarioResult) -> None:
    for name in _STORM_FIGURES:
        setattr(result, name, getattr(storm, name))
    result.notes.extend(storm.notes)
    result.problems.extend(storm.problems)


def _check_fault(result: ScenarioResult, fault: Fault, timeline: Timeline) -> None:
    window = fault.window
    result.notes.extend(window.notes)
    result.problems.extend(f"fault: {e}" for e in window.errors)
    if window.injected is None:
        result.problems.append("the fault never fired (storm too small for the trigger?)")
        return
    cleared = window.cleared or window.injected
    result.held_seconds = cleared - window.injected
    first = timeline.first_stored_after(cleared)
    if first is None:
        result.problems.append("no bulk stored anything after the fault")
    else:
        result.recovery_seconds = first - cleared
        result.outage_seconds = first - window.injected
        if window.ready is not None:
            result.notes.append(f"first stored bulk {first - window.ready:.1f}s after it was ready")


def _check_storm(
    result: ScenarioResult,
    *,
    run: RunResult,
    timeline: Timeline,
    handler: HandlerProcess,
    session: Any,
    admin: Any,
    index: str,
) -> None:
    result.indexed = run.indexed
    result.missing = len(run.missing_event_ids)
    if result.indexed > result.events:
        result.republished = _republished(admin, index, run)
    result.max_queue_age_seconds = timeline.max_queue_age
    result.max_receive_count = timeline.max_receive_count
    result.handler_starts = handler.starts
    result.failed_invocations = sum(s.failed_invocations for s in run.poller_stats.values())
    result.failed_records = sum(s.failed_records for s in run.poller_stats.values())
    if any(s.timed_out for s in run.poller_stats.values()):
        result.problems.append("a poller hit its safety stop before the queue drained")

    expected = _expected_poison(run)
    parked = [m for p in run.pipelines.values() for m in _drain(session, p)]
    found = Counter(_poison_key(body) for body, _source in parked)
    result.dlq_total = sum(found.values())
    result.dlq_non_poison = sum(n for key, n in found.items() if key not in expected)
    result.dlq_duplicates = sum(
        max(0, n - expected[key]) for key, n in found.items() if key in expected
    )
    result.dlq_missing_poison = sum(max(0, n - found[key]) for key, n in expected.items())
    by_source = Counter(source for _body, source in parked if source)
    result.dlq_reparked = sum(n - 1 for n in by_source.values())
    result.source_left = sum(
        depth(session.client("sqs", region_name=p.region), p.queue_url)
        for p in run.pipelines.values()
    )

    if result.missing:
        result.problems.append(f"{result.missing} events not indexed (lost)")
    if result.indexed - result.republished != result.events:
        result.problems.append(f"{result.indexed} documents for {result.events} events")
    if result.republished:
        result.notes.append(
            f"{result.republished} documents repeat a storm event under a new EventBridge id: "
            "the storm's PutEvents retried after moto had taken the first request"
        )
    if result.dlq_non_poison:
        result.problems.append(f"{result.dlq_non_poison} DLQ messages are not poison records")
    if result.dlq_missing_poison:
        result.problems.append(f"{result.dlq_missing_poison} poison records not in a DLQ")
    if result.dlq_duplicates > result.dlq_reparked:
        result.problems.append(
            f"{result.dlq_duplicates - result.dlq_reparked} poison records in a DLQ more than "
            "once that are not the same source message parked again"
        )
    if result.dlq_reparked:
        # At-least-once between the handler's SendMessageBatch and the poller's delete: a
        # crash there parks the message again. Each copy names its source message, so the
        # copies can be told apart from distinct poison records; reported, not hidden.
        result.notes.append(
            f"{result.dlq_reparked} poison message(s) parked twice (same source message id)"
        )
    if result.source_left:
        result.problems.append(f"{result.source_left} messages left on the source queues")


def _republished(admin: Any, index: str, run: RunResult) -> int:
    """Documents outside the ground truth's ids whose type, instance and time are a storm
    event's (any other extra document stays a failure)."""
    truth = {
        (e["detail-type"], e["detail"]["instance-id"], parse_time(e["time"]))
        for e in run.storm.events
    }
    ids = list(run.published.delivered_ids.values())
    hits = admin.search(
        index=index,
        body={
            "size": max(0, run.indexed - len(ids)) + 100,
            "_source": ["event_type", "instance_id", "event_time"],
            "query": {"bool": {"must_not": {"ids": {"values": ids}}}},
        },
    )["hits"]["hits"]
    return sum(
        (
            h["_source"].get("event_type"),
            h["_source"].get("instance_id"),
            parse_time(h["_source"].get("event_time", "1970-01-01T00:00:00Z")),
        )
        in truth
        for h in hits
    )


def _expected_poison(run: RunResult) -> Counter[tuple[str, str]]:
    """Queue-level poison by body; EventBridge-level poison by the id EventBridge gave it."""
    expected: Counter[tuple[str, str]] = Counter(
        ("body", p.body) for p in run.storm.poison if p.body is not None
    )
    expected.update(("event", event_id) for event_id in run.published.poison_event_ids)
    return expected


def _poison_key(body: str) -> tuple[str, str]:
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return ("body", body)
    if isinstance(parsed, dict) and isinstance(parsed.get("id"), str):
        return ("event", parsed["id"])
    return ("body", body)


def _drain(session: Any, pipeline: RegionalPipeline) -> list[tuple[str, str | None]]:
    """Every DLQ message: its body and the source message id the handler attached (None for
    a message SQS's redrive policy moved)."""
    from lambda_src.contract import DLQ_SOURCE_MESSAGE_ATTRIBUTE  # noqa: PLC0415

    sqs = session.client("sqs", region_name=pipeline.region)
    parked: list[tuple[str, str | None]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=pipeline.dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return parked
        for message in messages:
            source = message.get("MessageAttributes", {}).get(DLQ_SOURCE_MESSAGE_ATTRIBUTE, {})
            parked.append((message["Body"], source.get("StringValue")))


def run_chaos(
    plan: ChaosPlan,
    faults: Sequence[str] = FAULTS,
    *,
    log: Callable[[str], None] = lambda _line: None,
) -> tuple[list[ScenarioResult], dict[str, Any]]:
    """Start a node and a moto server of the run's own, run each fault, stop both."""
    began = time.monotonic()
    node = ChaosNode()
    moto = RestartableMotoServer()
    results: list[ScenarioResult] = []
    try:
        log(f"starting the chaos run's own OpenSearch node on port {node.port}")
        node.start()
        moto.start()
        if plan.one_storm:
            order = sorted(faults, key=ONE_STORM_ORDER.index)
            log(f"{', '.join(order)} in one storm: {plan.events} events + {plan.poison} poison")
            made = [make_fault(name, plan, node, moto) for name in order]
            results.extend(run_storm(made, plan, node, moto))
        else:
            for name in faults:
                log(f"{name}: {plan.events} events + {plan.poison} poison records")
                results.extend(run_storm([make_fault(name, plan, node, moto)], plan, node, moto))
    finally:
        moto.stop()
        node.stop()
    facts = {
        "node_port": node.port,
        "node_start_seconds": [round(s, 1) for s in node.starts],
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    return results, facts
