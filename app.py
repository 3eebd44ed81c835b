#!/usr/bin/env python3
"""CDK entry point: settings from context, validated before anything is built, then one stack."""

import os
import sys

# jsii (under aws_cdk) prints a large banner on Node 20 unless JSII_SILENCE_WARNING_* are set:
# the command that runs this file sets them (cdk.json's "app", the Makefile, tests/conftest.py),
# so this process never changes its own environment.
import aws_cdk as cdk

from spot_insights.deployment import build_stack
from spot_insights.settings import SettingsError

app = cdk.App()
try:
    build_stack(app, os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION"))
except SettingsError as error:
    sys.exit(f"spot-insights: {error}")
app.synth()
