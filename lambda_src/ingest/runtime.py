"""The container-wide objects, built on first use from the function environment and reused by
every invocation: boto3 session, EC2 clients and AZ cache, OpenSearch client, DLQ client."""

from __future__ import annotations

import os
from functools import cache

import boto3

from lambda_src.ingest.batch import BatchIngestor
from lambda_src.ingest.bulk import DEFAULT_MAX_BYTES, BulkIndexer
from lambda_src.ingest.cross_account import AccountDirectories, SpokeAccess
from lambda_src.ingest.dead_letter import DeadLetterQueue
from lambda_src.ingest.instances import InstanceDirectory
from lambda_src.ingest.search_client import SearchSettings, build_client


@cache
def session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def ingestor() -> BatchIngestor:
    settings = SearchSettings.from_env()
    dlq_url = os.environ.get("DEAD_LETTER_QUEUE_URL")
    ec2_options = {
        "retry_mode": os.environ.get("EC2_RETRY_MODE", "adaptive"),
        "max_attempts": int(os.environ.get("EC2_MAX_ATTEMPTS", "4")),
    }
    home = InstanceDirectory(session(), **ec2_options)  # type: ignore[arg-type]
    return BatchIngestor(
        home,
        BulkIndexer(
            build_client(settings, session()),
            settings.index_alias,
            max_bytes=int(os.environ.get("BULK_MAX_BYTES", str(DEFAULT_MAX_BYTES))),
        ),
        DeadLetterQueue(dlq_url, session()) if dlq_url else None,
        enrichment_max_attempts=int(os.environ.get("ENRICHMENT_MAX_ATTEMPTS", "3")),
        accounts=AccountDirectories(home, SpokeAccess.from_env(), directory_options=ec2_options),
    )


def reset() -> None:
    """Forget the container state (tests and benchmarks that change the environment)."""
    ingestor.cache_clear()
    session.cache_clear()
