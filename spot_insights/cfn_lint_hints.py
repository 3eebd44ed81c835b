"""Tells cfn-lint about one pattern CDK emits on purpose, so the template lints clean anywhere.

Every `lambda.Function` carries `DependsOn` on its own service role (and default policy) although
`Role` already references the role with `Fn::GetAtt`. cfn-lint reports the role edge as W3005
(redundant dependency). It is harmless, and CDK adds it at construct level, where it cannot be
removed, so the functions say so in cfn-lint's resource metadata instead.
"""

from __future__ import annotations

import jsii
from aws_cdk import IAspect
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

_IGNORED = ["W3005"]


@jsii.implements(IAspect)
class LambdaRoleDependencyHint:
    """Aspect: mark each Lambda function's CDK-made role dependency as known to cfn-lint."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, lambda_.CfnFunction):
            node.add_metadata("cfn-lint", {"config": {"ignore_checks": _IGNORED}})
