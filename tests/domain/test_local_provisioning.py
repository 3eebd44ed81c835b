"""`lambda_src.provisioning.local.provision` (what `spot-insights demo` provisions with)
provisions the real node, idempotently, and names the step that failed."""

from __future__ import annotations

import uuid

import pytest
from opensearchpy import OpenSearch

from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.local import provision
from tests.domain.cleanup import remove_provisioned_security
from tests.support.opensearch_node import OpenSearchNode

pytestmark = pytest.mark.opensearch


def _provision(node: OpenSearchNode, prefix: str, **options: object) -> dict[str, str]:
    return provision(
        node.url, (node.user, node.password), ca_certs=node.ca_certs, prefix=prefix, **options
    )


def test_provisions_and_is_idempotent(
    opensearch_node: OpenSearchNode, opensearch: OpenSearch
) -> None:
    prefix = f"si-local-{uuid.uuid4().hex[:8]}"
    try:
        first = _provision(opensearch_node, prefix)
        assert first["WriteAliasState"] == "created"
        assert first["IsmPolicy"] == "skipped"  # the local node has no ISM plugin
        second = _provision(opensearch_node, prefix)
        assert second["WriteAliasState"] == "exists"
        assert opensearch.indices.exists_alias(name=f"{prefix}-write")
    finally:
        opensearch.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        opensearch.indices.delete_index_template(name=prefix, ignore=[404])
        remove_provisioned_security(opensearch)


def test_a_failed_step_is_named(opensearch_node: OpenSearchNode) -> None:
    with pytest.raises(ProvisioningError) as failed:
        _provision(opensearch_node, f"si-local-{uuid.uuid4().hex[:8]}", require_ism=True)
    assert str(failed.value).startswith(
        "step 'checking for the ISM plugin' failed: the Index State Management plugin"
    )
