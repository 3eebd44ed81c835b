"""`spot-insights backfill` end to end: CloudTrail (the HTTP double: moto has no LookupEvents)
-> the product's ingest code -> the real OpenSearch node, with EC2 and STS from moto.

Reruns create no duplicate, an eviction delivered live and found again by the backfill is one
document, and a run interrupted with Ctrl-C resumes where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from opensearchpy import OpenSearch

from lambda_src.contract import (
    CLOUDTRAIL_DETAIL_TYPE,
    WARNING_DETAIL_TYPE,
    index_pattern,
    write_alias,
)
from lambda_src.provisioning.local import provision
from spot_cli.backfill import sqs_record
from spot_cli.local.ingest import LocalFunction, ingest_handler
from spot_cli.main import main
from tests.ingest.events import spot_warning
from tests.support.cloudtrail_history import CloudTrailDouble, eviction_record, evictions
from tests.support.lambda_context import fake_context
from tests.support.opensearch_node import OpenSearchNode

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account: the caller's own


@dataclass
class Run:
    """What a test drives: CloudTrail (the double), the node, a provisioned index prefix."""

    double: CloudTrailDouble
    node: OpenSearchNode
    client: OpenSearch
    prefix: str
    state: Path

    def args(self, *extra: str) -> list[str]:
        return _args(self.node, self.prefix, self.state, *extra)

    def documents(self) -> dict[str, dict]:
        return _documents(self.client, self.prefix)


@pytest.fixture
def backfill_env(aws, cloudtrail, opensearch_node, monkeypatch):
    """The command's environment: moto for STS and EC2 (`aws`), the double for CloudTrail."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", cloudtrail[1])
    monkeypatch.setenv("OPENSEARCH_PASSWORD", opensearch_node.password)
    boto3.DEFAULT_SESSION = None


@pytest.fixture
def run(backfill_env, cloudtrail, opensearch, opensearch_node, tmp_path):
    """The double, the node and a fresh index prefix (removed afterwards)."""
    double, _ = cloudtrail
    prefix = f"backfill-{uuid.uuid4().hex[:8]}"
    admin = (opensearch_node.user, opensearch_node.password)
    provision(opensearch_node.url, admin, ca_certs=opensearch_node.ca_certs, prefix=prefix)
    yield Run(double, opensearch_node, opensearch, prefix, tmp_path / "state.json")
    opensearch.indices.delete(index=index_pattern(prefix), ignore_unavailable=True)
    opensearch.indices.delete_index_template(name=prefix, ignore=[404])


def _args(node, prefix, state, *extra):
    return [
        "backfill",
        "--days",
        "90",
        "--regions",
        "us-east-1,eu-west-1",
        "--endpoint",
        node.url,
        "--user",
        node.user,
        "--ca-certs",
        str(node.ca_certs),
        "--index-prefix",
        prefix,
        "--state",
        str(state),
        *extra,
    ]


def _documents(client, prefix):
    client.indices.refresh(index=index_pattern(prefix))
    hits = client.search(
        index=index_pattern(prefix), body={"size": 10_000, "query": {"match_all": {}}}
    )["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def _fleet_history(double, now):
    east = evictions(ACCOUNT, "us-east-1", 60, newest=now, spacing=timedelta(hours=6))
    # One eviction record naming two instances: two documents.
    east.append(
        eviction_record(
            ACCOUNT,
            "us-east-1",
            ["i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2"],
            now - timedelta(days=20),
        )
    )
    west = evictions(ACCOUNT, "eu-west-1", 5, newest=now, spacing=timedelta(days=3))
    double.records.update({"us-east-1": east, "eu-west-1": west})
    return [*east, *west]


def _expected_ids(records):
    from lambda_src.ingest.events import eviction_document_id  # noqa: PLC0415 - evictions model

    return {
        eviction_document_id(r["eventID"], instance)
        for r in records
        for instance in r["serviceEventDetails"]["instanceIdSet"]
    }


def test_backfill_writes_one_document_per_evicted_instance_and_reruns_add_none(run, capsys):
    records = _fleet_history(run.double, datetime.now(UTC) - timedelta(hours=1))
    run.double.throttle("us-east-1", 2)

    assert main(run.args("--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["events"] == 66 and summary["throttled"] == 2
    assert summary["stored"] == 67
    assert [r["status"] for r in summary["regions"]] == ["done", "done"]
    assert summary["pages"] == 3  # us-east-1: 50 + 11 (one batch), eu-west-1: 5
    documents = run.documents()
    assert set(documents) == _expected_ids(records)
    assert {d["event_type"] for d in documents.values()} == {"EC2 Spot Instance Eviction"}
    # Long-gone instances (moto's EC2 has never heard of them): indexed, not enriched.
    assert {d["enrichment"] for d in documents.values()} == {"missing"}
    assert {d["account"] for d in documents.values()} == {ACCOUNT}

    # A finished run skips every region: nothing is asked of CloudTrail again.
    requests = len(run.double.requests)
    assert main(run.args("--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in summary["regions"]] == ["skipped", "skipped"]
    assert len(run.double.requests) == requests

    # --restart reads and writes everything again: the same documents, no duplicate.
    assert main(run.args("--json", "--restart")) == 0
    capsys.readouterr()
    assert set(run.documents()) == set(documents)
    assert run.client.count(index=index_pattern(run.prefix))["count"] == 67


def test_an_eviction_delivered_live_and_backfilled_is_one_document_linked_to_its_warning(
    run, capsys
):
    now = datetime.now(UTC) - timedelta(hours=2)
    record = eviction_record(ACCOUNT, "us-east-1", ["i-0bbbbbbbbbbbbbbb1"], now)
    # A second instance: warned live two minutes before, its eviction only found by backfill.
    warned_id = "i-0bbbbbbbbbbbbbbb2"
    backfilled = eviction_record(ACCOUNT, "us-east-1", [warned_id], now)
    warning = spot_warning(
        warned_id, time=(now - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    run.double.records["us-east-1"] = [record, backfilled]
    live = {  # what EventBridge delivered at the time: its own random id
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": CLOUDTRAIL_DETAIL_TYPE,
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": record["eventTime"],
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }
    writer = run.node.settings()
    handler = ingest_handler(LocalFunction(writer, write_alias(run.prefix)), boto3.Session())
    delivered = [sqs_record(str(uuid.uuid4()), json.dumps(e), 1) for e in (live, warning)]
    assert handler({"Records": delivered}, fake_context()) == {"batchItemFailures": []}
    before = run.documents()
    assert len(before) == 2

    assert main(run.args("--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["events"] == 2 and summary["stored"] == 2
    after = run.documents()
    evictions_ = _expected_ids([record, backfilled])
    assert set(after) == set(before) | evictions_
    assert len(after) == 3  # the live eviction once, the warning, the backfilled eviction
    # Linked at ingest as live: the backfilled eviction knows its warning, and the reverse.
    (linked,) = [d for d in after.values() if d.get("instance_id") == warned_id and d.get("warned")]
    assert linked["warning_lead_seconds"] == 120
    (warned,) = [d for d in after.values() if d["event_type"] == WARNING_DETAIL_TYPE]
    assert warned["eviction_confirmed"] is True


def test_ctrl_c_stops_the_run_and_the_same_command_resumes_after_the_last_stored_page(run, capsys):
    records = _fleet_history(run.double, datetime.now(UTC) - timedelta(hours=1))
    # Page 2's request waits: Ctrl-C lands there, after page 1 is stored (a batch per page).
    run.double.hold("us-east-1", after_pages=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "spot_cli", *run.args("--batch-events", "50")],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert run.double.waiting.wait(120), "the backfill never asked for page 2"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert f"interrupted; progress is saved in {run.state}" in stderr
    saved = json.loads(run.state.read_text())["regions"]
    east = saved[f"{ACCOUNT}/us-east-1"]
    assert (east["pages"], east["events"], east["done"]) == (1, 50, False)
    assert f"{ACCOUNT}/eu-west-1" not in saved  # never reached
    assert len(run.documents()) == 50

    run.double.release()
    requests = len(run.double.requests)
    assert main(run.args("--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in summary["regions"]] == ["done", "done"]
    assert run.double.requests[requests].body["NextToken"] == east["next_token"]
    assert summary["events"] == 16  # the 11 left in us-east-1 and eu-west-1's 5
    assert set(run.documents()) == _expected_ids(records)


def test_accounts_are_read_through_a_role_assumed_in_each(run, capsys):
    """moto's STS hands out per-account credentials; the double records who signed each
    request. (The double keys history by region only, so both accounts see the same records;
    written twice, they are one document each.)"""
    other = "210987654321"
    records = evictions(other, "us-east-1", 3, newest=datetime.now(UTC), spacing=timedelta(days=1))
    run.double.records["us-east-1"] = records
    args = run.args("--json", "--accounts", f"{other},{ACCOUNT}", "--role-name", "backfill-reader")
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [(r["account"], r["region"], r["status"]) for r in summary["regions"]] == [
        (other, "us-east-1", "done"),
        (other, "eu-west-1", "done"),
        (ACCOUNT, "us-east-1", "done"),
        (ACCOUNT, "eu-west-1", "done"),
    ]
    keys = [r.access_key for r in run.double.requests]
    # The other account through its assumed role; the caller's own account with its own key.
    assert keys[0] == keys[1] != keys[2] == keys[3] == "testing"
    assert set(run.documents()) == _expected_ids(records)


def test_a_record_that_can_never_be_indexed_goes_to_the_dlq_or_stops_the_region(run, capsys):
    """CloudTrail's history is outside input: a record without instance ids is poison. With
    --dlq it is parked with its reason (as live) and the rest is stored; without, the region
    stops with the reason and its progress stays before that batch."""
    now = datetime.now(UTC) - timedelta(hours=1)
    good = eviction_record(ACCOUNT, "us-east-1", ["i-0ccccccccccccccc1"], now)
    bad = eviction_record(ACCOUNT, "us-east-1", [], now - timedelta(hours=1))
    run.double.records["us-east-1"] = [good, bad]

    assert main(run.args("--json")) == 1
    summary = json.loads(capsys.readouterr().out)
    east = summary["regions"][0]
    assert east["status"] == "failed"
    assert "instanceIdSet is missing or empty" in east["reason"]
    saved = json.loads(run.state.read_text())["regions"][f"{ACCOUNT}/us-east-1"]
    assert (saved["pages"], saved["done"]) == (0, False)

    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.create_queue(QueueName="backfill-dlq")["QueueUrl"]
    assert main(run.args("--json", "--dlq", dlq)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["stored"], summary["poisoned"]) == (1, 1)
    assert set(run.documents()) == _expected_ids([good])
    (parked,) = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(parked["Body"])["detail"]["eventID"] == bad["eventID"]
    reason = parked["MessageAttributes"]["ingest-failure-reason"]["StringValue"]
    assert "instanceIdSet is missing or empty" in reason
