"""The demo's check of evictions against the storm's ground truth: every evicted instance is one
document under its CloudTrail record's id, and the links written at ingest (`warned`,
`warning_lead_seconds`, `rebalance_recommended`) are what the storm says happened."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spot_cli.local.storm import Storm
from spot_cli.missed_warnings import percent

LINKS = ("warned", "warning_lead_seconds", "rebalance_recommended")


@dataclass(frozen=True)
class EvictionCheck:
    records: int  # CloudTrail BidEvictedEvent records published
    instances: int  # evicted instances: the documents there must be
    without_warning: int  # of them, evicted with no warning first (ground truth)
    indexed: int  # eviction documents found under the expected ids
    disagreeing: list[str] = field(default_factory=list)  # ids whose links differ from truth

    @property
    def share(self) -> float | None:
        return round(self.without_warning / self.instances, 4) if self.instances else None

    def summary(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "instances": self.instances,
            "indexed": self.indexed,
            "without_warning": self.without_warning,
            "share_without_warning": self.share,
            "links_disagreeing": len(self.disagreeing),
        }

    def problems(self) -> list[str]:
        found = []
        if self.indexed != self.instances:
            found.append(f"{self.indexed} of {self.instances} evicted instances indexed")
        if self.disagreeing:
            found.append(f"{len(self.disagreeing)} evictions linked unlike the ground truth")
        return found

    def line(self) -> str:
        return (
            f"Evictions: {self.instances} instances in {self.records} CloudTrail records, "
            f"{self.indexed} indexed once each; {self.without_warning} without a warning "
            f"({percent(self.share)}), as the storm's ground truth says"
            + ("." if not self.disagreeing else f" except {len(self.disagreeing)}.")
        )


def check_evictions(client: Any, index: str, storm: Storm) -> EvictionCheck:
    truth = storm.eviction_truth()
    ids = list(truth)
    found: dict[str, Mapping[str, Any]] = {}
    client.indices.refresh(index=index)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        response = client.search(
            index=index,
            body={"size": len(chunk), "_source": list(LINKS), "query": {"ids": {"values": chunk}}},
        )
        found.update({hit["_id"]: hit["_source"] for hit in response["hits"]["hits"]})
    disagreeing = [
        doc_id
        for doc_id, expected in truth.items()
        if doc_id in found and any(found[doc_id].get(name) != expected.get(name) for name in LINKS)
    ]
    return EvictionCheck(
        records=len(storm.evictions),
        instances=len(truth),
        without_warning=sum(1 for t in truth.values() if not t["warned"]),
        indexed=len(found),
        disagreeing=disagreeing,
    )
