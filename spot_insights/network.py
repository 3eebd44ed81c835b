"""The VPC the stack runs in when the caller does not bring one.

Private subnets reach AWS APIs (EC2, SQS, KMS, Secrets Manager, SSM) through NAT rather than
interface endpoints: the functions and proxy hosts need seven such APIs, and seven interface
endpoints in two AZs cost about three times a NAT gateway at this traffic (see README, "Network").
S3 goes through the free gateway endpoint (Amazon Linux package repositories live in S3).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct


class SpotInsightsNetwork(Construct):
    """A two-AZ VPC with public and private subnets, NAT, an S3 gateway endpoint and flow logs.

    `nat_gateways`: 1 (default) keeps cost down; pass one per AZ so losing an AZ does not cut the
    other AZ's egress (the production profile does). `dual_stack` adds IPv6 (default off).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        max_azs: int = 2,
        nat_gateways: int = 1,
        flow_log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        dual_stack: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=max_azs,
            nat_gateways=nat_gateways,
            # IPv6 only when a caller admits IPv6 networks to the Dashboards load balancer.
            ip_protocol=ec2.IpProtocol.DUAL_STACK if dual_stack else ec2.IpProtocol.IPV4_ONLY,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=flow_log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
