"""The market context index family (`<prefix>.market-*`): Spot prices per pool and day, the
advisor's buckets and the daily runs' records, provisioned like the exposure family (template,
ISM policy with the same retention, write alias) with its own writer role.

The sampler function writes both families, so the market writer role is mapped to the exposure
writers' backend roles: one role ARN, two roles, each allowed to index into one family only.
Readers get it through `spot_insights_reader` (security_config.reader_role_body)."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

from lambda_src.contract import market_prefix
from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.index_setup import ensure_index_template, ensure_write_alias
from lambda_src.provisioning.ism import ensure_ism_policy
from lambda_src.provisioning.security_config import ensure_role, ensure_role_mapping
from lambda_src.provisioning.settings import ProvisioningSettings

MARKET_MAPPING_FILE = Path(__file__).resolve().parents[2] / "dashboards" / "market-mapping.json"
MARKET_WRITER_ROLE = "spot_insights_market_writer"


@cache
def load_market_mapping() -> dict[str, Any]:
    return json.loads(MARKET_MAPPING_FILE.read_text())


def market_settings(settings: ProvisioningSettings) -> ProvisioningSettings:
    return dataclasses.replace(
        settings,
        index_prefix=market_prefix(settings.index_prefix),
        writer_backend_roles=settings.exposure_writer_backend_roles,
    )


def market_writer_role_body(settings: ProvisioningSettings) -> dict[str, Any]:
    """Index and bulk into the market family only."""
    pattern = market_settings(settings).index_pattern
    return {
        "description": f"Spot Insights sampler's market run: index documents {pattern}",
        "cluster_permissions": ["indices:data/write/bulk"],
        "index_permissions": [
            {
                "index_patterns": [pattern],
                "allowed_actions": ["indices:data/write/index", "indices:data/write/bulk*"],
            }
        ],
    }


def ensure_market_family(
    http: HttpClient, settings: ProvisioningSettings, *, with_ism: bool
) -> dict[str, str]:
    """Template, ISM policy, write alias and writer role; each step idempotent."""
    family = market_settings(settings)
    mapping = load_market_mapping()
    summary = {
        "MarketIndexTemplate": ensure_index_template(
            http, family, with_ism=with_ism, mapping=mapping
        ),
        "MarketIsmPolicy": ensure_ism_policy(http, family) if with_ism else "skipped",
        "MarketWriteAlias": family.write_alias,
        "MarketWriteAliasState": ensure_write_alias(http, family, mapping),
    }
    ensure_role(http, MARKET_WRITER_ROLE, market_writer_role_body(settings))
    ensure_role_mapping(
        http, MARKET_WRITER_ROLE, backend_roles=settings.exposure_writer_backend_roles
    )
    return summary
