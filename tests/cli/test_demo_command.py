"""`spot-insights demo` end to end at small scale with the real ingest handler and the real
provisioning code, on the session's OpenSearch node (named via OPENSEARCH_URL, so the demo
starts no second node) and its own in-process moto server."""

import json
import os
import uuid

import pytest

from lambda_src.ingest import runtime
from spot_cli.local.provisioning import INGEST_BACKEND_ROLE, INGEST_USER
from spot_cli.main import main

pytestmark = [pytest.mark.opensearch]


@pytest.fixture(autouse=True)
def _session_node(opensearch_node, monkeypatch):
    """Point the demo at the session's node, as a user would with OPENSEARCH_URL."""
    monkeypatch.setenv("OPENSEARCH_URL", opensearch_node.url)
    monkeypatch.setenv("OPENSEARCH_USER", opensearch_node.user)
    monkeypatch.setenv("OPENSEARCH_PASSWORD", opensearch_node.password)
    if opensearch_node.ca_certs:
        monkeypatch.setenv("OPENSEARCH_CA_CERTS", opensearch_node.ca_certs)


def test_demo_indexes_every_event_once_and_reports(opensearch, capsys):
    # The handler keeps its clients per container (process); start from and leave a clean one.
    runtime.reset()
    prefix = f"demo-{uuid.uuid4().hex[:8]}"
    before = dict(os.environ)
    try:
        code = main(
            [
                "demo", "--events", "200", "--poison", "3", "--seed", "5",
                "--regions", "us-east-1,eu-west-1", "--batch-size", "40",
                "--batching-window", "0.5", "--index-prefix", prefix, "--json",
                "--accounts", "1",
            ]
        )  # fmt: skip
        captured = capsys.readouterr()
        output = captured.out
        assert code == 0, output + captured.err
        result = json.loads(output)
        run, report = result["run"], result["report"]
        assert run["events"] == 200
        # One document per EC2 event and per evicted instance (CloudTrail BidEvictedEvent).
        evictions = run["evictions"]
        assert run["indexed"] == run["documents"] == 200 + evictions["instances"]
        assert evictions["indexed"] == evictions["instances"] > 0
        assert evictions["links_disagreeing"] == 0
        assert run["missing_event_ids"] == 0
        # Poison records are parked by the function itself, in the home region's DLQ.
        assert run["dead_letter_queue"] == {"us-east-1": 3, "eu-west-1": 0}
        assert report["warnings"] + report["rebalances"] == 200
        missed = report["missed_warnings"]
        assert (missed["evictions"], missed["without_warning"]) == (
            evictions["instances"],
            evictions["without_warning"],
        )
        assert opensearch.count(index=f"{prefix}-*")["count"] == run["documents"]
        assert dict(os.environ) == before  # the handler's environment does not leak
        # The handler wrote as the local stand-in for the function's IAM role, which reaches
        # OpenSearch only through the writer role's backend-role mapping.
        mapping = opensearch.transport.perform_request(
            "GET", "/_plugins/_security/api/rolesmapping/spot_insights_writer"
        )["spot_insights_writer"]
        assert mapping["backend_roles"] == [INGEST_BACKEND_ROLE]
        assert mapping["users"] == []
        user = opensearch.transport.perform_request(
            "GET", f"/_plugins/_security/api/internalusers/{INGEST_USER}"
        )[INGEST_USER]
        assert user["backend_roles"] == [INGEST_BACKEND_ROLE]
    finally:
        runtime.reset()
        opensearch.indices.delete(index=f"{prefix}-*")
        opensearch.indices.delete_index_template(name=prefix)


def test_demo_with_three_accounts_enriches_where_the_role_exists(opensearch, capsys):
    """The default organisation: the hub and two members, the last without the spoke role.
    Every account runs Spot in both regions and forwards through the hub bus to one queue."""
    runtime.reset()
    prefix = f"org-{uuid.uuid4().hex[:8]}"
    try:
        code = main(
            [
                "demo", "--events", "240", "--poison", "3", "--seed", "9",
                "--regions", "us-east-1,eu-west-1", "--batch-size", "60",
                "--batching-window", "0.5", "--index-prefix", prefix, "--json",
            ]
        )  # fmt: skip
        captured = capsys.readouterr()
        assert code == 0, captured.out + captured.err
        result = json.loads(captured.out)
        run, report = result["run"], result["report"]
        # An eviction is one document per instance, on top of the 240 EC2 events.
        evictions = run["evictions"]
        assert run["events"] == 240
        assert run["indexed"] == 240 + evictions["instances"]
        assert evictions["indexed"] == evictions["instances"] > 0
        assert evictions["links_disagreeing"] == 0
        assert run["missing_event_ids"] == 0
        # One queue, the hub's: every region's poison lands in its DLQ.
        assert run["dead_letter_queue"] == {"us-east-1": 3}
        accounts = run["accounts"]["by_account"]
        assert len(accounts) == 3
        assert run["accounts"]["wrong_enrichment"] == 0
        (lacking,) = [a for a, entry in accounts.items() if not entry["spoke_role"]]
        # Every event of the account without the role, and only those, is no_access.
        assert set(accounts[lacking]["documents"]) == {"no_access"}
        for account, entry in accounts.items():
            if account != lacking:
                assert "no_access" not in entry["documents"]
                assert entry["documents"]["full"] > 0
        assert sum(n for e in accounts.values() for n in e["documents"].values()) == 240
        # The report's section names the same account with the same count, in both regions.
        (section,) = report["no_access"]
        assert section["account"] == lacking
        # Every document of that account (its evictions too, which the enrichment check leaves
        # to the eviction check) is no_access, and the section counts them all.
        of_lacking = opensearch.count(
            index=f"{prefix}-*", body={"query": {"term": {"account": lacking}}}
        )["count"]
        assert of_lacking > accounts[lacking]["documents"]["no_access"]
        assert section["events"] == of_lacking
        assert section["regions"] == ["eu-west-1", "us-east-1"]
        fresh = run["freshness_seconds"]
        assert fresh["events"] == 240 + evictions["records"]  # every message published
        assert 0 < fresh["p50"] <= fresh["p95"] <= fresh["p99"] <= fresh["max"]
    finally:
        runtime.reset()
        opensearch.indices.delete(index=f"{prefix}-*")
        opensearch.indices.delete_index_template(name=prefix)


def test_demo_never_writes_over_an_existing_cluster_index(opensearch, capsys):
    prefix = f"keep-{uuid.uuid4().hex[:8]}"
    opensearch.index(index=f"{prefix}-000001", id="precious", body={"x": 1}, refresh=True)
    try:
        code = main(["demo", "--events", "10", "--index-prefix", prefix])
        err = capsys.readouterr().err
        assert code == 1
        assert f"already has {prefix}-* indices" in err
        assert "Traceback" not in err
        assert opensearch.get(index=f"{prefix}-000001", id="precious")["found"]
    finally:
        opensearch.indices.delete(index=f"{prefix}-*")
