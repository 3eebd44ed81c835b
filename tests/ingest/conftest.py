"""Fixtures for the ingest tests: a fresh index + write alias from the shared mapping, the
function environment pointed at it, a real DLQ on the moto server, and a Lambda-shaped invoker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from opensearchpy import OpenSearch

from lambda_src.ingest import runtime
from lambda_src.ingest.handler import handler
from tests.ingest.events import sqs_event
from tests.ingest.fault_proxy import FaultProxy
from tests.support.lambda_context import fake_context
from tests.support.opensearch_node import OpenSearchNode
from tests.support.search_index import SearchIndex, create_index


@pytest.fixture
def search_index(opensearch: OpenSearch) -> Iterator[SearchIndex]:
    prefix = f"ingest-test-{uuid.uuid4().hex[:10]}"
    create_index(opensearch, prefix)
    yield SearchIndex(opensearch, prefix)
    opensearch.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)


@dataclass
class Pipeline:
    """The handler with its environment: invoke it like Lambda, read what it left behind."""

    index: SearchIndex
    dlq_url: str
    endpoint: str
    monkeypatch: pytest.MonkeyPatch

    def invoke(self, records: list[dict[str, Any]]) -> set[str]:
        """Run the handler on one batch; return the message ids it reported as failed."""
        response = handler(sqs_event(records), fake_context())
        return {failure["itemIdentifier"] for failure in response["batchItemFailures"]}

    def point_at(self, endpoint: str, **env: str) -> None:
        """A new container with another OpenSearch endpoint (and any extra variables)."""
        self.reconfigure(OPENSEARCH_ENDPOINT=endpoint, **env)

    def reconfigure(self, **env: str) -> None:
        """A new container (fresh clients and caches) with these variables changed."""
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        runtime.reset()

    def dead_letters(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=300,
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)


@pytest.fixture
def pipeline(
    aws: str,
    opensearch_node: OpenSearchNode,
    search_index: SearchIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Pipeline]:
    dlq_url = boto3.client("sqs").create_queue(QueueName="spot-insights-dlq")["QueueUrl"]
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", opensearch_node.url)
    monkeypatch.setenv("OPENSEARCH_USER", opensearch_node.user)
    monkeypatch.setenv("OPENSEARCH_PASSWORD", opensearch_node.password)
    if opensearch_node.ca_certs:
        monkeypatch.setenv("OPENSEARCH_CA_CERTS", opensearch_node.ca_certs)
    monkeypatch.setenv("INDEX_ALIAS", search_index.alias)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq_url)
    monkeypatch.setenv("EC2_MAX_ATTEMPTS", "2")
    runtime.reset()
    yield Pipeline(search_index, dlq_url, opensearch_node.url, monkeypatch)
    runtime.reset()


@pytest.fixture
def fault_proxy(opensearch_node: OpenSearchNode) -> Iterator[FaultProxy]:
    with FaultProxy(
        opensearch_node.url,
        (opensearch_node.user, opensearch_node.password),
        opensearch_node.ca_certs,
    ) as proxy:
        yield proxy
