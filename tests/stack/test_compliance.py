"""The synthesized CloudFormation passes cdk-nag's AwsSolutions pack and cfn-lint, with no
unsuppressed errors or warnings, in every configuration variant."""

import json

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks

from tests.stack.synth import VARIANTS, synth_stack
from tests.support.cdk_app import synth_app
from tests.support.cfn_lint import lint_findings


def nag_findings(stack: cdk.Stack) -> list[str]:
    """Unsuppressed AwsSolutions errors and warnings (the aspect must already be applied)."""
    annotations = assertions.Annotations.from_stack(stack)
    pattern = assertions.Match.string_like_regexp("AwsSolutions-.*")
    messages = [*annotations.find_error("*", pattern), *annotations.find_warning("*", pattern)]
    return [f"{message.id}: {message.entry.data}" for message in messages]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cdk_nag_aws_solutions_has_no_unsuppressed_findings(variant: str) -> None:
    assert nag_findings(synth_stack(VARIANTS[variant], AwsSolutionsChecks(verbose=True))) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cfn_lint_is_clean(variant: str) -> None:
    template = assertions.Template.from_stack(synth_stack(VARIANTS[variant])).to_json()
    assert lint_findings(template) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_template_carries_no_linter_configuration(variant: str) -> None:
    # cfn-lint's by-design exceptions live in tests/support/cfn_lint.py, not in what ships.
    template = json.dumps(assertions.Template.from_stack(synth_stack(VARIANTS[variant])).to_json())
    assert "cfn-lint" not in template
    assert "cfn_lint" not in template


def test_the_checks_do_report_what_they_should() -> None:
    # A plain queue breaks AwsSolutions-SQS3 (no DLQ) and SQS4 (no TLS enforcement).
    app = synth_app()
    stack = cdk.Stack(app, "Bare")
    sqs.Queue(stack, "Plain")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    # With cdk.json's flags (annotationsInValidationReport) an error annotation fails synth.
    with pytest.raises(RuntimeError, match="ValidationFailed") as failed:
        nag_findings(stack)
    assert "AwsSolutions-SQS3" in str(failed.value)
    assert "AwsSolutions-SQS4" in str(failed.value)
    broken = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Bogus": 1}}}}
    assert any(finding.startswith("E3002") for finding in lint_findings(broken))
