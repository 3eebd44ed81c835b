"""The demo's pipeline at small scale: moto EventBridge -> SQS -> poller -> handler -> OpenSearch.

The index is provisioned by the custom resource's own code and the handler is the real ingest
handler. It is given no dead-letter queue, so it reports poison records as failures until
maxReceiveCount and the queues' own redrive policies move them (tests/cli/test_demo_command.py
runs the demo, where the function parks them in its DLQ itself)."""

import json
import uuid
from collections import Counter

import boto3
import pytest

from lambda_src.ingest.documents import UNKNOWN_CAPACITY_GROUP
from lambda_src.provisioning.local import provision
from spot_cli.events import REBALANCE, WARNING
from spot_cli.local.capture_path import QueueSettings
from spot_cli.local.ingest import LocalFunction, ingest_handler
from spot_cli.local.pipeline import RunSettings, run_pipeline, window_of
from spot_cli.local.poller import EventSourceSettings
from spot_cli.local.storm import StormSettings
from spot_cli.report import ReportRequest, build_report

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]


@pytest.fixture
def prefix(opensearch):
    name = f"pipe-{uuid.uuid4().hex[:8]}"
    yield name
    opensearch.indices.delete(index=f"{name}-*")
    opensearch.indices.delete_index_template(name=name)


def test_storm_is_indexed_exactly_once_and_poison_ends_in_the_dlqs(
    aws, opensearch, opensearch_node, node_writer, prefix
):
    summary = provision(
        opensearch_node.url,
        (opensearch_node.user, opensearch_node.password),
        ca_certs=opensearch_node.ca_certs,
        prefix=prefix,
    )
    alias = summary["WriteAlias"]
    assert alias == f"{prefix}-write"
    handler = ingest_handler(LocalFunction(node_writer, alias), boto3.session.Session())
    settings = RunSettings(
        storm=StormSettings(events=300, seed=8, poison=6),
        regions=("us-east-1", "us-west-2", "eu-west-1"),
        queue=QueueSettings(visibility_timeout_seconds=2, max_receive_count=2),
        source=EventSourceSettings(
            batch_size=50, batching_window_seconds=0.5, maximum_concurrency=2
        ),
        index_prefix=prefix,
        show_progress=False,
    )
    result = run_pipeline(handler, opensearch, settings)
    assert result.missing_event_ids == []
    # One document per EC2 event and one per evicted instance (CloudTrail BidEvictedEvent).
    truth = result.storm.eviction_truth()
    assert truth and result.indexed == result.documents == 300 + len(truth)
    assert result.evictions is not None and result.evictions.problems() == []
    assert sum(result.dlq_depth.values()) == 6
    for region, pipeline in result.pipelines.items():
        expected = sum(p.region == region for p in result.storm.poison)
        assert result.dlq_depth[region] == expected
        sqs = boto3.client("sqs", region_name=region)
        bodies = [
            m["Body"]
            for m in sqs.receive_message(QueueUrl=pipeline.dlq_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
        ]
        for body in bodies:
            try:
                parsed = json.loads(body)
            except json.JSONDecodeError:
                continue
            assert not isinstance(parsed, dict) or "instance-id" not in parsed["detail"]

    since, until = window_of(result.storm, result.fleet)
    report = build_report(
        opensearch, ReportRequest(since=since, until=until, index_prefix=prefix, top=500)
    )
    storm = result.storm
    assert report.warnings == len(storm.of_type(WARNING))
    assert report.rebalances == len(storm.of_type(REBALANCE))
    assert report.not_enriched == sum(
        e["detail"]["instance-id"] in storm.ghost_instance_ids for e in storm.events
    ) + sum(t["instance_id"] not in result.fleet.by_id for t in truth.values())
    assert (report.missed_warnings.evictions, report.missed_warnings.without_warning) == (
        len(truth),
        sum(not t["warned"] for t in truth.values()),
    )
    expected_azs = Counter(e["resources"][0].split(":")[3] for e in storm.of_type(WARNING))
    assert {b.key: b.count for b in report.top_azs} == expected_azs
    expected_groups = Counter(
        result.fleet.by_id[e["detail"]["instance-id"]].capacity_group
        if e["detail"]["instance-id"] in result.fleet.by_id
        else UNKNOWN_CAPACITY_GROUP  # an instance EC2 no longer knows
        for e in storm.of_type(WARNING)
    )
    assert {b.key: b.count for b in report.capacity_groups} == expected_groups
    assert report.rebalance_lead_seconds.count == len(storm.rebalance_lead_seconds())
    summary = result.summary()
    assert summary["events"] == 300 and summary["indexed"] == summary["documents"]
