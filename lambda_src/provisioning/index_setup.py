"""Index template, first index and write alias. Never deletes or recreates an index: on an
update the template and the mapping of existing indices are brought up to date in place."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from lambda_src.contract import PROVISIONING_SERVICE_NAME
from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.settings import ProvisioningSettings

MAPPING_FILE = Path(__file__).resolve().parents[2] / "dashboards" / "index-mapping.json"
# Above the default priorities of plugin templates, so ours decides the settings of our indices.
TEMPLATE_PRIORITY = 200


@cache
def load_mapping() -> dict[str, Any]:
    return json.loads(MAPPING_FILE.read_text())


def index_template_body(
    settings: ProvisioningSettings, *, with_ism: bool, mapping: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`mapping`: the family's mapping; default the events' (dashboards/index-mapping.json)."""
    index_settings: dict[str, Any] = {
        "number_of_shards": settings.shards,
        "number_of_replicas": settings.replicas,
    }
    if with_ism:
        # The ISM rollover action reads the alias to roll from this setting.
        index_settings["plugins.index_state_management.rollover_alias"] = settings.write_alias
    return {
        "index_patterns": [settings.index_pattern],
        "priority": TEMPLATE_PRIORITY,
        "template": {"settings": index_settings, "mappings": mapping or load_mapping()},
        "_meta": {"managed_by": PROVISIONING_SERVICE_NAME},
    }


def ensure_index_template(
    http: HttpClient,
    settings: ProvisioningSettings,
    *,
    with_ism: bool,
    mapping: dict[str, Any] | None = None,
) -> str:
    """PUT is an upsert; it only affects indices created afterwards."""
    name = settings.index_prefix
    http.request(
        "PUT",
        f"/_index_template/{name}",
        json_body=index_template_body(settings, with_ism=with_ism, mapping=mapping),
    )
    return name


def ensure_write_alias(
    http: HttpClient, settings: ProvisioningSettings, mapping: dict[str, Any] | None = None
) -> str:
    """Create the first index behind the write alias unless the alias already exists.

    Returns "created", "exists" or "attached" (alias added to the newest existing index)."""
    alias = settings.write_alias
    if http.request("GET", f"/_alias/{alias}", expected=(200, 404)).status_code == 200:
        _update_existing_mappings(http, settings, mapping)
        return "exists"
    if http.request("HEAD", f"/{alias}", expected=(200, 404)).status_code == 200:
        # Without the alias, a write with require_alias=false would have auto-created this.
        raise ProvisioningError(
            f"an index named {alias!r} exists where the write alias belongs; reindex its "
            "documents into the alias's index and delete it, then redeploy"
        )
    rows = http.json(
        "GET", f"/_cat/indices/{settings.index_pattern}", params={"format": "json", "h": "index"}
    )
    existing = sorted(row["index"] for row in rows)
    if existing:
        newest = existing[-1]
        http.request(
            "POST",
            "/_aliases",
            json_body={
                "actions": [{"add": {"index": newest, "alias": alias, "is_write_index": True}}]
            },
        )
        _update_existing_mappings(http, settings, mapping)
        return "attached"
    response = http.request(
        "PUT",
        f"/{settings.first_index}",
        json_body={"aliases": {alias: {"is_write_index": True}}},
        expected=(200, 400),
    )
    if response.status_code == 400:
        # A concurrent run may have won the race; anything else is a real error.
        if "resource_already_exists_exception" not in response.text:
            raise ProvisioningError(f"PUT /{settings.first_index} -> HTTP 400: {response.text}")
        return ensure_write_alias(http, settings, mapping)
    return "created"


def _update_existing_mappings(
    http: HttpClient, settings: ProvisioningSettings, mapping: dict[str, Any] | None = None
) -> None:
    """Additive mapping changes reach existing indices; a conflicting one fails readably.
    The replica count is dynamic, so a profile change applies to existing indices too."""
    http.request("PUT", f"/{settings.index_pattern}/_mapping", json_body=mapping or load_mapping())
    http.request(
        "PUT",
        f"/{settings.index_pattern}/_settings",
        json_body={"index": {"number_of_replicas": settings.replicas}},
    )
