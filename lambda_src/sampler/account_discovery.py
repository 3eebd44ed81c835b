"""Which spoke accounts and regions a tick counts besides the listed ones: every account and
region that sent an event in the last `days` days, read from the events index by the sampler.

Why from the index, not from AWS Organizations: `organizations:ListAccounts` answers only in
the organisation's management account or a delegated administrator, and the hub usually runs
in neither (a tooling or observability account); making it one would hand the hub far more
than it needs. The events index already knows every account whose spoke forwards, in every
region a spoke runs in, and the sampler reads it with one search (two `terms` aggregations over
the look-back window, fields `account` and `region` only: its OpenSearch role has field-level
security on exactly those, lambda_src/provisioning/discovery_role.py).

What this misses, and why it is acceptable: an account whose Spot instances sent no event at
all within the window. It has no interruptions in the window either, so the rates of its own
pools are 0/unknown rather than wrong, but its instance-hours are missing from organisation-wide
rates per pool or instance type (they read slightly high). `sourceAccounts` names accounts
that are always counted, discovered or not.

An account found here but holding no spoke role the sampler may assume is recorded as
`no_access` by the count (fleet_count.sample) and the tick goes on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import TransportError

ACCOUNT_FIELD, REGION_FIELD = "account", "region"
# More accounts than an organisation may hold by default (and than AWS raises it to for most).
MAX_ACCOUNTS = 10_000
MAX_REGIONS = 100
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2,5}(?:-[a-z]+)+-\d{1,2}")


class DiscoveryFailed(Exception):
    """The events index could not be read; the tick counts the listed accounts and fails."""


@dataclass(frozen=True)
class Discovered:
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


def discovery_query(since: datetime) -> dict[str, Any]:
    def terms(field: str, size: int) -> dict[str, Any]:
        return {"terms": {"field": field, "size": size}}

    return {
        "size": 0,
        "query": {"range": {"event_time": {"gte": since.isoformat().replace("+00:00", "Z")}}},
        "aggs": {
            ACCOUNT_FIELD: terms(ACCOUNT_FIELD, MAX_ACCOUNTS),
            REGION_FIELD: terms(REGION_FIELD, MAX_REGIONS),
        },
    }


def discover(client: OpenSearch, index: str, days: int, now: datetime) -> Discovered:
    """Accounts and regions with an event since `now - days` (sorted). Values that are not an
    account id or a region name (a document from elsewhere) are ignored."""
    body = discovery_query(now - timedelta(days=days))
    try:
        response = client.search(index=index, body=body, ignore_unavailable=True)
    except (TransportConnectionError, TransportError) as exc:
        status = getattr(exc, "status_code", "")
        raise DiscoveryFailed(
            f"account discovery search failed: {type(exc).__name__} {status}".strip()
        ) from exc

    def keys(field: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
        buckets = ((response.get("aggregations") or {}).get(field) or {}).get("buckets", [])
        return tuple(sorted(str(b["key"]) for b in buckets if pattern.fullmatch(str(b["key"]))))

    return Discovered(keys(ACCOUNT_FIELD, _ACCOUNT), keys(REGION_FIELD, _REGION))
