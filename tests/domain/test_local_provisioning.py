"""`python -m lambda_src.provisioning.local` provisions the real node from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from tests.domain.cleanup import remove_provisioned_security
from tests.support.opensearch_node import OpenSearchNode

pytestmark = pytest.mark.opensearch
ROOT = Path(__file__).resolve().parents[2]


def _run(
    node: OpenSearchNode, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        **os.environ,
        "OPENSEARCH_URL": node.url,
        "OPENSEARCH_USER": node.user,
        "OPENSEARCH_PASSWORD": node.password,
        "OPENSEARCH_CA_CERTS": node.ca_certs or "",
    }
    return subprocess.run(
        [sys.executable, "-m", "lambda_src.provisioning.local", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_cli_provisions_and_is_idempotent(
    opensearch_node: OpenSearchNode, opensearch: OpenSearch
) -> None:
    prefix = f"si-cli-{uuid.uuid4().hex[:8]}"
    try:
        first = _run(opensearch_node, "--prefix", prefix)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["WriteAliasState"] == "created"
        assert "ISM plugin not installed" in first.stdout + first.stderr
        second = _run(opensearch_node, "--prefix", prefix)
        assert json.loads(second.stdout)["WriteAliasState"] == "exists"
        assert opensearch.indices.exists_alias(name=f"{prefix}-write")
    finally:
        opensearch.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        opensearch.indices.delete_index_template(name=prefix, ignore=[404])
        remove_provisioned_security(opensearch)


def test_cli_reports_failures_on_stderr(opensearch_node: OpenSearchNode) -> None:
    result = _run(opensearch_node, "--require-ism", "--prefix", f"si-cli-{uuid.uuid4().hex[:8]}")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: step 'checking for the ISM plugin' failed: the Index State Management plugin"
    )
    missing = _run(opensearch_node, env={"OPENSEARCH_URL": ""})
    assert missing.returncode == 2
    assert "OPENSEARCH_URL" in missing.stderr
