"""Synthesize the app's stack the way app.py does, for assertion, nag, lint and snapshot tests."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk

from spot_insights.deployment import build_stack
from spot_insights.stack import SpotInsightsStack
from tests.support.cdk_app import synth_app

ACCOUNT = "123456789012"
REGION = "us-east-1"
CERT = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
# What the CDK CLI caches in cdk.context.json after looking the region's AZs up.
AZ_CONTEXT = {
    f"availability-zones:account={ACCOUNT}:region={REGION}": [f"{REGION}{z}" for z in "abc"]
}
# The configurations every check runs on: the default, and the fullest one.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "production-alb": {
        "profile": "production",
        "certificateArn": CERT,
        "allowedCidrs": ["203.0.113.0/24", "2001:db8::/48"],
        "alarmEmail": "oncall@example.com",
        "retentionDays": 90,
    },
}


def synth_stack(
    settings_context: dict[str, Any],
    *aspects: cdk.IAspect,
    account: str | None = None,
    region: str | None = None,
) -> SpotInsightsStack:
    """As app.py builds it. `production` needs an account and region: the test ones by default
    (with their AZs as the CLI's lookup would cache them); the default profile stays agnostic."""
    if settings_context.get("profile") == "production" and account is None and region is None:
        account, region = ACCOUNT, REGION
    app = synth_app(**AZ_CONTEXT, **settings_context)
    stack = build_stack(app, account, region)
    for aspect in aspects:
        cdk.Aspects.of(app).add(aspect)
    return stack
