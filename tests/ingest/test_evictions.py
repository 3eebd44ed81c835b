"""Evictions (CloudTrail `BidEvictedEvent`): one record, one document per instance, ids from the
CloudTrail record's own eventID, the whole record's fate decided by all of its documents, and
reconciliation with warnings and rebalance recommendations on the real node in every order."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lambda_src.contract import (
    ACCEPTED_DETAIL_TYPES,
    DLQ_REASON_ATTRIBUTE,
    EVENT_PATTERNS,
    EVICTION_EVENT_TYPE,
)
from lambda_src.ingest.batch import BatchIngestor
from lambda_src.ingest.bulk import BulkIndexer, ItemResult, Verdict
from lambda_src.ingest.dead_letter import DeadLetterQueue
from lambda_src.ingest.documents import build_document, eviction_document_id
from lambda_src.ingest.events import (
    InvalidEvent,
    SpotEviction,
    evictions_from_cloudtrail,
    parse_event,
    parse_events,
    registered_detail_types,
    registered_kinds,
)
from lambda_src.ingest.instances import InstanceDirectory
from spot_cli.events import WARNING
from spot_cli.local.fleet import create_fleet
from spot_cli.local.provisioning import INGEST_USER, provision_local
from spot_cli.local.storm import StormSettings, generate_storm
from tests.domain.cleanup import remove_provisioned_security
from tests.ingest.conftest import Pipeline
from tests.ingest.events import eviction, rebalance, redeliver, spot_warning, sqs_record
from tests.support.search_index import MAPPING, SearchIndex, create_index

A, B, C, D = (f"i-0{n:016x}" for n in range(0xA, 0xE))
CLOUDTRAIL_ID = "d27a6096-807b-4bd0-8c20-a33a83375054"


# -- the model ---------------------------------------------------------------------------------


def test_one_record_is_one_event_per_instance_with_ids_from_the_cloudtrail_event_id() -> None:
    record = eviction([A, B, A], cloudtrail_event_id=CLOUDTRAIL_ID, time="2026-11-30T10:00:00Z")
    events = parse_events(record)
    assert [e.instance_id for e in events] == [A, B]  # a repeated id is one eviction
    assert all(isinstance(e, SpotEviction) for e in events)
    assert [e.event_id for e in events] == [
        eviction_document_id(CLOUDTRAIL_ID, A),
        eviction_document_id(CLOUDTRAIL_ID, B),
    ]
    document = build_document(events[0], None, {})
    assert document["event_type"] == EVICTION_EVENT_TYPE
    assert document["cloudtrail_event_id"] == CLOUDTRAIL_ID
    assert document["event_time"] == "2026-11-30T10:00:00Z"
    assert document["warned"] is False and document["rebalance_recommended"] is False


def test_the_envelope_id_does_not_decide_the_document_id() -> None:
    """Delivered live twice (two envelopes) and found by backfill (the bare CloudTrail record,
    as LookupEvents' CloudTrailEvent holds it): the same documents."""
    live = eviction([A, B], cloudtrail_event_id=CLOUDTRAIL_ID, time="2026-11-30T10:00:00Z")
    again = {**live, "id": str(uuid.uuid4()), "time": "2026-11-30T10:00:07Z"}
    backfilled = evictions_from_cloudtrail(json.loads(json.dumps(live["detail"])))
    assert parse_events(live) == parse_events(again) == backfilled


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["serviceEventDetails"].update(instanceIdSet=[]), "instanceIdSet"),
        (lambda d: d.pop("serviceEventDetails"), "instanceIdSet"),
        (lambda d: d["serviceEventDetails"].update(instanceIdSet="i-0a"), "instanceIdSet"),
        (
            lambda d: d["serviceEventDetails"].update(instanceIdSet=[A, "sir-123"]),
            r"instanceIdSet\[1\] 'sir-123'",
        ),
        (lambda d: d.pop("eventID"), "eventID"),
        (lambda d: d.update(eventTime="yesterday"), "time"),
        (lambda d: d.update(eventName="TerminateInstances"), "eventName 'TerminateInstances'"),
        (lambda d: d.pop("eventName"), "eventName"),
    ],
)
def test_invalid_eviction_records_are_refused_whole_with_a_reason(mutate, message) -> None:
    record = eviction([A, B])
    mutate(record["detail"])
    with pytest.raises(InvalidEvent, match=message):
        parse_events(record)


def test_backfill_path_takes_account_and_region_from_the_record() -> None:
    detail = eviction([A], region="eu-west-1")["detail"]
    (event,) = evictions_from_cloudtrail(detail)
    assert (event.account, event.region) == ("123456789012", "eu-west-1")
    with pytest.raises(InvalidEvent, match="recipientAccountId"):
        evictions_from_cloudtrail({**detail, "recipientAccountId": "me"})


def test_parse_event_insists_on_one_event() -> None:
    assert parse_event(eviction([A])).instance_id == A
    with pytest.raises(InvalidEvent, match="holds 2 events"):
        parse_event(eviction([A, B]))


def test_every_rule_pattern_has_a_model_and_no_other() -> None:
    # The rules match contract.EVENT_PATTERNS; a model without a rule never receives anything,
    # a rule without a model sends everything it matches to the DLQ.
    patterns = {
        (p["detail-type"][0], (p.get("detail", {}).get("eventName") or [None])[0])
        for p in EVENT_PATTERNS
    }
    assert patterns == set(registered_kinds())
    assert set(registered_detail_types()) == set(ACCEPTED_DETAIL_TYPES)
    assert all(p["source"] == ["aws.ec2"] for p in EVENT_PATTERNS)


# -- one record, several documents, on the real node ------------------------------------------


@pytest.mark.aws
@pytest.mark.opensearch
def test_each_instance_is_indexed_once_and_redelivery_adds_nothing(pipeline: Pipeline) -> None:
    record = eviction([A, B, C], cloudtrail_event_id=CLOUDTRAIL_ID)
    assert pipeline.invoke([sqs_record(record)]) == set()
    expected = {eviction_document_id(CLOUDTRAIL_ID, i) for i in (A, B, C)}
    assert set(pipeline.index.documents()) == expected
    # EventBridge again (a new envelope id), SQS again (a new message id), twice in one batch.
    again = sqs_record({**record, "id": str(uuid.uuid4())})
    assert pipeline.invoke([again, *redeliver([again])]) == set()
    docs = pipeline.index.documents()
    assert set(docs) == expected and pipeline.index.count() == 3
    assert {d["instance_id"] for d in docs.values()} == {A, B, C}
    assert pipeline.dead_letters() == []


@pytest.mark.aws
@pytest.mark.opensearch
def test_a_record_without_a_valid_instance_id_is_parked_with_its_reason(
    pipeline: Pipeline,
) -> None:
    empty, mixed = eviction([]), eviction([A, "not-an-instance"])
    records = [sqs_record(empty), sqs_record(mixed), sqs_record(eviction([B]))]
    assert pipeline.invoke(records) == set()
    assert {d["instance_id"] for d in pipeline.index.documents().values()} == {B}
    reasons = {
        json.loads(m["Body"])["detail"]["eventID"]: m["MessageAttributes"][DLQ_REASON_ATTRIBUTE][
            "StringValue"
        ]
        for m in pipeline.dead_letters()
    }
    assert reasons == {
        empty["detail"]["eventID"]: "invalid event: serviceEventDetails.instanceIdSet is "
        "missing or empty",
        mixed["detail"]["eventID"]: "invalid event: serviceEventDetails.instanceIdSet[1] "
        "'not-an-instance' is not an instance id",
    }


class _RefusesOne(BulkIndexer):
    """The real indexer, except that one instance's document gets `verdict` (as a 429 or a
    mapping refusal would give it) while the rest of the request is stored."""

    def __init__(self, base: BulkIndexer, instance_id: str, verdict: Verdict) -> None:
        super().__init__(base.client, base.alias)
        self.instance_id, self.verdict = instance_id, verdict

    def index(self, documents: Any, *, refresh: str | None = None) -> list[ItemResult]:
        keep = [d for d in documents if d["instance_id"] != self.instance_id]
        stored = iter(super().index(keep, refresh=refresh))
        return [
            ItemResult(self.verdict, "refused for the test")
            if d["instance_id"] == self.instance_id
            else next(stored)
            for d in documents
        ]


def _ingestor(pipeline: Pipeline, indexer: BulkIndexer) -> BatchIngestor:
    return BatchIngestor(
        InstanceDirectory(), indexer, DeadLetterQueue(pipeline.dlq_url), enrichment_max_attempts=1
    )


@pytest.mark.aws
@pytest.mark.opensearch
def test_one_document_to_retry_retries_the_whole_record_idempotently(pipeline: Pipeline) -> None:
    real = BulkIndexer(pipeline.index.client, pipeline.index.alias)
    record = sqs_record(eviction([A, B, C]))
    outcome = _ingestor(pipeline, _RefusesOne(real, B, Verdict.RETRY)).ingest([record])
    assert set(outcome.retry) == {record["messageId"]}
    assert outcome.stored_messages == set() and outcome.poisoned == {}
    assert pipeline.index.count() == 2  # A and C stored; the record comes back for B
    (again,) = redeliver([record])
    outcome = _ingestor(pipeline, real).ingest([again])
    assert outcome.stored_messages == {again["messageId"]} and not outcome.retry
    assert {d["instance_id"] for d in pipeline.index.documents().values()} == {A, B, C}
    assert pipeline.index.count() == 3 and pipeline.dead_letters() == []


@pytest.mark.aws
@pytest.mark.opensearch
def test_one_refused_document_parks_the_record_once(pipeline: Pipeline) -> None:
    real = BulkIndexer(pipeline.index.client, pipeline.index.alias)
    record = sqs_record(eviction([A, B, C]))
    outcome = _ingestor(pipeline, _RefusesOne(real, B, Verdict.POISON)).ingest([record])
    assert outcome.poisoned == {record["messageId"]: "refused for the test"}
    assert outcome.stored_messages == set() and outcome.retry == {}
    parked = pipeline.dead_letters()
    assert [m["Body"] for m in parked] == [record["body"]]  # the whole record, once


# -- reconciliation: warnings, rebalance recommendations and evictions ------------------------

BASE = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _at(minutes: float) -> str:
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _history() -> list[dict[str, Any]]:
    """A: rebalance, warning 3 min later, evicted 2 min after that. B: evicted without a signal.
    C: warned, never evicted (yet). D: rebalance, then evicted without a warning. One eviction
    record holds A, B and D (EC2 evicts several instances at once)."""
    return [
        rebalance(A, time=_at(0), event_id="rebalance-a"),
        spot_warning(A, time=_at(3), event_id="warning-a"),
        spot_warning(C, time=_at(4), event_id="warning-c"),
        rebalance(D, time=_at(1), event_id="rebalance-d"),
        eviction([A, B, D], time=_at(5), cloudtrail_event_id=CLOUDTRAIL_ID),
    ]


def _evicted(instance: str) -> str:
    return eviction_document_id(CLOUDTRAIL_ID, instance)


EXPECTED_LINKS = {
    "rebalance-a": {"followed_by_warning": True, "warning_after_seconds": 180},
    "warning-a": {"rebalance_lead_seconds": 180, "eviction_confirmed": True},
    "warning-c": {"eviction_confirmed": False},
    "rebalance-d": {"followed_by_warning": False},
    _evicted(A): {"warned": True, "warning_lead_seconds": 120, "rebalance_recommended": True},
    _evicted(B): {"warned": False, "rebalance_recommended": False},
    _evicted(D): {"warned": False, "rebalance_recommended": True},
}
LINK_FIELDS = sorted({name for links in EXPECTED_LINKS.values() for name in links})


def _links(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    docs = pipeline.index.documents()
    return {i: {k: d[k] for k in LINK_FIELDS if k in d} for i, d in docs.items()}


ORDERS = {
    "one batch": lambda events: [events],
    "time order, one batch each": lambda events: [
        [e] for e in sorted(events, key=lambda e: e["time"])
    ],
    "eviction first, one batch each": lambda events: [[e] for e in reversed(events)],
    "eviction first, then the rest together": lambda events: [[events[-1]], events[:-1]],
}


@pytest.mark.aws
@pytest.mark.opensearch
@pytest.mark.parametrize("order", sorted(ORDERS))
def test_evictions_are_reconciled_in_any_arrival_order(pipeline: Pipeline, order: str) -> None:
    batches = [[sqs_record(e) for e in batch] for batch in ORDERS[order](_history())]
    for batch in batches:
        assert pipeline.invoke(batch) == set()
    assert _links(pipeline) == EXPECTED_LINKS
    # Redelivery, all of it in reverse and in one batch: nothing changes, nothing is added.
    assert pipeline.invoke(redeliver([r for b in reversed(batches) for r in b])) == set()
    assert _links(pipeline) == EXPECTED_LINKS
    assert pipeline.dead_letters() == []


# -- the local storm's evictions and their ground truth -----------------------------------------


@pytest.mark.aws
def test_the_storm_evicts_with_and_without_warnings_and_knows_which(aws: str) -> None:
    fleet = create_fleet(("us-east-1", "eu-west-1"), instances_per_region=150, seed=4)
    storm = generate_storm(fleet, StormSettings(events=300, seed=5))
    truth = storm.eviction_truth()
    # Every record parses into the documents the ground truth names, once per instance.
    parsed = [e for record in storm.evictions for e in parse_events(record)]
    assert [e.event_id for e in parsed] == list(truth)
    assert any(
        len(r["detail"]["serviceEventDetails"]["instanceIdSet"]) > 1 for r in storm.evictions
    )
    warned = [t for t in truth.values() if t["warned"]]
    unwarned = [t for t in truth.values() if not t["warned"]]
    assert warned and unwarned
    assert any(t["rebalance_recommended"] for t in unwarned)  # a rebalance, then no warning
    assert all(t["warning_lead_seconds"] == 120 for t in warned)
    warned_instances = {e["detail"]["instance-id"] for e in storm.of_type(WARNING)}
    assert {t["instance_id"] for t in warned} <= warned_instances
    assert not {t["instance_id"] for t in unwarned} & warned_instances
    # Evictions come from a generator of their own: the EC2 events of a seed do not change.
    quiet = StormSettings(events=300, seed=5, warned_eviction_ratio=0, unwarned_evictions_ratio=0)
    assert generate_storm(fleet, quiet).events == storm.events
    assert generate_storm(fleet, quiet).evictions == ()


# -- the mapping change on a stack update ---------------------------------------------------------

EVICTION_FIELDS = (
    "cloudtrail_event_id",
    "warned",
    "warning_lead_seconds",
    "rebalance_recommended",
    "eviction_confirmed",
)


@pytest.mark.aws
@pytest.mark.opensearch
def test_a_stack_update_puts_the_new_fields_on_indices_created_before_it(
    aws: str, opensearch_node: Any, opensearch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index created under mapping v2 refuses the new code's documents (strict mapping): a
    warning now carries `eviction_confirmed`. The provisioning run of the update (the custom
    resource's code; the stack orders the function after it) PUTs v3 on the existing index,
    and then both are stored and linked, without a rollover or a reindex."""
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    prefix = f"upgrade-{uuid.uuid4().hex[:8]}"
    old = copy.deepcopy(MAPPING)
    for name in EVICTION_FIELDS:
        old["properties"].pop(name)
    create_index(opensearch, prefix, mapping=old)
    try:
        ingestor = BatchIngestor(
            InstanceDirectory(), BulkIndexer(opensearch, f"{prefix}-write"), None
        )
        warning = sqs_record(spot_warning(A, time="2026-11-30T10:00:00Z"))
        refused = ingestor.ingest([warning])
        assert "strict_dynamic_mapping_exception" in refused.retry[warning["messageId"]]
        provision_local(opensearch_node.settings(), prefix)
        evicted = sqs_record(eviction([A], time="2026-11-30T10:02:00Z"))
        outcome = ingestor.ingest([*redeliver([warning]), evicted])
        assert not outcome.retry and len(outcome.stored_messages) == 2
        properties = opensearch.indices.get_mapping(index=f"{prefix}-000001")[f"{prefix}-000001"]
        assert set(EVICTION_FIELDS) <= set(properties["mappings"]["properties"])
        docs = SearchIndex(opensearch, prefix).documents()
        assert {
            d["event_type"]: d.get("eviction_confirmed", d.get("warned")) for d in docs.values()
        } == {
            "EC2 Spot Instance Interruption Warning": True,
            EVICTION_EVENT_TYPE: True,
        }
    finally:
        opensearch.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        opensearch.indices.delete_index_template(name=prefix, ignore=[404])
        remove_provisioned_security(opensearch, [INGEST_USER])
