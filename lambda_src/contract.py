"""The names the three packages agree on: constructs, Lambda code and the CLI import them here.

Constructs write the ingest function's environment with these names and the function reads
them; the CLI's simulate puts events with the source the stack's test rule accepts; redrive
reads the dead-letter attributes the function writes. Keeping them in one module (which
imports neither aws_cdk nor boto3, so every package may import it) is what keeps the copies
from drifting. It lives in `lambda_src` because that package is the Lambda asset: whatever
the function imports must ship in it.
"""

from __future__ import annotations

import re
from typing import Final

# --- Indices -------------------------------------------------------------------------------
DEFAULT_INDEX_PREFIX: Final = "spot-interruptions"
# Index names are lowercase, cannot start with '-', '_' or '+', and hold no wildcard, comma,
# space or path characters; 100 characters leave room for the suffixes (`-write`, `-000001`)
# under OpenSearch's 255-byte limit.
_INDEX_PREFIX = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
INDEX_PREFIX_FORM: Final = "1-100 characters of a-z, 0-9, '.', '_' or '-', starting with a-z or 0-9"


def validate_index_prefix(prefix: str) -> str:
    """Return `prefix` if it can name the indices, else raise ValueError naming the form."""
    if not isinstance(prefix, str) or not _INDEX_PREFIX.fullmatch(prefix):
        raise ValueError(f"index prefix {prefix!r} is not {INDEX_PREFIX_FORM}")
    return prefix


def write_alias(prefix: str) -> str:
    """The alias every writer uses; rollover moves it, so writers never name an index."""
    return f"{prefix}-write"


def index_pattern(prefix: str) -> str:
    """Every index of the family (readers, permissions, the Dashboards index pattern)."""
    return f"{prefix}-*"


# The fixed id of the Dashboards index-pattern saved object the visualizations reference; it
# does not follow the prefix (provisioning sets only its title to `index_pattern(prefix)`).
DASHBOARDS_INDEX_PATTERN_ID: Final = DEFAULT_INDEX_PREFIX


# --- Events --------------------------------------------------------------------------------
WARNING_DETAIL_TYPE: Final = "EC2 Spot Instance Interruption Warning"
REBALANCE_DETAIL_TYPE: Final = "EC2 Instance Rebalance Recommendation"
DETAIL_TYPES: Final = (WARNING_DETAIL_TYPE, REBALANCE_DETAIL_TYPE)
EC2_SOURCE: Final = "aws.ec2"
# Evictions (issue 13): EC2 records a Spot eviction in CloudTrail as the service event
# `BidEvictedEvent`, instance ids in `serviceEventDetails.instanceIdSet`; CloudTrail forwards it
# to the default bus of the event's account and region under this detail-type, source aws.ec2.
CLOUDTRAIL_DETAIL_TYPE: Final = "AWS Service Event via CloudTrail"
BID_EVICTED_EVENT_NAME: Final = "BidEvictedEvent"
# The `event_type` of an eviction document: one document per evicted instance.
EVICTION_EVENT_TYPE: Final = "EC2 Spot Instance Eviction"
# Every event pattern the rules (default bus, hub bus, spokes) match, one rule each: the
# detail-type alone, or with the `detail` fields that narrow it (CloudTrail carries every
# service event under one detail-type).
EVENT_PATTERNS: Final = (
    {"source": [EC2_SOURCE], "detail-type": [WARNING_DETAIL_TYPE]},
    {"source": [EC2_SOURCE], "detail-type": [REBALANCE_DETAIL_TYPE]},
    {
        "source": [EC2_SOURCE],
        "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
        "detail": {"eventName": [BID_EVICTED_EVENT_NAME]},
    },
)
# Every detail-type an accepted event may carry: one rule each (the hub bus policy's condition).
ACCEPTED_DETAIL_TYPES: Final = (*DETAIL_TYPES, CLOUDTRAIL_DETAIL_TYPE)


def rule_pattern(detail_type: str) -> dict[str, object]:
    """The event pattern of the rule for `detail-type` (with `detail.eventName` where CloudTrail
    shares the detail-type among every service event): what every bus's rules match."""
    for pattern in EVENT_PATTERNS:
        if pattern["detail-type"] == [detail_type]:
            return pattern
    raise ValueError(f"no event pattern for detail-type {detail_type!r}")


# The source `spot-insights simulate` puts on the bus (EventBridge reserves aws.* for AWS);
# only a stack deployed with the test rule accepts it.
SIMULATION_SOURCE: Final = "spot-insights.simulate"

# --- Dead-letter queue message attributes (written by the function, read by redrive) -------
DLQ_REASON_ATTRIBUTE: Final = "ingest-failure-reason"
DLQ_SOURCE_MESSAGE_ATTRIBUTE: Final = "ingest-source-message-id"


# --- The ingest function's environment -----------------------------------------------------
class IngestEnv:
    """Environment variable names of the ingest function (written by IngestPipeline, read once
    by `lambda_src.ingest.config.IngestConfig.from_env`)."""

    OPENSEARCH_ENDPOINT: Final = "OPENSEARCH_ENDPOINT"
    INDEX_ALIAS: Final = "INDEX_ALIAS"
    DEAD_LETTER_QUEUE_URL: Final = "DEAD_LETTER_QUEUE_URL"
    OPENSEARCH_TIMEOUT: Final = "OPENSEARCH_TIMEOUT"
    ENRICHMENT_MAX_ATTEMPTS: Final = "ENRICHMENT_MAX_ATTEMPTS"
    # Hub and spokes: the role assumed in an event's account, and the account that needs none.
    SPOKE_ROLE_NAME: Final = "SPOKE_ROLE_NAME"
    HOME_ACCOUNT: Final = "HOME_ACCOUNT"
    ACCEPTED_SOURCES: Final = "ACCEPTED_SOURCES"
    EC2_RETRY_MODE: Final = "EC2_RETRY_MODE"
    EC2_MAX_ATTEMPTS: Final = "EC2_MAX_ATTEMPTS"
    BULK_MAX_BYTES: Final = "BULK_MAX_BYTES"
    SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
    METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
    # Not written by the construct (a deployed function signs with SigV4 against the domain):
    # for runs against a local node, which wants basic auth and trusts a private CA.
    OPENSEARCH_USER: Final = "OPENSEARCH_USER"
    OPENSEARCH_PASSWORD: Final = "OPENSEARCH_PASSWORD"
    OPENSEARCH_CA_CERTS: Final = "OPENSEARCH_CA_CERTS"
    OPENSEARCH_MAX_RETRIES: Final = "OPENSEARCH_MAX_RETRIES"
    OPENSEARCH_SIGNING_SERVICE: Final = "OPENSEARCH_SIGNING_SERVICE"
    # Burst alerts (issue 14): unset BURST_EVENT_BUS turns detection off.
    BURST_EVENT_BUS: Final = "BURST_EVENT_BUS"
    BURST_INDEX: Final = "BURST_INDEX"
    BURST_THRESHOLD: Final = "BURST_THRESHOLD"
    BURST_WINDOW_MINUTES: Final = "BURST_WINDOW_MINUTES"


INGEST_SERVICE_NAME: Final = "spot-insights-ingest"
PROVISIONING_SERVICE_NAME: Final = "spot-insights-provisioning"
METRICS_NAMESPACE: Final = "SpotInsights"


# --- Hub and spokes (issue 13) -------------------------------------------------------------
# Fixed names, because a spoke in another account can only refer to the hub by ARN.
HUB_BUS_NAME: Final = "spot-insights-hub"
# The read-only role every spoke account holds once (IAM is global, the spoke is per region).
SPOKE_ROLE_NAME: Final = "spot-insights-enrichment"
# enrichment_reason of an event whose account has no spoke role the hub may assume.
NO_ACCESS: Final = "no_access"


def hub_ingest_role_name(region: str) -> str:
    """The hub ingest function's role: one per hub region, named so spokes can trust it."""
    return f"spot-insights-ingest-{region}"


# --- Fleet exposure (issue 14) -------------------------------------------------------------
# The sampler's documents live in their own index family, `<prefix>.exposure-000001`... The
# separator is a '.', not a '-': `index_pattern(prefix)` is `<prefix>-*`, which the report, the
# Dashboards index pattern and the writer and reader roles use, and which would swallow a
# `<prefix>-exposure-*` family (its counts would become "events" with no event_type). With the
# '.', neither `<prefix>-*` matches an exposure index nor `<prefix>.exposure-*` an event index.
EXPOSURE_FAMILY: Final = "exposure"
EXPOSURE_SERVICE_NAME: Final = "spot-insights-sampler"
# Scheduler fills this placeholder with the tick's scheduled time (ISO 8601, UTC); the same
# value comes back on every retry of the tick, so it names the tick's documents.
SCHEDULED_TIME_PLACEHOLDER: Final = "<aws.scheduler.scheduled-time>"
SCHEDULED_TIME_KEY: Final = "scheduled_time"


def exposure_prefix(prefix: str) -> str:
    """`<prefix>.exposure`: the prefix of the exposure family (its own `-write` alias,
    `-000001` indices and `-*` pattern follow from it exactly as for the events family)."""
    return f"{prefix}.{EXPOSURE_FAMILY}"


def exposure_write_alias(prefix: str) -> str:
    """The alias the sampler writes through: `<prefix>.exposure-write`."""
    return write_alias(exposure_prefix(prefix))


def exposure_index_pattern(prefix: str) -> str:
    """Every exposure index, and no event index: `<prefix>.exposure-*`."""
    return index_pattern(exposure_prefix(prefix))


class SamplerEnv:
    """Environment of the sampler function besides the OpenSearch and spoke variables it
    shares with the ingest function (`IngestEnv`: endpoint, INDEX_ALIAS, SPOKE_ROLE_NAME, ...)."""

    REGIONS: Final = "SAMPLE_REGIONS"
    ACCOUNTS: Final = "SAMPLE_ACCOUNTS"
    INTERVAL_SECONDS: Final = "SAMPLE_INTERVAL_SECONDS"
    # Account discovery (lambda_src/sampler/account_discovery.py): accounts and regions that
    # sent an event within this many days, read from this index pattern, are counted too.
    DISCOVERY_DAYS: Final = "SAMPLE_DISCOVERY_DAYS"
    EVENTS_INDEX: Final = "SAMPLE_EVENTS_INDEX"


# --- Market context (issue 14) -------------------------------------------------------------
# Spot price history and the Spot Instance Advisor's buckets, written once a day by the sampler
# function (its daily schedule sends `{MODE_KEY: MARKET_MODE}` with the scheduled time) into
# `<prefix>.market-*`: a '.' family like the exposure one, for the same reason.
MARKET_FAMILY: Final = "market"
MODE_KEY: Final = "mode"
MARKET_MODE: Final = "market"
# The advisor's public data file (what the Spot Instance Advisor page reads).
DEFAULT_ADVISOR_URL: Final = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"
# `record_type` of the market family's documents.
PRICE_RECORD: Final = "spot_price"
ADVISOR_RECORD: Final = "advisor_bucket"


def market_prefix(prefix: str) -> str:
    """`<prefix>.market`: the prefix of the market context family."""
    return f"{prefix}.{MARKET_FAMILY}"


def market_write_alias(prefix: str) -> str:
    return write_alias(market_prefix(prefix))


def market_index_pattern(prefix: str) -> str:
    return index_pattern(market_prefix(prefix))


class MarketEnv:
    """The sampler's market variables (read by `lambda_src.sampler.config`)."""

    INDEX_ALIAS: Final = "MARKET_INDEX_ALIAS"
    ADVISOR_URL: Final = "ADVISOR_URL"
    ADVISOR_TIMEOUT_SECONDS: Final = "ADVISOR_TIMEOUT_SECONDS"


def hub_sampler_role_name(region: str) -> str:
    """The hub sampler function's role: fixed, so spokes can trust it next to the ingest role."""
    return f"spot-insights-sampler-{region}"


# --- Burst alerts (issue 14) ---------------------------------------------------------------
# The custom event the ingest function puts on the bus when N warnings share an AZ ID or a
# capacity group within M minutes (lambda_src/ingest/bursts.py).
BURST_DETAIL_TYPE: Final = "Spot Interruption Burst"
BURST_EVENT_SOURCE: Final = "spot-insights"
BURST_DIMENSIONS: Final = ("availability_zone_id", "capacity_group")
DEFAULT_BURST_THRESHOLD: Final = 10
DEFAULT_BURST_WINDOW_MINUTES: Final = 10
BURST_METRIC: Final = "InterruptionBursts"
BURST_CHECK_FAILED_METRIC: Final = "BurstCheckFailures"


def burst_index(prefix: str) -> str:
    """The ledger of fired bursts (one document per burst, its id the dedupe key). `.`, not
    `-`: `index_pattern(prefix)` must not match it, or the report, the Dashboards index
    pattern and the readers' permissions would take ledger entries for events."""
    return f"{prefix}.bursts"


def burst_index_pattern(prefix: str) -> str:
    """The ledger's indices, one per month of the bursts' window start (`<ledger>-YYYY.MM`,
    lambda_src/ingest/bursts.py): what its template, retention policy and permissions name."""
    return f"{burst_index(prefix)}-*"
