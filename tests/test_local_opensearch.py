"""The local node is a real OpenSearch with the security plugin: TLS, basic auth, refusals."""

import uuid

import pytest
import requests
from opensearchpy import OpenSearch
from opensearchpy.exceptions import AuthenticationException

from tests.support.opensearch_node import OpenSearchNode

pytestmark = pytest.mark.opensearch


def test_index_and_read_back_through_security_plugin(opensearch: OpenSearch) -> None:
    index = f"foundation-{uuid.uuid4().hex[:8]}"
    doc = {"instance_id": "i-0123456789abcdef0", "event_time": "2026-11-25T08:00:00Z"}
    try:
        opensearch.index(index=index, id="evt-1", body=doc, refresh=True)
        stored = opensearch.get(index=index, id="evt-1")
        assert stored["_source"] == doc
        hits = opensearch.search(index=index, body={"query": {"term": {"_id": "evt-1"}}})
        assert hits["hits"]["total"]["value"] == 1
    finally:
        opensearch.indices.delete(index=index, ignore_unavailable=True)


def test_security_plugin_is_enforcing(
    opensearch_node: OpenSearchNode, opensearch: OpenSearch
) -> None:
    plugins = {row["component"] for row in opensearch.cat.plugins(format="json")}
    assert "opensearch-security" in plugins
    account = opensearch.transport.perform_request("GET", "/_plugins/_security/authinfo")
    assert account["user_name"] == opensearch_node.user
    with pytest.raises(AuthenticationException):
        opensearch_node.client(password="not-the-password").info()


def test_tls_is_required_and_verified(opensearch_node: OpenSearchNode) -> None:
    if not opensearch_node.url.startswith("https://"):
        pytest.fail("the local node must serve HTTPS")
    plain = opensearch_node.url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain, timeout=5)
    # Without the node's CA the default trust store rejects the demo certificate.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(
            opensearch_node.url, timeout=5, auth=(opensearch_node.user, opensearch_node.password)
        )
