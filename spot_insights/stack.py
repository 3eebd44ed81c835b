"""The deployable stack. It grows as the constructs land (IngestPipeline, SearchDomain,
DashboardProxy); for now it holds the alarm topic they will share."""

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct


class SpotInsightsStack(cdk.Stack):
    """Spot Interruption Insights in one stack."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
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
