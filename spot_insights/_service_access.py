"""How AWS services reach this library's keys and topics: always scoped to this account's
resources (`aws:SourceAccount` plus `aws:SourceArn`, or the KMS encryption context), never a bare
service principal. Shared by the three constructs and the stack."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

# Kept on stack update and delete, deleted when a failed first deploy rolls back: CloudFormation
# keeps `Retain` resources even then, and a left-over domain blocks the retry and the VPC.
RETAIN_UNLESS_CREATE_FAILS = cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
KEY_USE = ["kms:Decrypt", "kms:GenerateDataKey*"]


def source_conditions(scope: Construct, service: str, resource: str) -> dict[str, dict[str, str]]:
    """Requests a service makes on behalf of this account's `resource` (an ARN pattern)."""
    stack = cdk.Stack.of(scope)
    return {
        "StringEquals": {"aws:SourceAccount": stack.account},
        "ArnLike": {
            "aws:SourceArn": stack.format_arn(
                service=service,
                resource=resource,
                resource_name="*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
                if service == "cloudwatch"
                else cdk.ArnFormat.SLASH_RESOURCE_NAME,
            )
        },
    }


def alarm_conditions(scope: Construct) -> dict[str, dict[str, str]]:
    """CloudWatch acting for one of this account's alarms in this region."""
    return source_conditions(scope, "cloudwatch", "alarm")


def encrypted_alarm_topic(
    scope: Construct, construct_id: str, *, key: kms.IKey, display_name: str
) -> sns.Topic:
    """A TLS-only topic under `key` that this account's CloudWatch alarms may publish to.

    `enforce_ssl` gives the topic a resource policy, which replaces SNS's default one: without
    an explicit Allow for cloudwatch.amazonaws.com every alarm action fails as unauthorised.
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisAccount",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=KEY_USE,
            resources=["*"],
            conditions=alarm_conditions(scope),
        )
    )
    topic = sns.Topic(
        scope, construct_id, display_name=display_name, master_key=key, enforce_ssl=True
    )
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisAccount",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=alarm_conditions(scope),
        )
    )
    return topic


def allow_log_encryption(key: kms.IKey) -> None:
    """Let CloudWatch Logs use `key` for this account's log groups in this region only.

    The encryption-context condition is the one AWS documents for log group keys; the log
    group ARNs cannot be listed (each group names the key, so that would be a cycle).
    """
    stack = cdk.Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsOfThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )


def kept_log_group(
    scope: Construct, construct_id: str, *, key: kms.IKey, retention: logs.RetentionDays
) -> logs.LogGroup:
    """A log group under `key`, kept (like the domain) unless a first deploy fails."""
    return logs.LogGroup(
        scope,
        construct_id,
        retention=retention,
        encryption_key=key,
        removal_policy=RETAIN_UNLESS_CREATE_FAILS,
    )
