"""Faults from real servers: OpenSearch rejecting items, refusing, timing out or gone; EC2 and
the DLQ unreachable; malformed records. Every record ends stored, reported for retry, or in the
DLQ with its reason, and never stored twice."""

from __future__ import annotations

import copy
import json

import pytest

from tests.ingest.events import rebalance, redeliver, spot_warning, sqs_record
from tests.ingest.instances import launch
from tests.support.ports import free_port
from tests.support.search_index import MAPPING, create_index

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]


def _ids(records):
    return {r["messageId"] for r in records}


def _event_ids(records):
    return {json.loads(r["body"])["id"] for r in records}


def test_items_throttled_inside_bulk_are_exactly_the_ones_reported(pipeline, fault_proxy):
    instances = launch(6)
    records = [sqs_record(spot_warning(i)) for i in instances]
    throttled = records[1::2]
    fault_proxy.faults.throttle_ids = _event_ids(throttled)
    pipeline.point_at(fault_proxy.url)

    assert pipeline.invoke(records) == _ids(throttled)
    assert set(pipeline.index.documents()) == _event_ids(records[0::2])
    assert pipeline.dead_letters() == []

    fault_proxy.faults.throttle_ids = set()
    assert pipeline.invoke(redeliver(throttled)) == set()
    assert set(pipeline.index.documents()) == _event_ids(records)
    assert pipeline.index.count() == 6


def test_a_failed_chunk_reports_exactly_its_messages(pipeline, fault_proxy):
    instances = launch(9)
    records = [sqs_record(spot_warning(i)) for i in instances]
    # ~3 documents per request, and the second request is refused as a whole.
    pipeline.point_at(fault_proxy.url, BULK_MAX_BYTES="2500", OPENSEARCH_MAX_RETRIES="0")
    fault_proxy.faults.status_for_request = {2: 429}

    failed = pipeline.invoke(records)
    assert fault_proxy.requests["POST _bulk"] >= 3
    assert max(fault_proxy.bulk_bodies) <= 2500
    stored = set(pipeline.index.documents())
    reported = {json.loads(r["body"])["id"] for r in records if r["messageId"] in failed}
    # Every event is either stored or reported, never both, and some were refused.
    assert reported and stored
    assert reported.isdisjoint(stored)
    assert reported | stored == _event_ids(records)

    fault_proxy.faults.status_for_request = {}
    assert pipeline.invoke(redeliver([r for r in records if r["messageId"] in failed])) == set()
    assert pipeline.index.count() == 9


@pytest.mark.parametrize("status", [429, 500, 503])
def test_opensearch_refusing_every_request_reports_the_whole_batch(pipeline, fault_proxy, status):
    records = [sqs_record(spot_warning(i)) for i in launch(3)]
    fault_proxy.faults.status_for_all = status
    pipeline.point_at(fault_proxy.url)
    assert pipeline.invoke(records) == _ids(records)
    assert pipeline.index.count() == 0
    assert pipeline.dead_letters() == []


def test_opensearch_timeout_reports_the_whole_batch(pipeline, fault_proxy):
    records = [sqs_record(spot_warning(i)) for i in launch(2)]
    fault_proxy.faults.hang_seconds = 3
    pipeline.point_at(fault_proxy.url, OPENSEARCH_TIMEOUT="1", OPENSEARCH_MAX_RETRIES="0")
    assert pipeline.invoke(records) == _ids(records)


def test_opensearch_down_then_recovered_stores_each_event_once(pipeline, opensearch_node):
    instances = launch(4)
    first = [sqs_record(spot_warning(i)) for i in instances[:2]]
    assert pipeline.invoke(first) == set()

    second = redeliver(first) + [sqs_record(rebalance(i)) for i in instances]
    pipeline.point_at(f"https://127.0.0.1:{free_port()}")  # nothing listens there
    assert pipeline.invoke(second) == _ids(second)

    pipeline.point_at(opensearch_node.url)
    assert pipeline.invoke(redeliver(second)) == set()
    assert pipeline.index.count() == 6
    assert set(pipeline.index.documents()) == _event_ids(first) | _event_ids(second)


def test_write_blocked_index_is_retried_not_dead_lettered(pipeline):
    records = [sqs_record(spot_warning(i)) for i in launch(2)]
    client, index = pipeline.index.client, pipeline.index.index
    client.indices.put_settings(index=index, body={"index.blocks.write": True})
    try:
        assert pipeline.invoke(records) == _ids(records)
    finally:
        client.indices.put_settings(index=index, body={"index.blocks.write": False})
    assert pipeline.dead_letters() == []
    assert pipeline.invoke(redeliver(records)) == set()
    assert pipeline.index.count() == 2


def test_missing_write_alias_is_retried_and_creates_no_index(pipeline, opensearch):
    records = [sqs_record(spot_warning(i)) for i in launch(1)]
    alias = f"{pipeline.index.prefix}-nothere-write"
    pipeline.reconfigure(INDEX_ALIAS=alias)
    assert pipeline.invoke(records) == _ids(records)
    assert not opensearch.indices.exists(index=alias)
    assert pipeline.dead_letters() == []


def test_mapping_conflict_sends_the_rejected_documents_to_the_dlq(pipeline, opensearch):
    # An index whose mapping disagrees with the document: instance_action as a number.
    mapping = copy.deepcopy(MAPPING)
    mapping["properties"]["instance_action"] = {"type": "long"}
    prefix = f"{pipeline.index.prefix}-conflict"
    create_index(opensearch, prefix, mapping)
    pipeline.reconfigure(INDEX_ALIAS=f"{prefix}-write")
    instances = launch(2)
    warnings = [sqs_record(spot_warning(i)) for i in instances]
    advice = [sqs_record(rebalance(i)) for i in instances]

    assert pipeline.invoke(warnings + advice) == set()
    opensearch.indices.refresh(index=f"{prefix}-000001")
    assert opensearch.count(index=f"{prefix}-000001")["count"] == 2  # the rebalance events
    parked = pipeline.dead_letters()
    assert {m["Body"] for m in parked} == {r["body"] for r in warnings}
    for message in parked:
        attributes = message["MessageAttributes"]
        assert "400 mapper_parsing_exception" in attributes["ingest-failure-reason"]["StringValue"]
        assert attributes["ingest-source-message-id"]["StringValue"] in _ids(warnings)


def test_malformed_records_go_to_the_dlq_with_their_reason(pipeline):
    [instance] = launch(1)
    good = sqs_record(spot_warning(instance))
    no_instance = spot_warning(instance)
    del no_instance["detail"]["instance-id"]
    bad_action = spot_warning(instance)
    bad_action["detail"]["instance-action"] = "reboot"
    other = spot_warning(instance)
    other["detail-type"] = "EC2 Instance State-change Notification"
    poison = {
        "not json": sqs_record("{this is not json"),
        "array": sqs_record("[1, 2]"),
        "no instance": sqs_record(no_instance),
        "bad action": sqs_record(bad_action),
        "other type": sqs_record(other),
    }
    assert pipeline.invoke([good, *poison.values()]) == set()
    assert set(pipeline.index.documents()) == {json.loads(good["body"])["id"]}

    parked = {
        m["MessageAttributes"]["ingest-source-message-id"]["StringValue"]: m
        for m in pipeline.dead_letters()
    }
    assert set(parked) == {r["messageId"] for r in poison.values()}
    reasons = {
        name: parked[r["messageId"]]["MessageAttributes"]["ingest-failure-reason"]["StringValue"]
        for name, r in poison.items()
    }
    assert reasons["not json"].startswith("invalid JSON")
    assert "not a JSON object" in reasons["array"]
    assert "instance-id" in reasons["no instance"]
    assert "instance-action" in reasons["bad action"]
    assert "detail-type" in reasons["other type"]
    assert all(parked[r["messageId"]]["Body"] == r["body"] for r in poison.values())


def test_poison_is_retried_when_the_dlq_cannot_be_reached(pipeline):
    pipeline.reconfigure(
        DEAD_LETTER_QUEUE_URL=pipeline.dlq_url.replace("spot-insights-dlq", "no-such-queue")
    )
    bad = sqs_record("not json")
    assert pipeline.invoke([bad]) == {bad["messageId"]}


def test_ec2_unreachable_retries_then_indexes_as_missing(pipeline):
    [instance] = launch(1)
    pipeline.reconfigure(
        AWS_ENDPOINT_URL_EC2=f"http://127.0.0.1:{free_port()}", EC2_MAX_ATTEMPTS="1"
    )
    early = sqs_record(spot_warning(instance), receive_count=1)
    assert pipeline.invoke([early]) == {early["messageId"]}
    assert pipeline.index.count() == 0

    late = sqs_record(early["body"], receive_count=3)
    assert pipeline.invoke([late]) == set()
    [doc] = pipeline.index.documents().values()
    assert (doc["enrichment"], doc["enrichment_reason"]) == ("missing", "lookup_failed")
