"""The deployable stack: IngestPipeline -> SearchDomain <- DashboardProxy in one VPC."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from spot_insights.cfn_lint_hints import LambdaRoleDependencyHint
from spot_insights.dashboard_proxy import DashboardProxy
from spot_insights.ingest_pipeline import IngestPipeline
from spot_insights.network import SpotInsightsNetwork
from spot_insights.search_domain import SearchDomain
from spot_insights.settings import Settings

# The source `spot-insights simulate` puts on the bus (EventBridge reserves aws.* for AWS).
SIMULATION_SOURCE = "spot-insights.simulate"


class SpotInsightsStack(cdk.Stack):
    """Spot Interruption Insights in one stack, configured by `Settings`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings = settings or Settings()
        self.alarm_topic = self._alarm_topic(settings)
        self.vpc = self._vpc(settings)

        self.search = SearchDomain(
            self,
            "Search",
            vpc=self.vpc,
            profile=settings.profile,
            alarm_topic=self.alarm_topic,
            index_prefix=settings.index_prefix,
            retention_days=settings.retention_days,
            reader_users=settings.reader_users,
        )
        self.ingest = IngestPipeline(
            self,
            "Ingest",
            opensearch_domain=self.search.domain,
            index_prefix=settings.index_prefix,
            alarm_topic=self.alarm_topic,
            vpc=self.vpc,
            test_event_source=SIMULATION_SOURCE if settings.simulation_rule else None,
        )
        self.search.allow_from(self.ingest.function)
        self.search.grant_write(self.ingest.function.role)
        # Messages wait in the queue until the write alias exists, instead of failing into the
        # dead-letter queue during the first deployment.
        self.ingest.event_source_mapping.node.add_dependency(self.search.provisioning)

        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", settings.certificate_arn)
            if settings.certificate_arn
            else None
        )
        self.proxy = DashboardProxy(
            self,
            "DashboardProxy",
            vpc=self.vpc,
            domain_endpoint=self.search.domain.domain_endpoint,
            certificate=certificate,
            # Without a certificate there is no load balancer to admit anyone to.
            allowed_cidrs=settings.allowed_cidrs if certificate else (),
            internet_facing=settings.internet_facing if certificate else False,
            alarm_topic=self.alarm_topic,
        )
        self.search.allow_from(self.proxy)
        self._outputs()
        cdk.Aspects.of(self).add(LambdaRoleDependencyHint())

    def _alarm_topic(self, settings: Settings) -> sns.Topic:
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the Spot Insights alarm topic",
            enable_key_rotation=True,
        )
        # CloudWatch publishes alarm notifications to the encrypted topic with this key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="Spot Insights alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if settings.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        return topic

    def _vpc(self, settings: Settings) -> ec2.IVpc:
        if settings.vpc_id:
            return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings.vpc_id)
        production = settings.profile == "production"
        return SpotInsightsNetwork(
            self,
            "Network",
            max_azs=3 if production else 2,
            nat_gateways=2 if production else 1,
            dual_stack=any(":" in cidr for cidr in settings.allowed_cidrs),
        ).vpc

    def _outputs(self) -> None:
        cdk.CfnOutput(self, "DomainEndpoint", value=self.search.endpoint)
        cdk.CfnOutput(
            self,
            "MasterUserSecret",
            value=self.search.master_secret.secret_name,
            description="Secrets Manager secret with the OpenSearch master user's credentials",
        )
        cdk.CfnOutput(self, "QueueUrl", value=self.ingest.queue.queue_url)
        cdk.CfnOutput(
            self,
            "DeadLetterQueueUrl",
            value=self.ingest.dead_letter_queue.queue_url,
            description="Records that could not be indexed, with their reason (README: redrive)",
        )
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
