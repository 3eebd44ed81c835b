"""A fresh index + write alias as provisioning defines them, and what a test or benchmark reads.

Shared by the ingest tests' fixtures and scripts/bench_ingest.py (benchmarks never import a
conftest)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from opensearchpy import OpenSearch

from lambda_src.provisioning.index_setup import index_template_body, load_mapping
from lambda_src.provisioning.settings import ProvisioningSettings

# The mapping every index of the product gets (the provisioner's template).
MAPPING = load_mapping()


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

    def clear(self) -> None:
        """Delete every document (no _delete_by_query: the local node has no reindex module)."""
        self.client.indices.refresh(index=self.index)
        hits = self.client.search(index=self.index, body={"size": 10_000, "_source": False})
        deletes = [
            {"delete": {"_index": self.index, "_id": h["_id"]}} for h in hits["hits"]["hits"]
        ]
        if deletes:
            self.client.bulk(body=deletes, refresh=True)


def create_index(client: OpenSearch, prefix: str, mapping: dict[str, Any] | None = None) -> None:
    """The first index behind the write alias, with the settings and mapping of the template the
    provisioner installs (`mapping` replaces the mapping, for conflict tests).

    The index gets the template's body directly rather than through an index template: tests
    nest prefixes (`<prefix>-conflict`), and two templates of the provisioner's priority whose
    patterns overlap are refused by OpenSearch."""
    settings = ProvisioningSettings(
        endpoint="https://unused", master_secret_arn="unused", index_prefix=prefix, replicas=0
    )
    template = index_template_body(settings, with_ism=False)["template"]
    if mapping is not None:
        template["mappings"] = copy.deepcopy(mapping)
    client.indices.create(
        index=settings.first_index,
        body={**template, "aliases": {settings.write_alias: {"is_write_index": True}}},
    )


# A search right after a write sees it only if the writer waited for the refresh (or, about
# one time in a hundred, a scheduled refresh fell in the milliseconds between the two), and no
# shard is search-idle (a search on an idle shard triggers the refresh and waits for it).
VISIBLE_ONLY_AFTER_REFRESH = {"index.refresh_interval": "1s", "index.search.idle.after": "1h"}


def searchable_now(client: OpenSearch, pattern: str) -> int:
    """How many documents of `pattern` a search sees now, without forcing a refresh."""
    return client.count(index=pattern)["count"]
