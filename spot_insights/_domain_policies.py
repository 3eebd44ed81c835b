"""What SearchDomain's OpenSearch domain needs around it: a name known before creation, the
service-linked role, the CloudWatch Logs resource policy and the domain access policy."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch
from aws_cdk import custom_resources as cr
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

# A VPC domain needs this service-linked role; CreateServiceLinkedRole fails with error code
# `InvalidInput` ("Service role name ... has been taken in this account") when it exists. The
# AwsCustomResource handler (AWS SDK for JavaScript v3) sees that code as the exception name
# `InvalidInputException`; both spellings are accepted, nothing else.
OPENSEARCH_SERVICE = "opensearchservice.amazonaws.com"
SERVICE_LINKED_ROLE = "AWSServiceRoleForAmazonOpenSearchService"
ROLE_EXISTS_ERROR = "^InvalidInput(Exception)?$"


def domain_name(scope: Construct) -> str:
    """`spot-<construct hash>-<stack id part>`: 20 chars, lowercase, known before creation (the
    access policy names it) and stable across updates, yet new for every new stack. A fixed name
    would collide with a domain kept by an earlier `cdk destroy` of the same stack name: the
    stack id's UUID differs per stack, account and region. Its first group is 8 hex digits."""
    unique = hashlib.sha256(cdk.Names.unique_id(scope).encode()).hexdigest()[:6]
    return cdk.Fn.join("", [f"spot-{unique}-", _stack_uuid_head(scope)])


def _stack_uuid_head(scope: Construct) -> str:
    """The first group (8 hex digits) of the UUID in `arn:...:stack/<name>/<uuid>`, new per
    stack, account and region; resolved by CloudFormation at deploy time."""
    stack_uuid = cdk.Fn.select(2, cdk.Fn.split("/", cdk.Stack.of(scope).stack_id))
    return cdk.Fn.select(0, cdk.Fn.split("-", stack_uuid))


def service_linked_role(scope: Construct, log_group: logs.ILogGroup) -> Construct:
    """AWSServiceRoleForAmazonOpenSearchService, which a VPC domain cannot be created without.

    Created on the stack's first deploy unless it already exists (the InvalidInput error is
    then ignored); never updated or deleted: other domains in the account depend on it.
    """
    stack = cdk.Stack.of(scope)
    role_arn = stack.format_arn(
        service="iam",
        region="",
        resource="role",
        resource_name=f"aws-service-role/{OPENSEARCH_SERVICE}/{SERVICE_LINKED_ROLE}",
    )
    role = cr.AwsCustomResource(
        scope,
        "ServiceLinkedRole",
        resource_type="Custom::OpenSearchServiceLinkedRole",
        on_create=cr.AwsSdkCall(
            service="IAM",
            action="createServiceLinkedRole",
            parameters={"AWSServiceName": OPENSEARCH_SERVICE},
            physical_resource_id=cr.PhysicalResourceId.of(SERVICE_LINKED_ROLE),
            ignore_error_codes_matching=ROLE_EXISTS_ERROR,
        ),
        policy=cr.AwsCustomResourcePolicy.from_statements(
            [
                iam.PolicyStatement(
                    actions=["iam:CreateServiceLinkedRole"],
                    resources=[role_arn],
                    conditions={"StringLike": {"iam:AWSServiceName": OPENSEARCH_SERVICE}},
                )
            ]
        ),
        install_latest_aws_sdk=False,
        log_group=log_group,
    )
    # The role of aws-cdk-lib's one singleton handler per stack (what grant_principal is).
    NagSuppressions.add_resource_suppressions(
        role.grant_principal,  # type: ignore[arg-type]
        [
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                reason="aws-cdk-lib's AwsCustomResource handler logs with Lambda's minimal "
                "AWSLambdaBasicExecutionRole; its one call is scoped in its own policy.",
                applies_to=[
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole"
                ],
            )
        ],
        apply_to_children=True,
    )
    return role


def allow_log_delivery(
    scope: Construct, domain: opensearch.Domain, log_groups: Iterable[logs.ILogGroup]
) -> None:
    """The service writes logs only with a CloudWatch Logs resource policy naming it."""
    stack = cdk.Stack.of(scope)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "es.amazonaws.com"},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"{g.log_group_arn}" for g in log_groups],
                "Condition": {"StringEquals": {"aws:SourceAccount": stack.account}},
            }
        ],
    }
    resource_policy = logs.CfnResourcePolicy(
        scope,
        "LogDeliveryPolicy",
        # Resource policies are per account and region: unique per stack, like the domain.
        policy_name=cdk.Fn.join(
            "-", [cdk.Names.unique_id(scope)[-200:], _stack_uuid_head(scope), "opensearch-logs"]
        ),
        policy_document=stack.to_json_string(policy),
    )
    domain.node.add_dependency(resource_policy)


def restrict_access(scope: Construct, domain: opensearch.Domain) -> None:
    """Resource policy: HTTP data-plane actions on this domain only, never es:*.

    Basic-auth requests (the provisioner, read-only users, the Dashboards proxy) are not
    SigV4-signed, so a policy naming IAM principals would reject them before fine-grained
    access control could authenticate them (AWS recommends a policy that does not require
    signed requests with FGAC). So the Allow admits any caller that reaches the VPC
    endpoint through the security group, FGAC authenticates every request (anonymous
    access stays off), and the Deny keeps signed callers to this account's principals."""
    stack = cdk.Stack.of(scope)
    domain_resource = stack.format_arn(
        service="es",
        resource="domain",
        resource_name=f"{domain_name(scope)}/*",
    )
    cfn = domain.node.default_child
    assert isinstance(cfn, opensearch.CfnDomain)
    cfn.access_policies = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "HttpThroughFineGrainedAccessControl",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "es:ESHttp*",
                "Resource": domain_resource,
            },
            {
                "Sid": "SignedCallersFromThisAccountOnly",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "es:ESHttp*",
                "Resource": domain_resource,
                # Null=false: the key exists only on signed requests.
                "Condition": {
                    "Null": {"aws:PrincipalAccount": "false"},
                    "StringNotEquals": {"aws:PrincipalAccount": stack.account},
                },
            },
        ],
    }
