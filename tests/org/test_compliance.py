"""cdk-nag (AwsSolutions) and cfn-lint, no unsuppressed findings, for the hub with its bus and
for both forms of the spoke: the plain stack, the StackSet stack and the template it deploys."""

from __future__ import annotations

import json

import pytest
from aws_cdk import assertions
from cdk_nag import AwsSolutionsChecks

from spot_insights.deployment import STACK_ID
from spot_insights.spoke_stack import SPOKE_STACK_ID, STACK_SET_STACK_ID
from tests.org.synth import ORG_CONTEXT, of_type, synth_org
from tests.stack.test_compliance import nag_findings
from tests.support.cfn_lint import lint_findings

STACKS = (STACK_ID, SPOKE_STACK_ID, STACK_SET_STACK_ID)


@pytest.fixture(scope="module")
def nagged() -> dict:
    return synth_org(ORG_CONTEXT, AwsSolutionsChecks(verbose=True))


@pytest.mark.parametrize("stack_id", STACKS)
def test_cdk_nag_has_no_unsuppressed_findings(nagged: dict, stack_id: str) -> None:
    assert nag_findings(nagged[stack_id]) == []


@pytest.mark.parametrize("stack_id", STACKS)
def test_cfn_lint_is_clean(nagged: dict, stack_id: str) -> None:
    assert lint_findings(assertions.Template.from_stack(nagged[stack_id]).to_json()) == []


def test_cfn_lint_is_clean_on_the_template_the_stack_set_deploys(nagged: dict) -> None:
    outer = assertions.Template.from_stack(nagged[STACK_SET_STACK_ID]).to_json()
    (stack_set,) = of_type(outer, "AWS::CloudFormation::StackSet").values()
    assert lint_findings(json.loads(stack_set["Properties"]["TemplateBody"])) == []
