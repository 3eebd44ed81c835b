"""Least-privilege security roles, their mappings and the internal read-only users.

Nothing is ever mapped to all_access. Mappings are declarative: each run replaces them with
what the stack declares, so a backend role removed from the stack loses its access."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger

from lambda_src.contract import (
    PROVISIONING_SERVICE_NAME,
    burst_index_pattern,
    exposure_index_pattern,
    market_index_pattern,
)
from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.settings import ProvisioningSettings

WRITER_ROLE = "spot_insights_writer"
READER_ROLE = "spot_insights_reader"
API = "/_plugins/_security/api"
# Permission-less marker roles that switch the Dashboards UI to read-only mode (named in
# opensearch_security.readonly_mode.roles); the name differs between distributions.
DASHBOARDS_READ_ONLY_ROLES = ("opensearch_dashboards_read_only", "kibana_read_only")

logger = Logger(service=PROVISIONING_SERVICE_NAME, child=True)


def writer_role_body(settings: ProvisioningSettings) -> dict[str, Any]:
    return {
        "description": f"Spot Insights ingest: index and link documents {settings.index_pattern}",
        # Bulk is authorised once at cluster level, then per index for each item.
        "cluster_permissions": ["indices:data/write/bulk"],
        "index_permissions": [
            {
                "index_patterns": [settings.index_pattern],
                # search + update: ingest links events of one instance (ingest/linking.py).
                "allowed_actions": [
                    "indices:data/write/index",
                    "indices:data/write/bulk*",
                    "indices:data/write/update",
                    "indices:data/read/search",
                ],
            },
            {
                # The burst ledger (ingest/bursts.py): a month's index created on first use
                # (its strict mapping from the provisioned template, so no mapping updates),
                # one document per burst written with op_type=create, deleted again when
                # publishing failed. Single-document writes run as shard-level bulk requests.
                "index_patterns": [burst_index_pattern(settings.index_prefix)],
                "allowed_actions": [
                    "indices:admin/create",
                    "indices:data/write/index",
                    "indices:data/write/delete",
                    "indices:data/write/bulk*",
                ],
            },
        ],
    }


def reader_role_body(settings: ProvisioningSettings) -> dict[str, Any]:
    return {
        "description": f"Spot Insights dashboards: read {settings.index_pattern}",
        "cluster_permissions": ["cluster_composite_ops_ro"],
        "index_permissions": [
            {
                # The exposure family too: rates divide interruptions by its instance-hours.
                "index_patterns": [
                    settings.index_pattern,
                    exposure_index_pattern(settings.index_prefix),
                    # Market context (issue 14): prices and advisor buckets next to the rates.
                    market_index_pattern(settings.index_prefix),
                ],
                "allowed_actions": ["read"],
            }
        ],
        # Saved objects live in the Global tenant; read-only there keeps dashboards fixed.
        "tenant_permissions": [
            {"tenant_patterns": ["global_tenant"], "allowed_actions": ["kibana_all_read"]}
        ],
    }


def ensure_role(http: HttpClient, name: str, body: dict[str, Any]) -> None:
    http.request("PUT", f"{API}/roles/{name}", json_body=body)


def ensure_role_mapping(
    http: HttpClient, role: str, *, backend_roles: Sequence[str] = (), users: Sequence[str] = ()
) -> None:
    http.request(
        "PUT",
        f"{API}/rolesmapping/{role}",
        json_body={"backend_roles": list(backend_roles), "users": list(users), "hosts": []},
    )


def ensure_internal_user(http: HttpClient, name: str, password: str) -> None:
    """PUT replaces the user: the password in Secrets Manager is the source of truth."""
    http.request(
        "PUT",
        f"{API}/internalusers/{name}",
        json_body={
            "password": password,
            "description": "Spot Insights read-only user (password in Secrets Manager)",
        },
    )


def ensure_dashboards_read_only(http: HttpClient, users: Sequence[str]) -> str:
    """Add the read-only users to the Dashboards read-only marker role, keeping whoever else
    is mapped there (this role is shared, unlike ours). Returns the role used or ""."""
    if not users:
        return ""
    for role in DASHBOARDS_READ_ONLY_ROLES:
        if http.request("GET", f"{API}/roles/{role}", expected=(200, 404)).status_code == 404:
            continue
        current = http.request("GET", f"{API}/rolesmapping/{role}", expected=(200, 404))
        mapping = current.json().get(role, {}) if current.status_code == 200 else {}
        http.request(
            "PUT",
            f"{API}/rolesmapping/{role}",
            json_body={
                "backend_roles": mapping.get("backend_roles", []),
                "hosts": mapping.get("hosts", []),
                "users": sorted(set(mapping.get("users", [])) | set(users)),
            },
        )
        return role
    logger.warning(
        f"none of the roles {DASHBOARDS_READ_ONLY_ROLES} exists: read-only users keep read "
        "access only, but the Dashboards UI is not switched to read-only mode for them"
    )
    return ""


def ensure_security(
    http: HttpClient, settings: ProvisioningSettings, reader_users: dict[str, str]
) -> str:
    """Returns the Dashboards read-only role the users were added to, or ""."""
    ensure_role(http, WRITER_ROLE, writer_role_body(settings))
    ensure_role(http, READER_ROLE, reader_role_body(settings))
    for name, password in sorted(reader_users.items()):
        ensure_internal_user(http, name, password)
    ensure_role_mapping(http, WRITER_ROLE, backend_roles=settings.writer_backend_roles)
    ensure_role_mapping(
        http, READER_ROLE, backend_roles=settings.reader_backend_roles, users=sorted(reader_users)
    )
    return ensure_dashboards_read_only(http, sorted(reader_users))
