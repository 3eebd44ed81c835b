"""Ingest-time link fields (lambda_src/ingest/linking.py) on the real node, written by the
provisioned writer role, checked against values computed here from a seeded storm's events:
in time order, warnings first, shuffled across batches, redelivered, and after a failure."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from opensearchpy import OpenSearch

from lambda_src.ingest import runtime
from lambda_src.ingest.documents import build_document
from lambda_src.ingest.events import parse_event
from lambda_src.ingest.linking import StoredEvent, compute_links, improvements, prelink
from spot_cli.events import REBALANCE, WARNING, ec2_event, parse_time
from spot_cli.local.fleet import Fleet, create_fleet
from spot_cli.local.provisioning import INGEST_USER, provision_local
from spot_cli.local.storm import StormSettings, generate_storm
from tests.domain.cleanup import remove_provisioned_security
from tests.ingest.conftest import Pipeline
from tests.ingest.events import rebalance, redeliver, spot_warning, sqs_record
from tests.ingest.fault_proxy import FaultProxy
from tests.support.opensearch_node import OpenSearchNode
from tests.support.search_index import SearchIndex

LINK_FIELDS = ("rebalance_lead_seconds", "followed_by_warning", "warning_after_seconds")


# -- the pure part: links are a function of the set of events ---------------------------------


def _stored(instance: str, kind: str, minute: int, n: int) -> StoredEvent:
    when = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minute)
    return StoredEvent("idx", f"{instance}-{n}", instance, kind, when, {})


def test_links_do_not_depend_on_order() -> None:
    rng = random.Random(3)
    events = [
        _stored(f"i-{i}", rng.choice((WARNING, REBALANCE)), rng.randint(0, 120), n)
        for i in range(6)
        for n in range(5)
    ]
    expected = compute_links(events)
    for _ in range(20):
        rng.shuffle(events)
        assert compute_links(events) == expected


def test_an_update_never_undoes_a_better_stored_link() -> None:
    rebalance = _stored("i-1", REBALANCE, 0, 1)
    warning = StoredEvent(
        "idx", "w", "i-1", WARNING, rebalance.event_time + timedelta(minutes=5), {}
    )
    # Stored from a fuller view: a later rebalance made the lead 60 s.
    better = StoredEvent(**{**warning.__dict__, "source": {"rebalance_lead_seconds": 60}})
    assert [u.event.doc_id for u in improvements([rebalance, better])] == [rebalance.doc_id]
    worse = StoredEvent(**{**warning.__dict__, "source": {"rebalance_lead_seconds": 900}})
    updates = {u.event.doc_id: u for u in improvements([rebalance, worse])}
    assert updates["w"].least == {"rebalance_lead_seconds": 300}


# -- on the real node, written by the provisioned writer role ----------------------------------


@pytest.fixture(scope="module")
def provisioned(aws_module: str, opensearch_node: OpenSearchNode, opensearch: OpenSearch):
    """The custom resource's provisioning on a fresh prefix, once for the module (it took 8 s a
    test): the handler writes as an internal user that only carries the writer role's backend
    role (as the function's IAM role does)."""
    prefix = f"link-{uuid.uuid4().hex[:8]}"
    writer = provision_local(opensearch_node.settings(), prefix)
    dlq_url = boto3.client("sqs").create_queue(QueueName="link-dlq")["QueueUrl"]
    yield prefix, writer, dlq_url
    opensearch.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    opensearch.indices.delete_index_template(name=prefix, ignore=[404])
    remove_provisioned_security(opensearch, [INGEST_USER])


@pytest.fixture
def writer_pipeline(
    provisioned: tuple[str, Any, str],
    opensearch_node: OpenSearchNode,
    opensearch: OpenSearch,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Pipeline]:
    """The module's provisioned prefix, emptied: each test starts from no document."""
    prefix, writer, dlq_url = provisioned
    index = SearchIndex(opensearch, prefix)
    index.clear()
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", opensearch_node.url)
    monkeypatch.setenv("OPENSEARCH_USER", writer.user or "")
    monkeypatch.setenv("OPENSEARCH_PASSWORD", writer.password or "")
    if opensearch_node.ca_certs:
        monkeypatch.setenv("OPENSEARCH_CA_CERTS", opensearch_node.ca_certs)
    monkeypatch.setenv("INDEX_ALIAS", f"{prefix}-write")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq_url)
    runtime.reset()
    yield Pipeline(index, dlq_url, opensearch_node.url, monkeypatch)
    runtime.reset()


def _storm(fleet: Fleet) -> list[dict[str, Any]]:
    """A seeded storm plus what it lacks: instances with a second, older rebalance (the lead
    counts from the latest one) and a rebalance after the warning (it is never followed)."""
    storm = generate_storm(fleet, StormSettings(events=240, seed=11, window=timedelta(hours=6)))
    events = list(storm.events)
    rng = random.Random(5)
    warned = [e for e in events if e["detail-type"] == WARNING]
    for n, warning in enumerate(warned[:12]):
        when = parse_time(warning["time"])
        offset = timedelta(hours=2) if n % 2 else -timedelta(minutes=7)
        events.append(
            ec2_event(
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                detail_type=REBALANCE,
                account=warning["account"],
                region=warning["region"],
                availability_zone=warning["resources"][0].split(":")[3],
                instance_id=warning["detail"]["instance-id"],
                when=when - offset,
            )
        )
    return events


def expected_links(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Ground truth, brute force: event id -> the link fields its document must carry."""
    times: dict[tuple[str, str], list[datetime]] = {}
    for event in events:
        key = (event["detail"]["instance-id"], event["detail-type"])
        times.setdefault(key, []).append(parse_time(event["time"]))
    truth: dict[str, dict[str, Any]] = {}
    for event in events:
        instance, when = event["detail"]["instance-id"], parse_time(event["time"])
        if event["detail-type"] == WARNING:
            before = [t for t in times.get((instance, REBALANCE), []) if t <= when]
            truth[event["id"]] = (
                {"rebalance_lead_seconds": int((when - max(before)).total_seconds())}
                if before
                else {}
            )
        else:
            after = [t for t in times.get((instance, WARNING), []) if t >= when]
            truth[event["id"]] = {"followed_by_warning": bool(after)}
            if after:
                truth[event["id"]]["warning_after_seconds"] = int(
                    (min(after) - when).total_seconds()
                )
    return truth


def _links(doc: dict[str, Any]) -> dict[str, Any]:
    return {name: doc[name] for name in LINK_FIELDS if name in doc}


def _deliver(pipeline: Pipeline, records: list[dict[str, Any]], size: int) -> None:
    for start in range(0, len(records), size):
        assert pipeline.invoke(records[start : start + size]) == set()


def _check(pipeline: Pipeline, fleet: Fleet, events: list[dict[str, Any]]) -> dict[str, Any]:
    docs = pipeline.index.documents()
    assert len(docs) == pipeline.index.count() == len(events)  # nothing lost, no duplicate
    truth = expected_links(events)
    assert {i: _links(d) for i, d in docs.items()} == truth
    assert any("rebalance_lead_seconds" in t for t in truth.values())
    assert any(t.get("followed_by_warning") is False for t in truth.values())
    for event in events:
        doc = docs[event["id"]]
        instance = fleet.by_id.get(event["detail"]["instance-id"])
        if instance is None:  # a ghost: EC2 no longer knows it
            assert doc["capacity_group"] == "unknown"
            assert "pool" not in doc
        else:
            assert doc["capacity_group"] == instance.capacity_group
            assert doc["pool"] == f"{instance.instance_type}:{instance.availability_zone_id}"
    assert pipeline.dead_letters() == []
    return docs


@pytest.fixture(scope="module")
def fleet(aws_module: str) -> Fleet:
    """Read-only for the tests (enrichment looks it up): built once for the module."""
    return create_fleet(("us-east-1", "us-west-2"), instances_per_region=60, seed=17)


@pytest.mark.aws
@pytest.mark.opensearch
def test_links_in_time_order(writer_pipeline: Pipeline, fleet: Fleet) -> None:
    events = sorted(_storm(fleet), key=lambda e: e["time"])
    _deliver(writer_pipeline, [sqs_record(e) for e in events], 40)
    _check(writer_pipeline, fleet, events)


@pytest.mark.aws
@pytest.mark.opensearch
def test_links_when_warnings_arrive_before_their_rebalances(
    writer_pipeline: Pipeline, fleet: Fleet
) -> None:
    events = _storm(fleet)
    warnings_first = sorted(events, key=lambda e: (e["detail-type"] != WARNING, e["time"]))
    _deliver(writer_pipeline, [sqs_record(e) for e in warnings_first], 40)
    _check(writer_pipeline, fleet, events)


@pytest.mark.aws
@pytest.mark.opensearch
def test_shuffled_batches_and_redelivery_give_the_same_links(
    writer_pipeline: Pipeline, fleet: Fleet
) -> None:
    events = _storm(fleet)
    shuffled = list(events)
    random.Random(9).shuffle(shuffled)
    records = [sqs_record(e) for e in shuffled]
    _deliver(writer_pipeline, records, 25)
    first = {i: _links(d) for i, d in _check(writer_pipeline, fleet, events).items()}
    # A slice again (each event re-indexed without links, then relinked), then everything.
    _deliver(writer_pipeline, redeliver(records[50:100]), 25)
    _deliver(writer_pipeline, redeliver(list(reversed(records))), 60)
    again = {i: _links(d) for i, d in _check(writer_pipeline, fleet, events).items()}
    assert again == first


@pytest.mark.aws
@pytest.mark.opensearch
@pytest.mark.parametrize("failing", ["search", "update"])
def test_a_failed_link_is_retried_and_never_duplicated(
    writer_pipeline: Pipeline, fleet: Fleet, fault_proxy: FaultProxy, failing: str
) -> None:
    writer_pipeline.point_at(fault_proxy.url)
    events = sorted(_storm(fleet), key=lambda e: e["time"])
    truth = expected_links(events)
    instance = min(
        e["detail"]["instance-id"] for e in events if "rebalance_lead_seconds" in truth[e["id"]]
    )
    pair = [e for e in events if e["detail"]["instance-id"] == instance]
    rebalances = [sqs_record(e) for e in pair if e["detail-type"] == REBALANCE]
    warning = [sqs_record(e) for e in pair if e["detail-type"] == WARNING]
    assert writer_pipeline.invoke(rebalances) == set()
    # The warning's batch: 1 bulk index, 2 link search, 3 link update. 500 is not retried by
    # the client, so the failure reaches the batch.
    sent = sum(fault_proxy.requests.values())
    step = 2 if failing == "search" else 3
    fault_proxy.faults.status_for_request = {sent + step: 500}
    failed = writer_pipeline.invoke(warning)
    assert failed == {r["messageId"] for r in warning}
    stored = writer_pipeline.index.documents()
    assert len(stored) == len(pair)  # stored, only the link is missing
    assert "rebalance_lead_seconds" not in stored[warning_id(warning)]
    # SQS redelivers exactly the reported message: linked, still one document per event.
    assert writer_pipeline.invoke(redeliver(warning)) == set()
    docs = writer_pipeline.index.documents()
    assert len(docs) == len(pair)
    assert {i: _links(d) for i, d in docs.items()} == expected_links(pair)


def warning_id(records: list[dict[str, Any]]) -> str:
    return json.loads(records[0]["body"])["id"]


def test_expected_links_cover_every_arrival_order_in_one_instance() -> None:
    """The brute-force truth and compute_links agree on every order of a small history."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    history = [(REBALANCE, 0), (WARNING, 10), (REBALANCE, 5), (REBALANCE, 30), (WARNING, 40)]
    for order in itertools.permutations(range(len(history))):
        stored = [
            StoredEvent(
                "idx", f"e{n}", "i-1", history[n][0], base + timedelta(minutes=history[n][1]), {}
            )
            for n in order
        ]
        links = compute_links(stored)
        events = [
            {
                "id": f"e{n}",
                "detail-type": kind,
                "time": (base + timedelta(minutes=minute)).isoformat(),
                "detail": {"instance-id": "i-1"},
            }
            for n, (kind, minute) in enumerate(history)
        ]
        for event_id, fields in expected_links(events).items():
            least, flags = links.get(("idx", event_id), ({}, set()))
            got = {**least, **dict.fromkeys(flags, True)}
            want = {k: v for k, v in fields.items() if v is not False}
            assert got == want


def test_documents_carry_pool_initial_flags_and_unknown_capacity_group() -> None:
    """The other ingest-time fields, from the product's document code."""
    found = parse_event(rebalance("i-0123456789abcdef0", time="2026-11-25T08:00:00Z"))
    instance = {
        "InstanceType": "m5.large",
        "Placement": {"AvailabilityZone": "us-east-1b"},
        "Tags": [],
    }
    doc = build_document(found, instance, {"us-east-1b": "use1-az2"})
    assert doc["pool"] == "m5.large:use1-az2"
    assert doc["capacity_group"] == "standalone"  # a real stand-alone instance
    assert doc["followed_by_warning"] is False
    no_zone_id = build_document(found, instance, {})
    assert "pool" not in no_zone_id  # both parts or nothing
    gone = build_document(found, None, {"us-east-1b": "use1-az2"})
    assert gone["capacity_group"] == "unknown"
    assert "pool" not in gone
    warned = build_document(
        parse_event(spot_warning("i-0123456789abcdef0", time="2026-11-25T08:05:00Z")), None, {}
    )
    assert warned["capacity_group"] == "unknown"
    assert "followed_by_warning" not in warned and "rebalance_lead_seconds" not in warned


def test_prelink_links_a_pair_delivered_in_one_batch() -> None:
    iid = "i-0123456789abcdef0"
    events = [
        parse_event(spot_warning(iid, time="2026-11-25T08:05:00Z")),
        parse_event(rebalance(iid, time="2026-11-25T08:00:00Z")),
        parse_event(rebalance(iid, time="2026-11-25T07:00:00Z")),
    ]
    docs = [build_document(e, None, {}) for e in events]
    prelink(docs)
    assert docs[0]["rebalance_lead_seconds"] == 300  # the latest rebalance before it
    assert docs[1]["followed_by_warning"] is True and docs[1]["warning_after_seconds"] == 300
    assert docs[2]["followed_by_warning"] is True and docs[2]["warning_after_seconds"] == 3900


def _invoke_at(start: Any, handler: Any, records: list[dict[str, Any]], failed: list[str]) -> None:
    from tests.ingest.events import sqs_event  # noqa: PLC0415
    from tests.support.lambda_context import fake_context  # noqa: PLC0415

    start.wait()
    response = handler(sqs_event(records), fake_context())
    failed.extend(f["itemIdentifier"] for f in response["batchItemFailures"])


@pytest.mark.aws
@pytest.mark.opensearch
def test_concurrent_batches_on_the_same_instances_link_without_retries(
    writer_pipeline: Pipeline, fleet: Fleet
) -> None:
    """Lambda runs several batches at once (one container each): the warnings of a set of
    instances in one batch and their rebalances in another, at the same moment, must all be
    stored and linked without a retry (a link that keeps failing would end a healthy record
    in the dead-letter queue after maxReceiveCount)."""
    import threading  # noqa: PLC0415

    from lambda_src.ingest.config import IngestConfig  # noqa: PLC0415
    from lambda_src.ingest.handler import build_handler  # noqa: PLC0415

    events = _storm(fleet)
    config = IngestConfig.from_env()
    failed: list[str] = []
    for round_ in range(3):
        chunk = [e for n, e in enumerate(events) if n % 3 == round_]
        batches = [
            [sqs_record(e) for e in chunk if e["detail-type"] == kind]
            for kind in (WARNING, REBALANCE)
        ]
        handlers = [build_handler(config) for _ in batches]  # one container per batch
        start = threading.Barrier(len(batches))
        threads = [
            threading.Thread(target=_invoke_at, args=(start, handler, records, failed))
            for handler, records in zip(handlers, batches, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failed == []
    _check(writer_pipeline, fleet, events)
