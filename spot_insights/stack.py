"""The deployable stack: IngestPipeline -> SearchDomain <- DashboardProxy in one VPC."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from lambda_src.contract import SIMULATION_SOURCE
from spot_insights._service_access import RETAIN_UNLESS_CREATE_FAILS, encrypted_alarm_topic
from spot_insights.dashboard_proxy import DashboardProxy
from spot_insights.exposure_sampler import ExposureSampler
from spot_insights.hub_bus import HubBus
from spot_insights.ingest_pipeline import IngestPipeline
from spot_insights.network import SpotInsightsNetwork
from spot_insights.search_domain import SearchDomain
from spot_insights.settings import Settings


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
        self.network: SpotInsightsNetwork | None = None
        self.alarm_topic = self._alarm_topic(settings)
        self.vpc = self._vpc(settings)
        if settings.vpc_id and self.vpc.vpc_id != settings.vpc_id:
            # Vpc.from_lookup gives a two-AZ placeholder until the CDK CLI has looked the VPC up
            # and runs the app again; building on it would fail production's three-AZ check.
            return

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
            opensearch_endpoint=self.search.endpoint,
            index_prefix=settings.index_prefix,
            alarm_topic=self.alarm_topic,
            vpc=self.vpc,
            test_event_source=SIMULATION_SOURCE if settings.simulation_rule else None,
            burst_threshold=settings.burst_threshold,
            burst_window=cdk.Duration.minutes(settings.burst_window_minutes),
        )
        # Messages wait in the queue until the write alias exists, instead of failing into the
        # dead-letter queue during the first deployment. The function too: on an update its new
        # code may write fields the mapping gains in the same deploy (strict mapping), so it
        # is deployed after provisioning has rolled the mapping onto the existing indices (the
        # function resource alone: its security group must exist before provisioning runs).
        self.search.connect_writer(
            self.ingest.function,
            starts_writing=[
                self.ingest.event_source_mapping,
                self.ingest.function.node.default_child,  # type: ignore[list-item]
            ],
        )

        # The rates' denominator: running Spot instances per group, every few minutes.
        self.sampler = ExposureSampler(
            self,
            "Exposure",
            opensearch_endpoint=self.search.endpoint,
            index_prefix=settings.index_prefix,
            interval_minutes=settings.exposure_interval_minutes,
            # The ingest key already admits this account's log groups.
            encryption_key=self.ingest.encryption_key,
            alarm_topic=self.alarm_topic,
            vpc=self.vpc,
            # Hub: every spoke account too, through its enrichment role (listed or discovered
            # from the events; lambda_src/sampler/account_discovery.py), in the spokes' regions.
            regions=tuple(dict.fromkeys((self.region, *settings.spoke_regions))),
            accounts=settings.source_accounts,
            organization_id=settings.organization_id,
        )
        self.search.connect_exposure_writer(
            self.sampler.function, starts_writing=[self.sampler.schedule]
        )
        self.search.connect_market_writer(
            self.sampler.function, starts_writing=[self.sampler.market_schedule]
        )

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
        self.search.connections.allow_default_port_from(self.proxy, "HTTPS to OpenSearch")
        self._keep_the_domains_network()
        self._outputs()
        self.hub = self._hub(settings)

    def _hub(self, settings: Settings) -> HubBus | None:
        """With `organizationId` or `sourceAccounts`: the bus spokes forward to, feeding the
        same queue, and the ingest function's access to the spokes' enrichment roles."""
        if not (settings.organization_id or settings.source_accounts):
            return None
        hub = HubBus(
            self,
            "Hub",
            queue=self.ingest.queue,
            dead_letter_queue=self.ingest.dead_letter_queue,
            organization_id=settings.organization_id,
            source_accounts=settings.source_accounts,
        )
        hub.enrich_with_spoke_roles(self.ingest.function)
        cdk.CfnOutput(self, "HubBusArn", value=hub.bus.event_bus_arn)
        return hub

    def _alarm_topic(self, settings: Settings) -> sns.Topic:
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the Spot Insights alarm topic",
            enable_key_rotation=True,
            removal_policy=RETAIN_UNLESS_CREATE_FAILS,
        )
        topic = encrypted_alarm_topic(
            self, "AlarmTopic", key=key, display_name="Spot Insights alarms"
        )
        if settings.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        return topic

    def _vpc(self, settings: Settings) -> ec2.IVpc:
        if settings.vpc_id:
            return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings.vpc_id)
        production = settings.profile == "production"
        # Production: three AZs (an environment-agnostic stack would get two; app.py insists on
        # an account and region), one NAT gateway each so one AZ's loss leaves the others' egress.
        self.network = SpotInsightsNetwork(
            self,
            "Network",
            max_azs=3 if production else 2,
            nat_gateways=3 if production else 1,
            dual_stack=any(":" in cidr for cidr in settings.allowed_cidrs),
        )
        return self.network.vpc

    def _keep_the_domains_network(self) -> None:
        """A domain kept on stack delete keeps its network interfaces, and with them its security
        group, subnets and VPC: CloudFormation cannot delete those, and `cdk destroy` would end
        in DELETE_FAILED. So they are kept with it (they cost nothing); NAT gateways, route
        tables, the load balancer and everything else are deleted."""
        if self.network is None or self.search.removal_policy == cdk.RemovalPolicy.DESTROY:
            return
        kept: list[cdk.CfnResource] = [self.vpc.node.default_child]  # type: ignore[list-item]
        kept += [subnet.node.default_child for subnet in self.search.subnets]  # type: ignore[misc]
        kept += [c for c in self.network.node.find_all() if isinstance(c, ec2.CfnVPCCidrBlock)]
        for resource in kept:
            resource.apply_removal_policy(self.search.removal_policy)

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
