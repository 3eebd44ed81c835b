"""A 10,000-event interruption storm through the handler in Lambda-sized batches: every event
stored exactly once, EC2 looked up once per 200 unique instances, one `_bulk` per batch."""

from __future__ import annotations

import json
import math

import pytest

from lambda_src.ingest import runtime
from tests.ingest.calls import count_calls
from tests.ingest.events import rebalance, redeliver, spot_warning, sqs_record
from tests.ingest.instances import launch

pytestmark = [pytest.mark.aws, pytest.mark.opensearch]

BATCH = 1000  # the construct's SQS batch size


def test_ten_thousand_event_storm(pipeline, fault_proxy):
    # Ten EC2 attempts, not the function's four: in a full 2-core `make test` run moto answered a
    # DescribeInstances over these 5,000 instances in over 5 s four times running and the batch
    # was retried. Calls are counted once per API call, retries or not.
    pipeline.point_at(fault_proxy.url, EC2_MAX_ATTEMPTS="10")
    calls = count_calls(runtime.session())
    regions = ("us-east-1", "us-west-2")
    records = []
    for region in regions:
        for instance in launch(2500, region=region, tags={"aws:autoscaling:groupName": "storm"}):
            records.append(sqs_record(rebalance(instance, region=region)))
            records.append(sqs_record(spot_warning(instance, region=region)))
    assert len(records) == 10_000

    batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
    for batch in batches:
        assert pipeline.invoke(batch) == set()
    # A slice of the storm is delivered again: still one document per event.
    assert pipeline.invoke(redeliver(batches[3])) == set()

    assert pipeline.index.count() == 10_000
    expected_lookups = 0
    for batch in [*batches, batches[3]]:
        per_region: dict[str, set[str]] = {}
        for record in batch:
            event = json.loads(record["body"])
            per_region.setdefault(event["region"], set()).add(event["detail"]["instance-id"])
        expected_lookups += sum(math.ceil(len(ids) / 200) for ids in per_region.values())
    assert calls["ec2:DescribeInstances"] == expected_lookups
    assert calls["ec2:DescribeAvailabilityZones"] == len(regions)
    # Per batch: one `_bulk` and one link search; both events of each instance are in the same
    # batch, so their links are set before indexing and no update `_bulk` is needed.
    assert fault_proxy.requests["POST _bulk"] == len(batches) + 1
    assert fault_proxy.requests["POST _search"] == len(batches) + 1
    assert pipeline.dead_letters() == []
