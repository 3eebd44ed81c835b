"""The deployable stack. It grows as the constructs land (IngestPipeline, SearchDomain,
DashboardProxy); for now it holds the alarm topic they will share."""

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from spot_insights.network import SpotInsightsNetwork
from spot_insights.settings import Settings


class SpotInsightsStack(cdk.Stack):
    """Spot Interruption Insights in one stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings or Settings()
        self.vpc = self._vpc(self.settings)
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the Spot Insights alarm topic",
            enable_key_rotation=True,
        )
        self.alarm_topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="Spot Insights alarms",
            master_key=key,
            enforce_ssl=True,
        )

    def _vpc(self, settings: Settings) -> ec2.IVpc:
        if settings.vpc_id:
            return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings.vpc_id)
        production = settings.profile == "production"
        return SpotInsightsNetwork(
            self, "Network", max_azs=3 if production else 2, nat_gateways=2 if production else 1
        ).vpc
