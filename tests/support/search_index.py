"""A fresh index + write alias from the shared mapping, and what a test or benchmark reads back.

Shared by the ingest tests' fixtures and scripts/bench_ingest.py (benchmarks never import a
conftest)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch

MAPPING = json.loads(
    (Path(__file__).resolve().parents[2] / "dashboards" / "index-mapping.json").read_text()
)


@dataclass
class SearchIndex:
    client: OpenSearch
    prefix: str

    @property
    def index(self) -> str:
        return f"{self.prefix}-000001"

    @property
    def alias(self) -> str:
        return f"{self.prefix}-write"

    def documents(self) -> dict[str, dict[str, Any]]:
        self.client.indices.refresh(index=self.index)
        hits = self.client.search(
            index=self.index, body={"query": {"match_all": {}}, "size": 10000}
        )["hits"]["hits"]
        return {hit["_id"]: hit["_source"] for hit in hits}

    def count(self) -> int:
        self.client.indices.refresh(index=self.index)
        return self.client.count(index=self.index)["count"]


def create_index(client: OpenSearch, prefix: str, mapping: dict[str, Any] | None = None) -> None:
    mapping = copy.deepcopy(mapping or MAPPING)
    mapping.pop("_meta", None)
    client.indices.create(
        index=f"{prefix}-000001",
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": mapping,
            "aliases": {f"{prefix}-write": {"is_write_index": True}},
        },
    )
