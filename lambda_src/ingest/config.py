"""The ingest function's configuration, read from its environment once per container.

IngestPipeline writes the environment with the names in `contract.IngestEnv`; `from_env` is the
only reader. A local run (the CLI's demo, a test, a benchmark) builds an `IngestConfig` itself
and hands it to `handler.build_handler`, without touching `os.environ`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from lambda_src.contract import (
    DEFAULT_BURST_THRESHOLD,
    DEFAULT_BURST_WINDOW_MINUTES,
    DEFAULT_INDEX_PREFIX,
    EC2_SOURCE,
    INGEST_SERVICE_NAME,
    METRICS_NAMESPACE,
    IngestEnv,
    write_alias,
)
from lambda_src.ingest.bulk import DEFAULT_MAX_BYTES
from lambda_src.ingest.bursts import BurstSettings
from lambda_src.ingest.search_client import ConfigurationError, SearchSettings

# botocore's retry modes (the EC2 clients' `retries.mode`).
EC2_RETRY_MODES = frozenset({"legacy", "standard", "adaptive"})

_T = TypeVar("_T")


@dataclass(frozen=True)
class IngestConfig:
    """Everything the function needs besides the event; defaults are the construct's."""

    search: SearchSettings
    index_alias: str = write_alias(DEFAULT_INDEX_PREFIX)
    # None: poison records are reported as failures instead (SQS's redrive policy parks them).
    dead_letter_queue_url: str | None = None
    # EC2 itself, plus a test source the deployment opted into (IngestPipeline test_event_source).
    accepted_sources: frozenset[str] = field(default_factory=lambda: frozenset({EC2_SOURCE}))
    ec2_retry_mode: str = "adaptive"
    ec2_max_attempts: int = 4
    bulk_max_bytes: int = DEFAULT_MAX_BYTES
    # After this many receives a failing EC2 lookup no longer holds an event back.
    enrichment_max_attempts: int = 3
    service_name: str = INGEST_SERVICE_NAME
    metrics_namespace: str = METRICS_NAMESPACE
    # For local runs, which report the counts themselves: a log level (None: Powertools' own,
    # POWERTOOLS_LOG_LEVEL or INFO) and no metrics at all (deployed, Powertools also honours
    # POWERTOOLS_METRICS_DISABLED). Neither is read by `from_env`.
    log_level: str | None = None
    metrics_enabled: bool = True
    # Hub and spokes: the role to assume in an event's account (None: every event is looked up
    # in the function's own account, as without spokes), and the account that needs none.
    spoke_role_name: str | None = None
    home_account: str | None = None
    # Burst alerts (issue 14); None: no detection (no bus to announce bursts on).
    bursts: BurstSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IngestConfig:
        """Parse and check every variable; a bad one raises ConfigurationError naming it."""
        e = IngestEnv
        # A dataclass keeps each field's default as a class attribute.
        defaults, search_defaults = cls, SearchSettings
        endpoint = env.get(e.OPENSEARCH_ENDPOINT, "").strip()
        if not endpoint:
            raise ConfigurationError(f"{e.OPENSEARCH_ENDPOINT} is not set")
        if not endpoint.startswith(("https://", "http://")):
            endpoint = f"https://{endpoint}"
        user, password = env.get(e.OPENSEARCH_USER), env.get(e.OPENSEARCH_PASSWORD)
        if bool(user) != bool(password):
            raise ConfigurationError(
                f"set both {e.OPENSEARCH_USER} and {e.OPENSEARCH_PASSWORD}, or neither"
            )
        retry_mode = env.get(e.EC2_RETRY_MODE) or defaults.ec2_retry_mode
        if retry_mode not in EC2_RETRY_MODES:
            raise ConfigurationError(
                f"{e.EC2_RETRY_MODE} must be one of {', '.join(sorted(EC2_RETRY_MODES))}, "
                f"got {retry_mode!r}"
            )
        sources = frozenset(
            s.strip() for s in env.get(e.ACCEPTED_SOURCES, EC2_SOURCE).split(",") if s.strip()
        )
        if not sources:
            raise ConfigurationError(f"{e.ACCEPTED_SOURCES} names no event source")
        return cls(
            search=SearchSettings(
                endpoint=endpoint.rstrip("/"),
                user=user or None,
                password=password or None,
                ca_certs=env.get(e.OPENSEARCH_CA_CERTS) or None,
                # Set by Lambda itself; SigV4 signs for the domain's region.
                region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
                service=env.get(e.OPENSEARCH_SIGNING_SERVICE) or None,
                timeout=_number(
                    env, e.OPENSEARCH_TIMEOUT, float, search_defaults.timeout, minimum=0.1
                ),
                max_retries=_number(
                    env, e.OPENSEARCH_MAX_RETRIES, int, search_defaults.max_retries, minimum=0
                ),
            ),
            index_alias=env.get(e.INDEX_ALIAS) or defaults.index_alias,
            dead_letter_queue_url=env.get(e.DEAD_LETTER_QUEUE_URL) or None,
            accepted_sources=sources,
            ec2_retry_mode=retry_mode,
            ec2_max_attempts=_number(
                env, e.EC2_MAX_ATTEMPTS, int, defaults.ec2_max_attempts, minimum=1
            ),
            bulk_max_bytes=_number(env, e.BULK_MAX_BYTES, int, defaults.bulk_max_bytes, minimum=1),
            enrichment_max_attempts=_number(
                env, e.ENRICHMENT_MAX_ATTEMPTS, int, defaults.enrichment_max_attempts, minimum=1
            ),
            service_name=env.get(e.SERVICE_NAME) or defaults.service_name,
            metrics_namespace=env.get(e.METRICS_NAMESPACE) or defaults.metrics_namespace,
            spoke_role_name=env.get(e.SPOKE_ROLE_NAME, "").strip() or None,
            home_account=env.get(e.HOME_ACCOUNT, "").strip() or None,
            bursts=_bursts(env),
        )


def _bursts(env: Mapping[str, str]) -> BurstSettings | None:
    e = IngestEnv
    bus = env.get(e.BURST_EVENT_BUS, "").strip()
    if not bus:
        return None
    index = env.get(e.BURST_INDEX, "").strip()
    if not index:
        raise ConfigurationError(f"{e.BURST_INDEX} must be set with {e.BURST_EVENT_BUS}")
    threshold = _number(env, e.BURST_THRESHOLD, int, DEFAULT_BURST_THRESHOLD, minimum=2)
    window = _number(env, e.BURST_WINDOW_MINUTES, int, DEFAULT_BURST_WINDOW_MINUTES, minimum=1)
    try:
        return BurstSettings(bus, index, threshold=threshold, window_minutes=window)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _number(
    env: Mapping[str, str],
    name: str,
    kind: Callable[[str], _T],
    default: _T,
    *,
    minimum: float,
) -> _T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    what = "an integer" if kind is int else "a number"
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be {what} >= {minimum:g}, got {raw!r}") from None
    if not value >= minimum:  # also refuses NaN
        raise ConfigurationError(f"{name} must be {what} >= {minimum:g}, got {raw!r}")
    return value
