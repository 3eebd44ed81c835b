"""The burst ledger family (`<prefix>.bursts-YYYY.MM`, lambda_src/ingest/bursts.py), provisioned
like the other families: an index template with an explicit, strict mapping (a document of
another shape is refused, not mapped by guess), and an ISM policy that deletes a month's index
once every burst in it is older than the retention.

No rollover and no write alias: the ingest function names the month's index itself from the
burst's window start, so a burst always lands in the same index and `op_type=create` keeps
deciding which invocation fires it. The index is created on the first burst of a month (the
writer role may create exactly this pattern); the template and the policy's `ism_template`
apply to it then. Its age counts from that first burst, so deleting at retention + 31 days
keeps every burst of the month at least the retention."""

from __future__ import annotations

import dataclasses
from typing import Any

from lambda_src.contract import burst_index
from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.index_setup import ensure_index_template
from lambda_src.provisioning.ism import ISM_TEMPLATE_PRIORITY, described, ensure_ism_policy
from lambda_src.provisioning.settings import ProvisioningSettings

# The longest month: an index created on its first day holds bursts up to 31 days younger.
MONTH_DAYS = 31
_DATE = {"type": "date", "format": "strict_date_optional_time"}
BURST_LEDGER_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "burst_id": {"type": "keyword"},
        "dimension": {"type": "keyword"},
        "value": {"type": "keyword"},
        "count": {"type": "integer"},
        "threshold": {"type": "integer"},
        "window_minutes": {"type": "integer"},
        "window_start": _DATE,
        "window_end": _DATE,
        "detected_at": _DATE,
    },
}


def burst_ledger_settings(settings: ProvisioningSettings) -> ProvisioningSettings:
    """The events family's settings with the ledger's prefix (pattern, template, policy id)."""
    return dataclasses.replace(settings, index_prefix=burst_index(settings.index_prefix))


def burst_ledger_policy_body(settings: ProvisioningSettings) -> dict[str, Any]:
    family = burst_ledger_settings(settings)
    keep = settings.retention_days + MONTH_DAYS
    policy = {
        "default_state": "kept",
        "states": [
            {
                "name": "kept",
                "actions": [],
                "transitions": [
                    {"state_name": "delete", "conditions": {"min_index_age": f"{keep}d"}}
                ],
            },
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
        ],
        "ism_template": [
            {"index_patterns": [family.index_pattern], "priority": ISM_TEMPLATE_PRIORITY}
        ],
    }
    return described(
        policy, f"Spot Insights burst ledger {family.index_pattern}: delete at {keep}d of age"
    )


def ensure_burst_ledger(
    http: HttpClient, settings: ProvisioningSettings, *, with_ism: bool
) -> dict[str, str]:
    """Template (strict mapping) and retention policy; each step idempotent."""
    family = burst_ledger_settings(settings)
    return {
        # No rollover alias: the ledger never rolls over (with_ism only adds that setting).
        "BurstLedgerTemplate": ensure_index_template(
            http, family, with_ism=False, mapping=BURST_LEDGER_MAPPING
        ),
        "BurstLedgerPolicy": (
            ensure_ism_policy(http, family, burst_ledger_policy_body(settings))
            if with_ism
            else "skipped"
        ),
    }
