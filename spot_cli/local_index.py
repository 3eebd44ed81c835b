"""A minimal index bootstrap for local runs until the provisioning code is wired in: an index
template with the shared mapping on `<prefix>-*`, a first index and its write alias.

The demo prefers the provisioning function the custom resource runs (injected); this is the
fallback so the local pipeline is usable on its own. Idempotent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAPPING_FILE = Path(__file__).resolve().parents[1] / "dashboards" / "index-mapping.json"


def bootstrap_index(client: Any, prefix: str) -> str:
    """Create what is missing and return the write alias."""
    mapping = json.loads(MAPPING_FILE.read_text())
    alias = f"{prefix}-write"
    client.indices.put_index_template(
        name=f"{prefix}-template",
        body={
            "index_patterns": [f"{prefix}-*"],
            "template": {
                "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                "mappings": mapping,
            },
        },
    )
    if not client.indices.exists_alias(name=alias):
        client.indices.create(
            index=f"{prefix}-000001", body={"aliases": {alias: {"is_write_index": True}}}
        )
    return alias


def provision_for_demo(settings: Any, prefix: str) -> None:
    """The demo's fallback provisioner (signature of `spot_cli.demo.Provisioner`)."""
    from spot_cli.opensearch_client import connect  # noqa: PLC0415

    bootstrap_index(connect(settings), prefix)
