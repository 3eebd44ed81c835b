"""The one way the app is built from CDK context: used by app.py and by the tests alike."""

from __future__ import annotations

import aws_cdk as cdk

from spot_insights.settings import Settings, deployment_environment, parse_settings
from spot_insights.spoke_stack import (
    SPOKE_STACK_ID,
    STACK_SET_STACK_ID,
    SpokeStack,
    SpokeStackSetStack,
    spoke_template,
)
from spot_insights.stack import SpotInsightsStack

STACK_ID = "SpotInsights"


def build_stack(app: cdk.App, account: str | None, region: str | None) -> SpotInsightsStack:
    """Validate the app's context and add the stack; raises SettingsError (one line) on bad input.

    `account` / `region` are what the CDK CLI puts in CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION.
    """
    settings = parse_settings(app.node.get_all_context())
    env = deployment_environment(settings, account, region)
    hub = SpotInsightsStack(
        app, STACK_ID, settings=settings, env=env, description="Spot Interruption Insights"
    )
    build_spokes(app, settings)
    return hub


def build_spokes(app: cdk.App, settings: Settings) -> None:
    """With `hubAccount`/`hubRegion`: the spoke as a plain stack; with the spoke OUs and
    regions too: the spoke StackSet. Both environment-agnostic (deployed by name)."""
    if not (settings.hub_account and settings.hub_region):
        return
    spoke = {
        "hub_account": settings.hub_account,
        "hub_region": settings.hub_region,
        # IAM is global: one region per account holds the enrichment role.
        "enrichment_role_region": (settings.spoke_regions or (settings.hub_region,))[0],
        # The spokes' dead-letter alarms notify the hub's alarm address (a stack parameter).
        "alarm_email": settings.alarm_email,
    }
    SpokeStack(app, SPOKE_STACK_ID, description="Spot Interruption Insights spoke", **spoke)
    if settings.spoke_organizational_units:
        SpokeStackSetStack(
            app,
            STACK_SET_STACK_ID,
            description="Spot Interruption Insights spokes (service-managed StackSet)",
            template=spoke_template(app.node.get_all_context(), **spoke),
            organizational_units=settings.spoke_organizational_units,
            regions=settings.spoke_regions,
            call_as=settings.stack_set_call_as,
        )
