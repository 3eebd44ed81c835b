"""The hub-and-spokes configuration, synthesized as app.py builds it (tests/stack/synth.py),
and the template helpers the org tests share."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import assertions

from spot_insights.stack import SpotInsightsStack
from tests.stack.synth import synth_stack

HUB_ACCOUNT = "123456789012"
HUB_REGION = "us-east-1"
ORGANIZATION = "o-a1b2c3d4e5"
LISTED = ["111122223333", "444455556666"]
UNITS = ["ou-ab12-cd34ef56", "r-ab12"]
# The StackSet's first region holds each account's enrichment role.
SPOKE_REGIONS = ["eu-west-1", "us-east-1"]
ORG_CONTEXT: dict[str, Any] = {
    "organizationId": ORGANIZATION,
    "sourceAccounts": LISTED,
    "hubAccount": HUB_ACCOUNT,
    "hubRegion": HUB_REGION,
    "spokeOrganizationalUnits": UNITS,
    "spokeRegions": SPOKE_REGIONS,
}


def synth_org(context: dict[str, Any], *aspects: cdk.IAspect) -> dict[str, cdk.Stack]:
    """Every stack the app builds with `context`, by id."""
    hub: SpotInsightsStack = synth_stack(context, *aspects)
    app = hub.node.root
    return {child.node.id: child for child in app.node.children if isinstance(child, cdk.Stack)}


def template(stack: cdk.Stack) -> dict[str, Any]:
    return assertions.Template.from_stack(stack).to_json()


def of_type(tmpl: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in tmpl["Resources"].items() if r["Type"] == kind}
