"""Someone else's stack reusing the constructs (docs/domain.md, "Using the constructs").

Their VPC and alarm topic; a SearchDomain; an IngestPipeline connected to it as a writer with
the one call that does it all; Dashboards through the proxy. tests/stack/test_docs_example.py
synthesizes this file with cdk-nag, in the checkout and from an installed wheel.

Run it like any CDK app: `npx cdk synth --app "python docs/examples/reuse_stack.py"`.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from spot_insights import DashboardProxy, IngestPipeline, SearchDomain


class TeamAnalyticsStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=1)
        vpc.add_flow_log("FlowLog")
        alarms = self._alarm_topic()

        search = SearchDomain(
            self, "Search", vpc=vpc, alarm_topic=alarms, index_prefix="team-spot", retention_days=90
        )
        ingest = IngestPipeline(
            self,
            "Ingest",
            opensearch_endpoint=search.endpoint,
            index_prefix=search.index_prefix,
            vpc=vpc,
            alarm_topic=alarms,
        )
        # The one way to connect a writer: IAM grant (POST/PUT on team-spot-*), the role's
        # mapping to spot_insights_writer, HTTPS from its security group, and the queue is
        # consumed only once provisioning has created the write alias.
        search.connect_writer(ingest.function, starts_writing=[ingest.event_source_mapping])

        # Readers only need the network path: SearchDomain is IConnectable (default port 443).
        proxy = DashboardProxy(
            self, "Dashboards", vpc=vpc, domain_endpoint=search.domain.domain_endpoint
        )
        search.connections.allow_default_port_from(proxy, "Dashboards proxy to OpenSearch")

    def _alarm_topic(self) -> sns.Topic:
        """An encrypted, TLS-only topic CloudWatch alarms can publish to."""
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        key = kms.Key(self, "AlarmKey", enable_key_rotation=True)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        topic = sns.Topic(self, "Alarms", master_key=key, enforce_ssl=True)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        return topic


if __name__ == "__main__":
    app = cdk.App()
    TeamAnalyticsStack(app, "TeamSpotAnalytics")
    app.synth()
