"""Synthesize the app's stack the way app.py does, for assertion, nag, lint and snapshot tests."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk

from spot_insights.settings import parse_settings
from spot_insights.stack import SpotInsightsStack
from tests.support.cdk_app import synth_app

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
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


def synth_stack(settings_context: dict[str, Any], *aspects: cdk.IAspect) -> SpotInsightsStack:
    # Version reporting off: the CDK version in metadata would make snapshots machine-dependent.
    app = synth_app(**{"aws:cdk:version-reporting": False})
    stack = SpotInsightsStack(app, "SpotInsights", settings=parse_settings(settings_context))
    for aspect in aspects:
        cdk.Aspects.of(app).add(aspect)
    return stack
