"""The sampler's index families, provisioned like the events family: `<prefix>.exposure-*`
(fleet exposure per tick) and `<prefix>.market-*` (Spot prices, the advisor's buckets and the
daily runs' records). Each is the events family's settings with its own prefix, so template,
ISM policy (same rollover and retention: a rate over a window needs every family to cover it)
and write alias are the same code; only the mapping and the writer role differ.

The sampler function writes both families, so both writer roles map the exposure writers'
backend roles: one role ARN, two roles, each allowed to index into one family only. Readers
get them through `spot_insights_reader` (security_config.reader_role_body)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from lambda_src.contract import exposure_prefix, market_prefix
from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.index_setup import ensure_index_template, ensure_write_alias
from lambda_src.provisioning.ism import ensure_ism_policy
from lambda_src.provisioning.security_config import ensure_role, ensure_role_mapping
from lambda_src.provisioning.settings import ProvisioningSettings

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"


@dataclasses.dataclass(frozen=True)
class SamplerFamily:
    name: str  # the summary keys' stem: `<name>IndexTemplate`, ...
    prefix: Callable[[str], str]
    mapping_file: Path
    writer_role: str
    writer_description: str

    def settings(self, settings: ProvisioningSettings) -> ProvisioningSettings:
        """The events family's settings with this family's prefix and writers."""
        return dataclasses.replace(
            settings,
            index_prefix=self.prefix(settings.index_prefix),
            writer_backend_roles=settings.exposure_writer_backend_roles,
        )

    def writer_role_body(self, settings: ProvisioningSettings) -> dict[str, Any]:
        """Index and bulk into this family only: the sampler neither reads nor updates."""
        pattern = self.settings(settings).index_pattern
        return {
            "description": f"{self.writer_description}: index documents {pattern}",
            "cluster_permissions": ["indices:data/write/bulk"],
            "index_permissions": [
                {
                    "index_patterns": [pattern],
                    "allowed_actions": ["indices:data/write/index", "indices:data/write/bulk*"],
                }
            ],
        }


EXPOSURE = SamplerFamily(
    "Exposure",
    exposure_prefix,
    DASHBOARDS / "exposure-mapping.json",
    "spot_insights_exposure_writer",
    "Spot Insights exposure sampler",
)
MARKET = SamplerFamily(
    "Market",
    market_prefix,
    DASHBOARDS / "market-mapping.json",
    "spot_insights_market_writer",
    "Spot Insights sampler's market run",
)


@cache
def _mapping(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def ensure_sampler_family(
    http: HttpClient, settings: ProvisioningSettings, family: SamplerFamily, *, with_ism: bool
) -> dict[str, str]:
    """Template, ISM policy, write alias and writer role; each step idempotent."""
    indices = family.settings(settings)
    mapping = _mapping(family.mapping_file)
    summary = {
        f"{family.name}IndexTemplate": ensure_index_template(
            http, indices, with_ism=with_ism, mapping=mapping
        ),
        f"{family.name}IsmPolicy": ensure_ism_policy(http, indices) if with_ism else "skipped",
        f"{family.name}WriteAlias": indices.write_alias,
        f"{family.name}WriteAliasState": ensure_write_alias(http, indices, mapping),
    }
    ensure_role(http, family.writer_role, family.writer_role_body(settings))
    ensure_role_mapping(
        http, family.writer_role, backend_roles=settings.exposure_writer_backend_roles
    )
    return summary
