"""The one way the app is built from CDK context: used by app.py and by the tests alike."""

from __future__ import annotations

import aws_cdk as cdk

from spot_insights.settings import deployment_environment, parse_settings
from spot_insights.stack import SpotInsightsStack

STACK_ID = "SpotInsights"


def build_stack(app: cdk.App, account: str | None, region: str | None) -> SpotInsightsStack:
    """Validate the app's context and add the stack; raises SettingsError (one line) on bad input.

    `account` / `region` are what the CDK CLI puts in CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION.
    """
    settings = parse_settings(app.node.get_all_context())
    env = deployment_environment(settings, account, region)
    return SpotInsightsStack(
        app, STACK_ID, settings=settings, env=env, description="Spot Interruption Insights"
    )
