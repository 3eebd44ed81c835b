"""The demo's check of every document's enrichment against ground truth.

What each event's document must say follows from the fleet and the accounts alone: an event of
an account without the spoke role is `enrichment: missing`, reason `no_access` (the hub could
not look); otherwise an event of an instance that no longer exists is `missing`,
`instance_not_found`; every other event is `full`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lambda_src.contract import NO_ACCESS
from lambda_src.ingest.documents import FULL, INSTANCE_NOT_FOUND, MISSING
from spot_cli.local.organisation import Organisation
from spot_cli.local.storm import PublishResult, Storm


@dataclass
class EnrichmentCheck:
    # (account, enrichment, reason or "") -> documents, as expected and as indexed
    expected: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    indexed: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    # event ids whose document says something else than ground truth (or is absent)
    wrong: list[str] = field(default_factory=list)
    without_role: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        accounts: dict[str, dict[str, Any]] = {}
        for (account, enrichment, reason), count in sorted(self.indexed.items()):
            entry = accounts.setdefault(
                account, {"spoke_role": account not in self.without_role, "documents": {}}
            )
            entry["documents"][reason or enrichment] = count
        return {"by_account": accounts, "wrong_enrichment": len(self.wrong)}


def expected_enrichment(
    event: dict[str, Any], storm: Storm, organisation: Organisation
) -> tuple[str, str]:
    if event["account"] in organisation.without_role:
        return MISSING, NO_ACCESS
    if event["detail"]["instance-id"] in storm.ghost_instance_ids:
        return MISSING, INSTANCE_NOT_FOUND
    return FULL, ""


def check_enrichment(
    client: Any,
    index: str,
    storm: Storm,
    published: PublishResult,
    organisation: Organisation,
) -> EnrichmentCheck:
    check = EnrichmentCheck(without_role=tuple(sorted(organisation.without_role)))
    truth: dict[str, tuple[str, str, str]] = {}
    for generated, delivered in published.delivered_ids.items():
        event = storm.by_id.get(generated)
        if event is None:
            # An eviction record: one document per instance under its CloudTrail id, which
            # `evictions_check` verifies (ids and links).
            continue
        truth[delivered] = (event["account"], *expected_enrichment(event, storm, organisation))
    check.expected.update(truth.values())
    ids = list(truth)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        hits = client.search(
            index=index,
            body={
                "size": len(chunk),
                "_source": ["account", "enrichment", "enrichment_reason"],
                "query": {"ids": {"values": chunk}},
            },
        )["hits"]["hits"]
        found = {
            hit["_id"]: (
                hit["_source"].get("account", ""),
                hit["_source"].get("enrichment", ""),
                hit["_source"].get("enrichment_reason") or "",
            )
            for hit in hits
        }
        check.indexed.update(found.values())
        check.wrong.extend(i for i in chunk if found.get(i) != truth[i])
    return check
