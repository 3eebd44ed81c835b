"""Indices the report tests read, made with the product's own code: provisioned by the
deploy-time provisioner and filled by the real ingest handler (enrichment from moto's EC2,
linking at ingest), so what the report aggregates is what the function writes."""

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest

from lambda_src.contract import index_pattern, write_alias
from lambda_src.provisioning.local import provision
from spot_cli.local.ingest import LocalFunction, ingest_handler
from spot_cli.local.poller import lambda_record
from tests.support.lambda_context import fake_context

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:spot-interruptions"


def _record(event):
    body = json.dumps(event)
    message = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "Attributes": {"ApproximateReceiveCount": "1"},
    }
    return lambda_record(message, QUEUE_ARN, "us-east-1")


@pytest.fixture
def node_writer(opensearch_node):
    """The session node's admin credentials, as the settings the ingest handler writes with."""
    return opensearch_node.settings()


@contextmanager
def _ingester(opensearch, opensearch_node, writer) -> Iterator:
    prefixes = []

    def ingest(events, batch=100):
        prefix = f"cli-{uuid.uuid4().hex[:8]}"
        prefixes.append(prefix)
        admin = (opensearch_node.user, opensearch_node.password)
        provision(opensearch_node.url, admin, ca_certs=opensearch_node.ca_certs, prefix=prefix)
        function = LocalFunction(writer, write_alias(prefix))
        handler = ingest_handler(function, boto3.Session())
        for start in range(0, len(events), batch):
            records = [_record(e) for e in events[start : start + batch]]
            assert handler({"Records": records}, fake_context()) == {"batchItemFailures": []}
        opensearch.indices.refresh(index=index_pattern(prefix))
        hits = opensearch.search(
            index=index_pattern(prefix), body={"size": 10_000, "query": {"match_all": {}}}
        )["hits"]["hits"]
        assert len(hits) == len(events)
        return prefix, [hit["_source"] for hit in hits]

    yield ingest
    for prefix in prefixes:
        opensearch.indices.delete(index=index_pattern(prefix), ignore_unavailable=True)
        opensearch.indices.delete_index_template(name=prefix, ignore=[404])


@pytest.fixture
def ingest_events(aws, opensearch, opensearch_node, node_writer):
    """ingest_events(events) -> (prefix, the stored documents); indices removed afterwards."""
    with _ingester(opensearch, opensearch_node, node_writer) as ingest:
        yield ingest


@pytest.fixture(scope="module")
def ingest_events_once(aws_module, opensearch, opensearch_node):
    """ingest_events for data a whole module reads (and never changes): the fleet, the storm
    and the indexing cost about 12 s, paid once per module instead of once per test."""
    with _ingester(opensearch, opensearch_node, opensearch_node.settings()) as ingest:
        yield ingest
