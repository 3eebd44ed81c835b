"""A stack update that adds an event type (issue 13: evictions) rolls out in a safe order, on
the template app.py synthesizes.

CloudFormation updates resources in dependency order and unrelated ones in parallel. The new
ingest code writes fields the index mapping gains in the same deploy (`eviction_confirmed` on
every warning, `warned` on evictions); the mapping is dynamic: strict, so until the
provisioning custom resource has put the new mapping on the existing indices, those documents
would be refused (400) and parked in the DLQ. And a new rule routes its events as soon as it
exists: before the new code is deployed, the old code would park each one as an unsupported
detail-type. So: custom resource -> function -> rules."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from lambda_src.contract import CLOUDTRAIL_DETAIL_TYPE
from tests.stack.synth import VARIANTS, synth_stack

HANDLER = "lambda_src.ingest.handler.handler"


@pytest.fixture(scope="module")
def resources() -> dict[str, dict[str, Any]]:
    return Template.from_stack(synth_stack(VARIANTS["default"])).to_json()["Resources"]


def _ingest_function(resources: dict[str, dict[str, Any]]) -> str:
    (logical_id,) = [
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == HANDLER
    ]
    return logical_id


def test_the_ingest_code_is_deployed_after_the_mapping_reaches_existing_indices(
    resources: dict[str, dict[str, Any]],
) -> None:
    (setup,) = [k for k, r in resources.items() if r["Type"] == "Custom::SpotInsightsSearchSetup"]
    function = resources[_ingest_function(resources)]
    assert setup in function.get("DependsOn", [])


def test_every_default_bus_rule_waits_for_the_code_that_parses_its_events(
    resources: dict[str, dict[str, Any]],
) -> None:
    function = _ingest_function(resources)
    rules = {k: r for k, r in resources.items() if r["Type"] == "AWS::Events::Rule"}
    assert any(
        r["Properties"]["EventPattern"]["detail-type"] == [CLOUDTRAIL_DETAIL_TYPE]
        for r in rules.values()
    )
    for logical_id, rule in rules.items():
        assert function in rule.get("DependsOn", []), logical_id
