#!/usr/bin/env python3
"""CDK entry point: one SpotInsightsStack, environment-agnostic so `cdk synth` needs no account."""

import aws_cdk as cdk

from spot_insights.stack import SpotInsightsStack

app = cdk.App()
SpotInsightsStack(app, "SpotInsights", description="Spot Interruption Insights")
app.synth()
