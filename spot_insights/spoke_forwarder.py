"""SpokeForwarder: what a member account and region needs so the hub sees its Spot events.

- Rules on the account's default bus forward the EC2 Spot event types straight to the hub's
  bus (one hop). EventBridge needs a role for a bus target in another account (the sender's
  rule assumes it and calls PutEvents on the hub bus, whose policy admits the organisation or
  the listed accounts); events it cannot deliver for 24 hours wait in a dead-letter queue here.
- A read-only enrichment role (ec2:DescribeInstances, ec2:DescribeAvailabilityZones) that only
  the hub's ingest role (enrichment) and the hub's exposure sampler role (counting running Spot
  instances, the rates' denominator) can assume. IAM is global, so an account holds it once: in
  the region named by `enrichment_role_region`; the hub account itself needs none (the hub's
  functions read their own account with their own roles).
- An alarm on that dead-letter queue (a message in it is an event the hub never got), notifying
  a topic in the spoke itself, with the platform team's address subscribed when one is given.
  Not through the hub: the usual reason events end there is that the hub bus refuses or is
  gone, and a notice sent the same way would be lost the same way. The topic carries alarm
  notices only (no event data), so it uses no KMS key: a customer-managed key would cost
  $1/month in every spoke account and region, and alarms cannot publish to a topic under the
  AWS-managed SNS key.

The trust policy names the hub account as principal and the ARNs of the two hub roles (ingest
and sampler, fixed region-qualified names, spot_insights/_spoke_access.py) in an
`aws:PrincipalArn` condition, not the role ARNs as principals: IAM resolves a role principal to
the role's unique id when the policy is saved, so a hub role deleted and created again (a
replaced stack, a renamed construct) would silently lose access in every spoke until each
spoke's policy was rewritten; and a role principal must exist when the spoke is created, so
spokes could not be rolled out before the hub. A condition on the ARN has neither problem, and
still admits only those roles' sessions (the hub account's identity policies must allow the
call as well)."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from lambda_src.contract import (
    ACCEPTED_DETAIL_TYPES,
    HUB_BUS_NAME,
    SPOKE_ROLE_NAME,
    hub_ingest_role_name,
    hub_sampler_role_name,
)
from spot_insights._alarms import AlarmSpec, create_alarms
from spot_insights._event_rules import rule_event_pattern
from spot_insights._service_access import alarm_conditions, source_conditions

ENRICHMENT_ACTIONS = ("ec2:DescribeInstances", "ec2:DescribeAvailabilityZones")


class SpokeForwarder(Construct):
    """Forward a spoke's EC2 Spot events to the hub bus and let the hub enrich them.

    :param hub_account: the hub's 12-digit account id.
    :param hub_region: the hub's region (its bus; the ingest role's name).
    :param enrichment_role_region: the region whose stack holds the account's enrichment role
        (a token such as a CloudFormation parameter is fine). Default: ``hub_region``.
    :param hub_bus_name: Default ``spot-insights-hub`` (``HubBus``'s default).
    :param hub_ingest_role_arn: a role allowed to assume the enrichment role. Default: the
        hub ingest function's fixed name in ``hub_account`` (``hub_ingest_role_name``).
    :param hub_sampler_role_arn: the other role allowed to. Default: the hub exposure
        sampler's fixed name in ``hub_account`` (``hub_sampler_role_name``).
    :param detail_types: event types forwarded. Default: the ones the ingest function knows.
    :param alarm_email: subscribed to the dead-letter alarm's topic; a token (a stack parameter)
        may resolve to "" for none. Default: none (the alarm and topic exist, nobody subscribed).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        hub_account: str,
        hub_region: str,
        enrichment_role_region: str | None = None,
        hub_bus_name: str = HUB_BUS_NAME,
        hub_ingest_role_arn: str | None = None,
        hub_sampler_role_arn: str | None = None,
        detail_types: Sequence[str] = ACCEPTED_DETAIL_TYPES,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not detail_types:
            raise ValueError("detail_types must name at least one EC2 event detail-type")
        stack = cdk.Stack.of(self)
        self.hub_bus_arn = stack.format_arn(
            service="events",
            region=hub_region,
            account=hub_account,
            resource="event-bus",
            resource_name=hub_bus_name,
        )
        self.hub_ingest_role_arn = hub_ingest_role_arn or stack.format_arn(
            service="iam",
            region="",
            account=hub_account,
            resource="role",
            resource_name=hub_ingest_role_name(hub_region),
        )
        self.hub_sampler_role_arn = hub_sampler_role_arn or stack.format_arn(
            service="iam",
            region="",
            account=hub_account,
            resource="role",
            resource_name=hub_sampler_role_name(hub_region),
        )
        in_hub_account = cdk.Fn.condition_equals(cdk.Aws.ACCOUNT_ID, hub_account)
        # The hub's own default-bus rules already capture the hub account's home region.
        self.forwards = cdk.CfnCondition(
            self,
            "Forwards",
            expression=cdk.Fn.condition_not(
                cdk.Fn.condition_and(
                    in_hub_account, cdk.Fn.condition_equals(cdk.Aws.REGION, hub_region)
                )
            ),
        )
        self.holds_role = cdk.CfnCondition(
            self,
            "HoldsEnrichmentRole",
            expression=cdk.Fn.condition_and(
                cdk.Fn.condition_not(in_hub_account),
                cdk.Fn.condition_equals(cdk.Aws.REGION, enrichment_role_region or hub_region),
            ),
        )
        forwarding = Construct(self, "Forwarding")
        self.dead_letter_queue = sqs.Queue(
            forwarding,
            "DeadLetterQueue",
            # SQS-managed keys: no KMS key (and its monthly fee) in every spoke account and region.
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.forward_role = iam.Role(
            forwarding,
            "Role",
            description="EventBridge forwards EC2 Spot events to the Spot Insights hub bus",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com").with_conditions(
                source_conditions(self, "events", "rule")
            ),
        )
        hub_bus = events.EventBus.from_event_bus_arn(forwarding, "HubBus", self.hub_bus_arn)
        self.rules: list[events.Rule] = []
        for position, detail_type in enumerate(detail_types):
            rule = events.Rule(
                forwarding,
                f"Rule{position}",
                description=f"{detail_type} -> Spot Insights hub bus",
                event_pattern=rule_event_pattern(detail_type),
            )
            rule.add_target(
                targets.EventBus(
                    hub_bus, role=self.forward_role, dead_letter_queue=self.dead_letter_queue
                )
            )
            self.rules.append(rule)
        self.alarm_topic, self.dead_letter_alarm = self._dead_letter_alarm(forwarding)
        _only_when(forwarding, self.forwards)
        if alarm_email is not None:
            self._subscribe(alarm_email)

        enrichment = Construct(self, "Enrichment")
        self.enrichment_role = iam.Role(
            enrichment,
            "Role",
            role_name=SPOKE_ROLE_NAME,
            description="Spot Insights hub reads instance metadata of this account (read-only)",
            assumed_by=iam.AccountPrincipal(hub_account).with_conditions(
                {
                    "ArnEquals": {
                        "aws:PrincipalArn": [self.hub_ingest_role_arn, self.hub_sampler_role_arn]
                    }
                }
            ),
            inline_policies={
                "DescribeInstances": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            # Neither action supports resource-level permissions.
                            actions=list(ENRICHMENT_ACTIONS),
                            resources=["*"],
                        )
                    ]
                )
            },
        )
        _only_when(enrichment, self.holds_role)
        _suppress_reviewed_findings(self)

    def _dead_letter_alarm(self, scope: Construct) -> tuple[sns.Topic, cloudwatch.Alarm]:
        topic = sns.Topic(
            scope, "AlarmTopic", display_name="Spot Insights spoke alarms", enforce_ssl=True
        )
        # enforce_ssl gives the topic a policy, which replaces SNS's default one: without this
        # Allow the alarm's action fails as unauthorised.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=alarm_conditions(scope),
            )
        )
        (alarm,) = create_alarms(
            scope,
            [
                AlarmSpec(
                    "DeadLetterAlarm",
                    "Spot events this account and region could not forward to the Spot "
                    "Insights hub bus for 24 hours (they wait in the spoke's dead-letter queue)",
                    # SQS publishes a queue's metrics while it holds messages, so a message
                    # left here keeps the alarm in ALARM until someone moves it.
                    self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=cdk.Duration.minutes(5), statistic="Maximum"
                    ),
                    threshold=1,
                    notify_ok=True,
                )
            ],
            topic,
        )
        return topic, alarm

    def _subscribe(self, alarm_email: str) -> None:
        notification = Construct(self, "Notification")
        subscription = sns.CfnSubscription(
            notification,
            "AlarmEmail",
            protocol="email",
            endpoint=alarm_email,
            topic_arn=self.alarm_topic.topic_arn,
        )
        subscription.cfn_options.condition = cdk.CfnCondition(
            notification,
            "HasAlarmEmail",
            expression=cdk.Fn.condition_and(
                self.forwards, cdk.Fn.condition_not(cdk.Fn.condition_equals(alarm_email, ""))
            ),
        )


def _only_when(scope: Construct, condition: cdk.CfnCondition) -> None:
    """Every resource under `scope` exists only when `condition` holds (they refer to each
    other, and a reference to a resource that is not created fails the deploy)."""
    for child in scope.node.find_all():
        if isinstance(child, cdk.CfnResource):
            child.cfn_options.condition = condition


def _suppress_reviewed_findings(forwarder: SpokeForwarder) -> None:
    NagSuppressions.add_resource_suppressions(
        forwarder.enrichment_role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="ec2:DescribeInstances and ec2:DescribeAvailabilityZones support no "
                "resource-level permissions.",
                applies_to=["Resource::*"],
            )
        ],
    )
    NagSuppressions.add_resource_suppressions(
        forwarder.alarm_topic,
        [
            NagPackSuppression(
                id="AwsSolutions-SNS2",
                reason="The topic carries alarm notices only, no event data; CloudWatch cannot "
                "publish under the AWS-managed SNS key, and a customer-managed key would cost "
                "$1/month in every spoke account and region.",
            )
        ],
    )
    NagSuppressions.add_resource_suppressions(
        forwarder.dead_letter_queue,
        [
            NagPackSuppression(
                id="AwsSolutions-SQS3",
                reason="This queue is the forwarding rules' dead-letter queue itself.",
            )
        ],
    )
