"""The exposure sampler's read access to the events: which accounts and regions sent an event
(lambda_src/sampler/account_discovery.py), and nothing else of them.

A role of its own, mapped to the same backend roles as the exposure writer (the sampler's IAM
role), so the writer role stays write-only. Search on the events' pattern only, with
field-level security limited to the three fields discovery aggregates and filters on: the
sampler never sees instance ids, tags or any other field of an event."""

from __future__ import annotations

from typing import Any

from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.security_config import ensure_role, ensure_role_mapping
from lambda_src.provisioning.settings import ProvisioningSettings

DISCOVERY_ROLE = "spot_insights_account_discovery"
DISCOVERY_FIELDS = ("account", "region", "event_time")


def discovery_role_body(settings: ProvisioningSettings) -> dict[str, Any]:
    return {
        "description": f"Spot Insights exposure sampler: which accounts and regions sent "
        f"events ({settings.index_pattern}, fields {', '.join(DISCOVERY_FIELDS)} only)",
        "index_permissions": [
            {
                "index_patterns": [settings.index_pattern],
                "allowed_actions": ["indices:data/read/search"],
                "fls": list(DISCOVERY_FIELDS),
            }
        ],
    }


def ensure_discovery_role(http: HttpClient, settings: ProvisioningSettings) -> str:
    """The role and its mapping (replaced on every run, as the other mappings are)."""
    ensure_role(http, DISCOVERY_ROLE, discovery_role_body(settings))
    ensure_role_mapping(http, DISCOVERY_ROLE, backend_roles=settings.exposure_writer_backend_roles)
    return DISCOVERY_ROLE
