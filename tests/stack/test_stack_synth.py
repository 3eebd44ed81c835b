"""The app synthesizes without an AWS account, and its shared pieces are secure by default."""

import aws_cdk as cdk
from aws_cdk.assertions import Match, Template

from spot_insights.stack import SpotInsightsStack


def test_stack_synthesizes_environment_agnostic() -> None:
    app = cdk.App()
    stack = SpotInsightsStack(app, "Test")
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    assert cdk.Token.is_unresolved(stack.account)
