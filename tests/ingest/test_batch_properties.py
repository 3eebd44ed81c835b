"""Property-based: generated batches mixing valid events with malformed records of every class
(tests/ingest/record_strategies.py) through the real BatchIngestor, BulkIndexer and
DeadLetterQueue over in-process fakes (tests/ingest/fakes.py). For every batch: `ingest`
returns, every message id ends in exactly one fate, valid events are stored on the first
delivery whatever else is in the batch, and every document sent fits the strict mapping.

`make test` runs the bounded profile (INGEST_FUZZ=quick, derandomized); the long run is
`INGEST_FUZZ=long .venv/bin/pytest tests/ingest/test_batch_properties.py -s`. Both print how
many batches and records were generated and the records per class."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lambda_src.contract import DLQ_REASON_ATTRIBUTE, DLQ_SOURCE_MESSAGE_ATTRIBUTE
from lambda_src.ingest.batch import UNEXPECTED, BatchIngestor
from lambda_src.ingest.bulk import BulkIndexer, Verdict
from lambda_src.ingest.dead_letter import DeadLetterQueue
from lambda_src.ingest.documents import build_document
from lambda_src.ingest.events import parse_event
from tests.ingest.fakes import FakeDirectory, FakeOpenSearch, FakeSqs
from tests.ingest.record_strategies import KNOWN_INSTANCES, REGIONS, Generated, batches
from tests.support.search_index import SearchIndex, create_index

settings.register_profile(
    "quick",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# The quick run without shrinking: for checking that a deliberate breakage fails fast.
settings.register_profile("noshrink", settings.get_profile("quick"), phases=[Phase.generate])
PROFILE = settings.get_profile(os.environ.get("INGEST_FUZZ", "quick"))
TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report_tally(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter and capture and TALLY:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\ningest fuzz ({os.environ.get('INGEST_FUZZ', 'quick')}):")
            for key, count in sorted(TALLY.items()):
                reporter.write_line(f"  {count:>8}  {key}")


def _ingestor(opensearch: FakeOpenSearch, sqs: FakeSqs, directory: FakeDirectory) -> BatchIngestor:
    dead_letters = DeadLetterQueue.__new__(DeadLetterQueue)
    dead_letters.queue_url = "fake"
    dead_letters._sqs = sqs
    return BatchIngestor(directory, BulkIndexer(opensearch, "alias"), dead_letters)


def _receive_count(record: dict[str, Any]) -> int:
    attributes = record.get("attributes")
    if not isinstance(attributes, dict):
        return 1
    try:
        return max(1, int(attributes.get("ApproximateReceiveCount", 1)))
    except (TypeError, ValueError, OverflowError):
        return 1


def _directory() -> FakeDirectory:
    return FakeDirectory(
        instances={
            i: {"InstanceId": i, "InstanceType": "m5.large", "PrivateIpAddress": "10.0.0.1"}
            for i in KNOWN_INSTANCES
        }
    )


def _expected_valid(valid: list[Generated], throttled: set[str], failing: set[str]) -> dict:
    """Message id -> expected fate for the valid events (stored or retry)."""
    receive: dict[str, int] = {}
    for g in valid:
        event_id = json.loads(g.record["body"])["id"]
        receive[event_id] = max(receive.get(event_id, 0), _receive_count(g.record))
    expected = {}
    for g in valid:
        event = json.loads(g.record["body"])
        held_by_ec2 = event["region"] in failing and receive[event["id"]] < 3
        retry = held_by_ec2 or event["id"] in throttled
        expected[g.record["messageId"]] = "retry" if retry else "stored"
    return expected


def _check(generated: list[Generated], throttled: set[str], failing: set[str], rejected: set[str]):
    opensearch, sqs, directory = FakeOpenSearch(throttle_ids=throttled), FakeSqs(), _directory()
    sqs.reject_sources = rejected
    directory.failing_regions = failing
    records = [g.record for g in generated]

    outcome = _ingestor(opensearch, sqs, directory).ingest(records)  # must not raise

    valid = [g for g in generated if g.kind == "valid"]
    poison = [g for g in generated if g.kind == "poison"]
    unidentified = [g for g in generated if g.kind == "unidentified"]
    fates = {
        **dict.fromkeys(outcome.stored_messages, "stored"),
        **dict.fromkeys(outcome.retry, "retry"),
        **dict.fromkeys(outcome.poisoned, "poisoned"),
    }
    # Exactly one fate per message id, only for ids in the batch, only strings.
    assert len(fates) == len(outcome.stored_messages) + len(outcome.retry) + len(outcome.poisoned)
    assert all(isinstance(mid, str) and mid for mid in outcome.retry)
    assert set(fates) == {g.record["messageId"] for g in valid + poison}

    expected = _expected_valid(valid, throttled, failing)
    for g in poison:
        expected[g.record["messageId"]] = (
            "retry" if g.record["messageId"] in rejected else "poisoned"
        )
    assert fates == expected

    # Stored means stored: the document is in the index under the event id.
    for g in valid:
        if fates[g.record["messageId"]] == "stored":
            event = json.loads(g.record["body"])
            assert opensearch.stored[event["id"]]["instance_id"] == event["detail"]["instance-id"]
    # Every document sent fits the strict mapping; no request was refused as a whole; each
    # event went to _bulk once per attempt.
    assert opensearch.refused == []
    assert opensearch.requests_refused == 0
    assert len(opensearch.sent_ids) == len(set(opensearch.sent_ids))
    # Nothing fell through to the catch-all: every class has its own reason.
    reasons = list(outcome.poisoned.values()) + list(outcome.retry.values()) + outcome.unidentified
    assert not any(UNEXPECTED in reason for reason in reasons)
    # The DLQ holds the poison with its reason and source id, and the unidentified records.
    parked = {
        m["MessageAttributes"].get(DLQ_SOURCE_MESSAGE_ATTRIBUTE, {}).get("StringValue"): m
        for m in sqs.messages
    }
    for mid, reason in outcome.poisoned.items():
        assert (
            parked[mid]["MessageAttributes"][DLQ_REASON_ATTRIBUTE]["StringValue"] == reason[:1000]
        )
    for g in poison:
        if isinstance(g.record["body"], str) and g.record["messageId"] in outcome.poisoned:
            assert parked[g.record["messageId"]]["MessageBody"] == g.record["body"]
    assert len(outcome.unidentified) == len(unidentified)
    assert all(problem.endswith("parked in the DLQ") for problem in outcome.unidentified)
    assert len(sqs.messages) == len(outcome.poisoned) + len(unidentified)

    TALLY["batches"] += 1
    TALLY["records"] += len(records)
    for g in generated:
        TALLY[f"class: {g.label}"] += 1


@settings(PROFILE)
@given(batches())
def test_any_batch_without_faults_stores_every_valid_event_on_first_delivery(generated):
    _check(generated, set(), set(), set())


@settings(PROFILE)
@given(batches(), st.data())
def test_any_batch_under_faults_gives_each_message_one_fate(generated, data):
    event_ids = [
        json.loads(g.record["body"])["id"]
        for g in generated
        if g.kind == "valid" and isinstance(g.record.get("body"), str)
    ]
    message_ids = [g.record["messageId"] for g in generated if g.kind == "poison"]
    throttled = data.draw(st.sets(st.sampled_from(event_ids)) if event_ids else st.just(set()))
    failing = data.draw(st.sets(st.sampled_from(REGIONS), max_size=2))
    rejected = data.draw(st.sets(st.sampled_from(message_ids)) if message_ids else st.just(set()))
    TALLY["batches under faults"] += 1
    _check(generated, throttled, failing, rejected)


# -- the fake's verdicts, confirmed by the real node ---------------------------------------


@pytest.fixture(scope="module")
def replay_index(opensearch) -> Iterator[SearchIndex]:
    prefix = f"ingest-replay-{uuid.uuid4().hex[:10]}"
    create_index(opensearch, prefix)
    yield SearchIndex(opensearch, prefix)
    opensearch.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)


def _documents(generated: list[Generated]) -> list[dict[str, Any]]:
    """Every document the generated bodies turn into, including the ones limits.py refuses."""
    directory = _directory()
    documents = []
    for g in generated:
        body = g.record.get("body") if isinstance(g.record, dict) else None
        try:
            event = parse_event(json.loads(body))
        except (TypeError, ValueError, RecursionError):  # not a body, or InvalidEvent
            continue
        instance = directory.instances.get(event.instance_id)
        documents.append(build_document(event, instance, directory.zone_ids(event.region)))
    return documents


def _has_lone_surrogate(document: dict[str, Any]) -> bool:
    texts = [v for v in document.values() if isinstance(v, str)]
    return any("\ud800" <= c <= "\udfff" for text in texts for c in text)


@pytest.mark.opensearch
@settings(PROFILE, max_examples=min(PROFILE.max_examples, 25))
@given(batches())
def test_the_fakes_verdicts_match_the_real_node(replay_index, generated):
    # Lone surrogates are refused by policy, not by OpenSearch: it stores them as U+FFFD, so
    # two different ids would collide on one document (see docs/ingest.md).
    documents = [d for d in _documents(generated) if not _has_lone_surrogate(d)]
    fake = [r.verdict for r in BulkIndexer(FakeOpenSearch(), "alias").index(documents)]
    real = BulkIndexer(replay_index.client, replay_index.alias).index(documents)

    assert [r.verdict for r in real] == fake, [r.reason for r in real]
    stored = {
        d["event_id"]: d
        for d, r in zip(documents, real, strict=True)
        if r.verdict is Verdict.STORED
    }
    if stored:
        replay_index.client.indices.refresh(index=replay_index.index)
        found = replay_index.client.mget(index=replay_index.index, body={"ids": list(stored)})
        assert {d["_id"]: d["_source"] for d in found["docs"]} == stored
    TALLY["documents replayed through the real node"] += len(documents)
    TALLY["  of which refused (id over 512 bytes, immense keyword)"] += fake.count(Verdict.POISON)
