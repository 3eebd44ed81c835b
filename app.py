#!/usr/bin/env python3
"""CDK entry point: settings from context, validated before anything is built, then one stack."""

import os
import sys

# jsii prints a large banner on Node 20 unless told not to; set before aws_cdk starts it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import aws_cdk as cdk

from spot_insights.deployment import build_stack
from spot_insights.settings import SettingsError

app = cdk.App()
try:
    build_stack(app, os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION"))
except SettingsError as error:
    sys.exit(f"spot-insights: {error}")
app.synth()
