"""Index State Management: roll the write index over by size or age, delete indices once
their newest document is older than the retention, attach to new indices via ism_template."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.settings import ProvisioningSettings

ISM_PLUGIN = "opensearch-index-management"
ISM_TEMPLATE_PRIORITY = 100
# The add API reports these for indices that already follow a policy; that is the goal state.
_ALREADY_MANAGED = "already has a policy"


def ism_policy_body(settings: ProvisioningSettings) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "default_state": "hot",
        "states": [
            {
                "name": "hot",
                "actions": [
                    {
                        "rollover": {
                            "min_primary_shard_size": settings.rollover_size,
                            "min_index_age": settings.rollover_age,
                        }
                    }
                ],
                # Counted from rollover, so every document is kept at least retention days.
                "transitions": [
                    {
                        "state_name": "delete",
                        "conditions": {"min_rollover_age": f"{settings.retention_days}d"},
                    }
                ],
            },
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
        ],
        "ism_template": [
            {"index_patterns": [settings.index_pattern], "priority": ISM_TEMPLATE_PRIORITY}
        ],
    }
    return described(
        policy,
        f"Spot Insights lifecycle for {settings.index_pattern}: rollover at "
        f"{settings.rollover_size}/{settings.rollover_age}, delete {settings.retention_days}d "
        f"after rollover",
    )


def described(policy: dict[str, Any], summary: str) -> dict[str, Any]:
    """The policy's request body, its description `summary` plus a digest of its content: the
    digest tells a later run whether the stored policy is current (`ensure_ism_policy`)."""
    digest = hashlib.sha256(json.dumps(policy, sort_keys=True).encode()).hexdigest()[:16]
    return {"policy": {**policy, "description": f"{summary} [content {digest}]"}}


def ism_available(http: HttpClient) -> bool:
    plugins = http.json("GET", "/_cat/plugins", params={"format": "json"})
    return any(row.get("component") == ISM_PLUGIN for row in plugins)


def ensure_ism_policy(
    http: HttpClient, settings: ProvisioningSettings, body: dict[str, Any] | None = None
) -> str:
    """Create or update the policy (`body`, default the rollover policy of `settings`, with a
    content digest in its description); returns "created", "updated" or "unchanged"."""
    path = f"/_plugins/_ism/policies/{settings.ism_policy_id}"
    body = body or ism_policy_body(settings)
    current = http.request("GET", path, expected=(200, 404))
    if current.status_code == 404:
        http.request("PUT", path, json_body=body)
        outcome = "created"
    else:
        stored = current.json()
        if stored.get("policy", {}).get("description") == body["policy"]["description"]:
            outcome = "unchanged"
        else:
            http.request(
                "PUT",
                path,
                json_body=body,
                params={
                    "if_seq_no": str(stored["_seq_no"]),
                    "if_primary_term": str(stored["_primary_term"]),
                },
            )
            # Managed indices keep the policy version they started with unless moved.
            http.request(
                "POST",
                f"/_plugins/_ism/change_policy/{settings.index_pattern}",
                json_body={"policy_id": settings.ism_policy_id},
            )
            outcome = "updated"
    _attach_to_unmanaged_indices(http, settings)
    return outcome


def _attach_to_unmanaged_indices(http: HttpClient, settings: ProvisioningSettings) -> None:
    """ism_template only reaches indices created after the policy; this covers older ones."""
    answer = http.json(
        "POST",
        f"/_plugins/_ism/add/{settings.index_pattern}",
        json_body={"policy_id": settings.ism_policy_id},
    )
    failed = [
        f"{row.get('index_name')}: {row.get('reason')}"
        for row in answer.get("failed_indices", [])
        if _ALREADY_MANAGED not in str(row.get("reason", ""))
    ]
    if failed:
        raise ProvisioningError(f"attaching ISM policy failed for {'; '.join(failed)}")
