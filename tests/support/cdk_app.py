"""CDK apps for synth tests: bundling skipped (the asset hash comes from the sources anyway)."""

import aws_cdk as cdk


def synth_app(**context: object) -> cdk.App:
    return cdk.App(context={"aws:cdk:bundling-stacks": [], **context})
