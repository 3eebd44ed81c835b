"""Every exit from the queue, at its edges, against the real node and the moto server: a record
leaves the source queue only by being stored, parked in the DLQ with its reason, or deleted as a
duplicate of a stored record; one record never changes the fate of another."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from lambda_src.contract import DLQ_SOURCE_MESSAGE_ATTRIBUTE
from lambda_src.ingest import runtime
from lambda_src.ingest.bulk import BulkIndexer, Verdict
from lambda_src.ingest.documents import build_document
from lambda_src.ingest.events import parse_event
from lambda_src.ingest.handler import handler
from spot_cli.local.poller import failed_message_ids, lambda_record
from tests.ingest.events import rebalance, spot_warning, sqs_event, sqs_record
from tests.ingest.instances import launch
from tests.support.lambda_context import fake_context
from tests.support.ports import free_port

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]


def _ids(records: list[dict[str, Any]]) -> set[str]:
    return {r["messageId"] for r in records}


def _event_id(record: dict[str, Any]) -> str:
    return json.loads(record["body"])["id"]


# -- one oversized id among valid events ----------------------------------------------------------


def test_a_513_byte_id_does_not_hold_back_the_valid_events(pipeline, fault_proxy):
    pipeline.point_at(fault_proxy.url)
    instances = launch(3)
    valid = [sqs_record(spot_warning(i)) for i in instances]
    oversized = sqs_record(spot_warning(instances[0], event_id="x" * 513))
    batch = [valid[0], oversized, *valid[1:]]

    assert pipeline.invoke(batch) == set()  # nothing to redeliver: stored or parked
    assert set(pipeline.index.documents()) == {_event_id(r) for r in valid}
    # Caught before sending: one `_bulk`, without the oversized id.
    assert fault_proxy.requests["POST _bulk"] == 1
    assert "x" * 513 not in fault_proxy.bulk_ids
    [parked] = pipeline.dead_letters()
    assert parked["Body"] == oversized["body"]
    reason = parked["MessageAttributes"]["ingest-failure-reason"]["StringValue"]
    assert "513 bytes" in reason


def test_a_whole_request_refusal_is_narrowed_to_the_document_that_caused_it(search_index):
    # Straight to the bulk indexer (no validation in front): OpenSearch refuses the whole
    # request for the one long `_id`; halving stores the others and poisons only that one.
    indexer = BulkIndexer(search_index.client, search_index.alias)
    events = [parse_event(spot_warning(f"i-0{n:016x}")) for n in range(1, 8)]
    documents = [build_document(event, None, {}) for event in events]
    documents[4]["event_id"] = "y" * 513

    results = indexer.index(documents)

    assert [r.verdict for r in results] == [Verdict.STORED] * 4 + [Verdict.POISON] + [
        Verdict.STORED
    ] * 2
    assert "action_request_validation_exception" in results[4].reason
    assert search_index.count() == 6


# -- a DLQ send where SQS rejects some entries ------------------------------------------------


class RejectEntries:
    """SQS refusing chosen entries of a SendMessageBatch, which moto never does: the request
    that reaches moto lacks them and the response lists them under Failed (botocore's own
    event hooks on the function's DLQ client)."""

    def __init__(self, client: Any, source_ids: set[str]) -> None:
        self.source_ids = source_ids
        self.dropped: list[dict[str, Any]] = []
        client.meta.events.register("provide-client-params.sqs.SendMessageBatch", self._drop)
        client.meta.events.register("after-call.sqs.SendMessageBatch", self._report)

    def _drop(self, params: dict[str, Any], **_: Any) -> None:
        kept, self.dropped = [], []
        for entry in params["Entries"]:
            source = entry["MessageAttributes"][DLQ_SOURCE_MESSAGE_ATTRIBUTE]["StringValue"]
            (self.dropped if source in self.source_ids else kept).append(entry)
        params["Entries"] = kept

    def _report(self, parsed: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Failed", []).extend(
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"}
            for e in self.dropped
        )


def test_dlq_entries_sqs_rejects_stay_on_the_source_queue(pipeline):
    sqs = boto3.client("sqs")
    source = sqs.create_queue(QueueName="spot-insights-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    [instance] = launch(1)
    good = json.dumps(spot_warning(instance))
    poison = ["{not json", "[1, 2]", json.dumps({"source": ["aws.ec2"]})]
    for body in [good, *poison]:
        sqs.send_message(QueueUrl=source, MessageBody=body)
    messages = sqs.receive_message(
        QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=2, MessageAttributeNames=["All"]
    )["Messages"]
    records = [lambda_record(m, arn, "us-east-1") for m in messages]
    by_body = {r["body"]: r["messageId"] for r in records}
    rejected = by_body["[1, 2]"]
    RejectEntries(runtime.ingestor().dead_letters._sqs, {rejected})

    # As Lambda does: delete every message the response does not report.
    response = handler(sqs_event(records), fake_context())
    failed = failed_message_ids(response, _ids(records))
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])

    assert failed == {rejected}
    parked = pipeline.dead_letters()
    assert {m["Body"] for m in parked} == {"{not json", json.dumps({"source": ["aws.ec2"]})}
    assert set(pipeline.index.documents()) == {json.loads(good)["id"]}
    time.sleep(2.5)  # the visibility timeout passes: what was not deleted comes back
    again = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == ["[1, 2]"]


# -- the same event twice in one batch ----------------------------------------------------------


def test_the_same_event_twice_is_sent_once_and_both_messages_are_stored(pipeline, fault_proxy):
    pipeline.point_at(fault_proxy.url)
    [instance, other] = launch(2)
    first = sqs_record(spot_warning(instance))
    second = sqs_record(first["body"])
    rest = sqs_record(rebalance(other))

    assert pipeline.invoke([first, rest, second]) == set()
    assert sorted(fault_proxy.bulk_ids) == sorted([_event_id(first), _event_id(rest)])
    assert pipeline.index.count() == 2


def test_the_same_event_twice_shares_a_retry(pipeline, fault_proxy):
    pipeline.point_at(fault_proxy.url)
    [instance, other] = launch(2)
    first = sqs_record(spot_warning(instance))
    second = sqs_record(first["body"])
    rest = sqs_record(rebalance(other))
    fault_proxy.faults.throttle_ids = {_event_id(first)}

    assert pipeline.invoke([first, rest, second]) == _ids([first, second])
    assert fault_proxy.bulk_ids.count(_event_id(first)) == 1
    assert set(pipeline.index.documents()) == {_event_id(rest)}


@pytest.mark.parametrize("counts", [(1, 3), (3, 1)], ids=["higher-last", "higher-first"])
def test_the_same_event_twice_takes_the_higher_receive_count(pipeline, counts):
    # EC2 is unreachable: an event is held back for enrichment only while its receive count
    # is below ENRICHMENT_MAX_ATTEMPTS (3). One of its two messages is at 3: index it now.
    [instance] = launch(1)
    pipeline.reconfigure(
        AWS_ENDPOINT_URL_EC2=f"http://127.0.0.1:{free_port()}", EC2_MAX_ATTEMPTS="1"
    )
    body = json.dumps(spot_warning(instance))
    records = [sqs_record(body, receive_count=count) for count in counts]

    assert pipeline.invoke(records) == set()
    [doc] = pipeline.index.documents().values()
    assert (doc["enrichment"], doc["enrichment_reason"]) == ("missing", "lookup_failed")


# -- clock skew -----------------------------------------------------------------------------


def test_an_instance_launched_after_the_event_gets_no_runtime(pipeline):
    [instance] = launch(1)  # moto launches it now
    early = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    warning = spot_warning(instance, time=early)

    assert pipeline.invoke([sqs_record(warning)]) == set()
    doc = pipeline.index.documents()[warning["id"]]
    assert doc["launch_time"] > doc["event_time"]
    assert "runtime_seconds" not in doc
    assert doc["enrichment"] == "full"


@pytest.mark.parametrize(("launched_after", "runtime"), [(1, None), (0, 0), (-7, 7)])
def test_runtime_around_the_event_time(launched_after, runtime):
    event = parse_event(spot_warning("i-0123456789abcdef0", time="2026-11-25T08:00:00+02:00"))
    launched = datetime(2026, 11, 25, 6, 0, tzinfo=UTC) + timedelta(seconds=launched_after)
    doc = build_document(event, {"InstanceId": "i-0123456789abcdef0", "LaunchTime": launched}, {})
    assert doc.get("runtime_seconds") == runtime


# -- records Lambda never sends -------------------------------------------------------------


def test_records_of_any_shape_get_a_defined_path_through_the_handler(pipeline):
    [instance] = launch(1)
    valid = sqs_record(spot_warning(instance), receive_count=1)
    valid["attributes"] = "not an object"
    no_id = sqs_record("{}")
    del no_id["messageId"]
    number_id = dict(sqs_record("{}"), messageId=5)
    dict_body = dict(sqs_record("{}"), body={"id": "x"})
    records = [valid, 42, no_id, number_id, dict_body]

    response = handler(sqs_event(records), fake_context())

    assert response == {"batchItemFailures": []}
    assert set(pipeline.index.documents()) == {_event_id(valid)}
    parked = pipeline.dead_letters()
    assert len(parked) == 4
    reasons = sorted(m["MessageAttributes"]["ingest-failure-reason"]["StringValue"] for m in parked)
    assert reasons[0].startswith("Records[1] is not an object")
    assert reasons[1].startswith("Records[2] has no usable messageId")
    assert reasons[2].startswith("Records[3] has no usable messageId (5)")
    assert reasons[3] == "body is a dict, not a string"
    assert handler(sqs_event([]), fake_context()) == {"batchItemFailures": []}
