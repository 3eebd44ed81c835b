"""`spot-insights demo` end to end at small scale, on the session's OpenSearch node (named via
OPENSEARCH_URL, so the demo starts no second node) and its own in-process moto server."""

import json
import os
import uuid

import pytest

from spot_cli.main import main
from tests.cli import reference_handler

pytestmark = [pytest.mark.opensearch]


def test_demo_indexes_every_event_once_and_reports(
    opensearch, opensearch_node, monkeypatch, capsys
):
    monkeypatch.setenv("OPENSEARCH_URL", opensearch_node.url)
    monkeypatch.setenv("OPENSEARCH_USER", opensearch_node.user)
    monkeypatch.setenv("OPENSEARCH_PASSWORD", opensearch_node.password)
    if opensearch_node.ca_certs:
        monkeypatch.setenv("OPENSEARCH_CA_CERTS", opensearch_node.ca_certs)
    monkeypatch.setattr(reference_handler, "_instance", None)
    prefix = f"demo-{uuid.uuid4().hex[:8]}"
    before = dict(os.environ)
    try:
        code = main(
            [
                "demo", "--events", "200", "--poison", "3", "--seed", "5",
                "--regions", "us-east-1,eu-west-1", "--batch-size", "40",
                "--batching-window", "0.5", "--index-prefix", prefix, "--json",
                "--handler", "tests.cli.reference_handler:handler",
            ]
        )  # fmt: skip
        output = capsys.readouterr().out
        assert code == 0, output
        result = json.loads(output)
        run, report = result["run"], result["report"]
        assert run["events"] == run["indexed"] == 200
        assert run["missing_event_ids"] == 0
        assert sum(run["dead_letter_queue"].values()) == 3
        assert report["warnings"] + report["rebalances"] == 200
        assert opensearch.count(index=f"{prefix}-*")["count"] == 200
        assert dict(os.environ) == before  # the handler's environment does not leak
    finally:
        opensearch.indices.delete(index=f"{prefix}-*")
        opensearch.indices.delete_index_template(name=f"{prefix}-template")
