"""CDK apps for synth tests, with cdk.json's context (its feature flags) as `cdk synth` passes it.

Bundling is skipped (the asset hash comes from the sources anyway) and version reporting is off
as `make synth` has it (`--no-version-reporting`), so templates do not depend on the machine.
"""

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]


def synth_app(**context: object) -> cdk.App:
    return cdk.App(
        context={
            **CDK_JSON_CONTEXT,
            "aws:cdk:bundling-stacks": [],
            "aws:cdk:version-reporting": False,
            **context,
        }
    )


def iam_statements(template: Template, action: str) -> list[dict[str, Any]]:
    """Every IAM policy statement in `template` whose actions mention `action` (e.g. "es:")."""
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if action in json.dumps(statement["Action"])
    ]
