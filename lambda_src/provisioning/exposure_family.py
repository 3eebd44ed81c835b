"""The fleet exposure index family (`<prefix>.exposure-*`), provisioned like the events family:
its own template and mapping, ISM policy (same rollover and retention: a rate over a window
needs both families to cover it), write alias, and a writer role that may only index there.

The family is the events family's settings with the exposure prefix, so the template, ISM and
alias code is the same code; only the mapping and the writer role differ. Readers get it through
`spot_insights_reader` (security_config.reader_role_body)."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

from lambda_src.contract import exposure_prefix
from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.index_setup import ensure_index_template, ensure_write_alias
from lambda_src.provisioning.ism import ensure_ism_policy
from lambda_src.provisioning.security_config import ensure_role, ensure_role_mapping
from lambda_src.provisioning.settings import ProvisioningSettings

EXPOSURE_MAPPING_FILE = Path(__file__).resolve().parents[2] / "dashboards" / "exposure-mapping.json"
EXPOSURE_WRITER_ROLE = "spot_insights_exposure_writer"


@cache
def load_exposure_mapping() -> dict[str, Any]:
    return json.loads(EXPOSURE_MAPPING_FILE.read_text())


def exposure_settings(settings: ProvisioningSettings) -> ProvisioningSettings:
    """The events family's settings with the exposure prefix and writers."""
    return dataclasses.replace(
        settings,
        index_prefix=exposure_prefix(settings.index_prefix),
        writer_backend_roles=settings.exposure_writer_backend_roles,
    )


def exposure_writer_role_body(settings: ProvisioningSettings) -> dict[str, Any]:
    """Index and bulk into the exposure family only: the sampler neither reads nor updates."""
    pattern = exposure_settings(settings).index_pattern
    return {
        "description": f"Spot Insights exposure sampler: index documents {pattern}",
        "cluster_permissions": ["indices:data/write/bulk"],
        "index_permissions": [
            {
                "index_patterns": [pattern],
                "allowed_actions": ["indices:data/write/index", "indices:data/write/bulk*"],
            }
        ],
    }


def ensure_exposure_family(
    http: HttpClient, settings: ProvisioningSettings, *, with_ism: bool
) -> dict[str, str]:
    """Template, ISM policy, write alias and writer role; each step idempotent."""
    family = exposure_settings(settings)
    mapping = load_exposure_mapping()
    summary = {
        "ExposureIndexTemplate": ensure_index_template(
            http, family, with_ism=with_ism, mapping=mapping
        ),
        "ExposureIsmPolicy": ensure_ism_policy(http, family) if with_ism else "skipped",
        "ExposureWriteAlias": family.write_alias,
        "ExposureWriteAliasState": ensure_write_alias(http, family, mapping),
    }
    ensure_role(http, EXPOSURE_WRITER_ROLE, exposure_writer_role_body(settings))
    ensure_role_mapping(
        http, EXPOSURE_WRITER_ROLE, backend_roles=settings.exposure_writer_backend_roles
    )
    return summary
