"""Lets Application Load Balancer access logs into a bucket in a stack without a region.

CDK's `log_access_logs` needs the region at synth time, because ELB delivers logs as a
per-region AWS account in regions older than August 2022 and as a service principal in newer
ones. Here the choice moves to deploy time: a mapping from CDK's own region facts gives the
region's ELB account (or "none"), and a condition picks it.
"""

import aws_cdk as cdk
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import region_info
from constructs import Construct

_NONE = "none"


def log_access_logs_any_region(
    scope: Construct, load_balancer: elbv2.ApplicationLoadBalancer, bucket: s3.IBucket, prefix: str
) -> None:
    """Turn on `load_balancer`'s access logs into `bucket` under `prefix`, in any region."""
    stack = cdk.Stack.of(scope)
    accounts = {
        region.name: {"account": region.elbv2_account or _NONE}
        for region in region_info.RegionInfo.regions
    }
    mapping = cdk.CfnMapping(scope, "ElbLogDeliveryAccounts", mapping=accounts)
    legacy = cdk.CfnCondition(
        scope,
        "ElbLogDeliveryByAccount",
        expression=cdk.Fn.condition_not(
            cdk.Fn.condition_equals(mapping.find_in_map(stack.region, "account"), _NONE)
        ),
    )
    # In newer regions the statement names this account instead, which already has access:
    # the grant is then a no-op rather than a malformed policy.
    writer = cdk.Fn.condition_if(
        legacy.logical_id,
        f"arn:{stack.partition}:iam::{mapping.find_in_map(stack.region, 'account')}:root",
        f"arn:{stack.partition}:iam::{stack.account}:root",
    ).to_string()
    objects = bucket.arn_for_objects(f"{prefix}/AWSLogs/{stack.account}/*")
    statements = [
        iam.PolicyStatement(
            actions=["s3:PutObject"], principals=[iam.ArnPrincipal(writer)], resources=[objects]
        ),
        iam.PolicyStatement(
            actions=["s3:PutObject"],
            principals=[iam.ServicePrincipal("logdelivery.elasticloadbalancing.amazonaws.com")],
            resources=[objects],
        ),
    ]
    for statement in statements:
        if not bucket.add_to_resource_policy(statement).statement_added:
            raise ValueError(
                "the access-log bucket is imported, so its policy cannot be extended: grant ELB "
                "log delivery on it yourself, or give the stack a region"
            )
    load_balancer.set_attribute("access_logs.s3.enabled", "true")
    load_balancer.set_attribute("access_logs.s3.bucket", bucket.bucket_name)
    load_balancer.set_attribute("access_logs.s3.prefix", prefix)
    # ELB checks that it can write when the attribute is set, so the policy must exist first.
    if bucket.policy is not None:
        load_balancer.node.add_dependency(bucket.policy)
