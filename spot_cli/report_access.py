"""The report's `no_access` section: accounts whose events the hub could not enrich because it
cannot assume their spoke enrichment role (no role there, or one that trusts someone else).

The ingest function indexes such events with `enrichment: missing`, reason `no_access`
(lambda_src/ingest/cross_account.py); this is one filtered `terms` aggregation over them, part
of the report's `counts` search (so of its single `_msearch`). A listed account needs the spoke
deployed (README, "Rolling spokes out"); its events are indexed all the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import RenderableType

from lambda_src.contract import NO_ACCESS
from spot_cli.terminal import table

# More accounts than this lacking the role is an organisation without spokes: the count says so.
MAX_ACCOUNTS = 50


@dataclass(frozen=True)
class NoAccessAccount:
    account: str
    events: int
    regions: tuple[str, ...]
    last_event: str | None  # ISO 8601: whether it is still happening


def no_access_aggs() -> dict[str, Any]:
    """Aggregations added to the report's `counts` search."""
    return {
        "no_access": {
            "filter": {"term": {"enrichment_reason": NO_ACCESS}},
            "aggs": {
                "accounts": {
                    "terms": {"field": "account", "size": MAX_ACCOUNTS},
                    "aggs": {
                        "regions": {"terms": {"field": "region", "size": 50}},
                        "last_event": {"max": {"field": "event_time"}},
                    },
                }
            },
        }
    }


def no_access_accounts(aggs: Mapping[str, Any]) -> list[NoAccessAccount]:
    """The section from the `_msearch`'s merged aggregations (accounts by events, most first)."""
    section = aggs.get("no_access")
    if not section:
        return []
    result = []
    for bucket in section["accounts"]["buckets"]:
        last = bucket["last_event"]["value"]
        result.append(
            NoAccessAccount(
                account=str(bucket["key"]),
                events=int(bucket["doc_count"]),
                regions=tuple(sorted(str(r["key"]) for r in bucket["regions"]["buckets"])),
                last_event=(datetime.fromtimestamp(last / 1000, UTC).isoformat() if last else None),
            )
        )
    return result


def no_access_tables(accounts: Sequence[NoAccessAccount]) -> list[RenderableType]:
    """One table when some account lacks the role; nothing otherwise."""
    if not accounts:
        return []
    return [
        table(
            "Accounts without the spoke enrichment role (events indexed enrichment: missing, "
            "no_access)",
            ["account", "events", "regions", "last event"],
            [[a.account, a.events, ", ".join(a.regions), a.last_event or "-"] for a in accounts],
            left=(0, 2, 3),
        )
    ]
