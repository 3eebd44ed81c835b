"""A hub function that reads spoke accounts through their read-only enrichment role.

Two hub functions do: the ingest function (enrichment) and the exposure sampler (counting).
Each gets a fixed, region-qualified role name, because every spoke's trust policy names it in an
`aws:PrincipalArn` condition and must be able to do so before the hub exists
(`SpokeForwarder`). What a fixed name means at deploy time, and what this module does about it:

- A role's ARN carries its path (`role/<path>/<name>`), and `aws:PrincipalArn` is matched
  against that ARN: the role keeps the default path `/`, or no spoke would admit it.
- CloudFormation replaces a resource by creating the new one before deleting the old. With a
  fixed name the create fails ("already exists") and the update rolls back, leaving the old
  role in place: safe, but the stack cannot move on. So nothing that replaces the role may
  change: its logical id (construct path) and its name stay as they are, which the stack tests
  pin (tests/org/test_spoke_sampler_trust.py).
- Deleting the stack and deploying it again creates a role with a new unique id; the spokes'
  condition on the ARN still admits it (a role principal would not: IAM stores its unique id).
- One hub per account and region: a second would collide on the name.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagPackSuppression, NagSuppressions

from lambda_src.contract import SPOKE_ROLE_NAME, IngestEnv

# IAM's limit for a role name.
MAX_ROLE_NAME = 64


def assume_spoke_roles(
    function: lambda_.Function,
    *,
    role_name: str,
    organization_id: str | None = None,
    source_accounts: Sequence[str] = (),
    spoke_role_name: str = SPOKE_ROLE_NAME,
) -> iam.Role:
    """Name `function`'s role `role_name` and let it assume `spoke_role_name` in the
    organisation's accounts (`aws:ResourceOrgID`) and/or the listed ones, nothing else.
    Sets the function's spoke variables (`SPOKE_ROLE_NAME`, `HOME_ACCOUNT`)."""
    if not organization_id and not source_accounts:
        raise ValueError("spoke access needs organization_id or source_accounts (or both)")
    if not cdk.Token.is_unresolved(role_name) and len(role_name) > MAX_ROLE_NAME:
        raise ValueError(f"role name {role_name!r} is longer than {MAX_ROLE_NAME} characters")
    stack = cdk.Stack.of(function)
    role = function.role
    if not isinstance(role, iam.Role):
        raise ValueError("the function's role must be one this app creates")
    resource: iam.CfnRole = role.node.default_child  # type: ignore[assignment]
    if resource.path not in (None, "/"):
        raise ValueError("a spoke-trusted role keeps the path / (aws:PrincipalArn includes it)")
    resource.role_name = role_name
    if organization_id:
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeSpokeRolesInTheOrganization",
                actions=["sts:AssumeRole"],
                resources=[
                    stack.format_arn(
                        service="iam",
                        region="",
                        account="*",
                        resource="role",
                        resource_name=spoke_role_name,
                    )
                ],
                conditions={"StringEquals": {"aws:ResourceOrgID": organization_id}},
            )
        )
    if source_accounts:
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeSpokeRolesInListedAccounts",
                actions=["sts:AssumeRole"],
                resources=[
                    stack.format_arn(
                        service="iam",
                        region="",
                        account=account,
                        resource="role",
                        resource_name=spoke_role_name,
                    )
                    for account in dict.fromkeys(source_accounts)
                ],
            )
        )
    function.add_environment(IngestEnv.SPOKE_ROLE_NAME, spoke_role_name)
    function.add_environment(IngestEnv.HOME_ACCOUNT, stack.account)
    NagSuppressions.add_resource_suppressions(
        role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="The spoke enrichment role has one name in every account of the "
                "organisation; aws:ResourceOrgID limits the account wildcard to it.",
                applies_to=[f"Resource::arn:<AWS::Partition>:iam::*:role/{spoke_role_name}"],
            )
        ],
        apply_to_children=True,
    )
    return role
