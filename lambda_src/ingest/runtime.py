"""The container-wide objects one configuration gives: boto3 session, EC2 clients and AZ cache,
OpenSearch client, DLQ client, Logger and Metrics. Built once, reused by every invocation.

`Runtime.from_config` builds them from an `IngestConfig` object (local runs, tests);
`current()` is the deployed function's: built from the environment on first use (the cold
start), kept until `reset()`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import boto3

from lambda_src.ingest.batch import BatchIngestor
from lambda_src.ingest.bulk import BulkIndexer
from lambda_src.ingest.bursts import BurstDetector
from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.cross_account import AccountDirectories, SpokeAccess
from lambda_src.ingest.dead_letter import DeadLetterQueue
from lambda_src.ingest.instances import InstanceDirectory
from lambda_src.ingest.search_client import build_client
from lambda_src.ingest.telemetry import Telemetry


@dataclass(frozen=True, eq=False)
class Runtime:
    config: IngestConfig
    session: boto3.session.Session
    ingestor: BatchIngestor
    telemetry: Telemetry
    bursts: BurstDetector | None = None

    @classmethod
    def from_config(
        cls, config: IngestConfig, session: boto3.session.Session | None = None
    ) -> Runtime:
        """`session`: where AWS calls go (default: a new session from the usual chain)."""
        session = session or boto3.session.Session()
        dlq_url = config.dead_letter_queue_url
        ec2_options = {
            "retry_mode": config.ec2_retry_mode,
            "max_attempts": config.ec2_max_attempts,
        }
        home = InstanceDirectory(session, **ec2_options)  # type: ignore[arg-type]
        search = build_client(config.search, session)
        ingestor = BatchIngestor(
            home,
            BulkIndexer(search, config.index_alias, max_bytes=config.bulk_max_bytes),
            DeadLetterQueue(dlq_url, session) if dlq_url else None,
            enrichment_max_attempts=config.enrichment_max_attempts,
            accepted_sources=config.accepted_sources,
            accounts=AccountDirectories(
                home, SpokeAccess.from_config(config), directory_options=ec2_options
            ),
        )
        telemetry = Telemetry.for_service(
            config.service_name, config.metrics_namespace, log_level=config.log_level
        )
        bursts = (
            BurstDetector(search, session.client("events"), config.index_alias, config.bursts)
            if config.bursts
            else None
        )
        return cls(config, session, ingestor, telemetry, bursts)


@cache
def current() -> Runtime:
    """The deployed function's runtime: configuration read from the environment once."""
    return Runtime.from_config(IngestConfig.from_env())


def ingestor() -> BatchIngestor:
    return current().ingestor


def session() -> boto3.session.Session:
    return current().session


def reset() -> None:
    """Forget the container state (tests and benchmarks that change the environment)."""
    current.cache_clear()
