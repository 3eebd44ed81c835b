"""HubBus: the hub's custom event bus, fed by spokes in other accounts and regions.

Spokes (`SpokeForwarder`) forward the EC2 Spot event types from their default bus straight to
this bus (one hop). Its resource policy admits `events:PutEvents` only from the organisation
(`aws:PrincipalOrgID`) and/or a list of accounts, and only for those event types; its rules
deliver to the ingest pipeline's queue exactly as the home account's default-bus rules do."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambda_src.contract import (
    ACCEPTED_DETAIL_TYPES,
    EC2_SOURCE,
    HUB_BUS_NAME,
    hub_ingest_role_name,
)
from spot_insights._event_rules import rule_event_pattern
from spot_insights._spoke_access import assume_spoke_roles


class HubBus(Construct):
    """A custom event bus that accepts the EC2 Spot event types from spoke accounts.

    :param queue: where the bus's rules deliver (the ingest pipeline's queue).
    :param dead_letter_queue: where events EventBridge cannot deliver go.
    :param organization_id: every principal of this organisation may put the event types
        (condition ``aws:PrincipalOrgID``). Default: none.
    :param source_accounts: these accounts may put the event types. Default: none. At least
        one of the two is required (a bus nobody may write to would be dead weight).
    :param bus_name: the bus's name; spokes build its ARN from it. Default ``spot-insights-hub``.
    :param detail_types: the event types accepted and captured. Default: the ones the ingest
        function understands.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        organization_id: str | None = None,
        source_accounts: Sequence[str] = (),
        bus_name: str = HUB_BUS_NAME,
        detail_types: Sequence[str] = ACCEPTED_DETAIL_TYPES,
    ) -> None:
        super().__init__(scope, construct_id)
        if not organization_id and not source_accounts:
            raise ValueError("HubBus needs organization_id or source_accounts (or both)")
        if not detail_types:
            raise ValueError("detail_types must name at least one EC2 event detail-type")
        self.organization_id = organization_id
        self.source_accounts = tuple(source_accounts)
        self.detail_types = tuple(detail_types)
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name)
        # What a spoke may put: EC2's own event types, nothing else. PutEvents may carry several
        # entries, so the keys are multi-valued (ForAllValues, as EventBridge's examples do).
        only_spot_events = {
            "ForAllValues:StringEquals": {
                "events:source": [EC2_SOURCE],
                "events:detail-type": list(self.detail_types),
            }
        }
        if organization_id:
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="SpotEventsFromTheOrganization",
                    principals=[iam.AnyPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                    conditions={
                        **only_spot_events,
                        "StringEquals": {"aws:PrincipalOrgID": organization_id},
                    },
                )
            )
        if self.source_accounts:
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="SpotEventsFromListedAccounts",
                    principals=[iam.AccountPrincipal(account) for account in self.source_accounts],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                    conditions=only_spot_events,
                )
            )
        self.rules: list[events.Rule] = []
        for position, detail_type in enumerate(self.detail_types):
            rule = events.Rule(
                self,
                f"Rule{position}",
                description=f"{detail_type} from spokes -> Spot Insights ingest queue",
                event_bus=self.bus,
                event_pattern=rule_event_pattern(detail_type),
            )
            # As the pipeline's default-bus rules: retried for a day, then the dead-letter queue.
            rule.add_target(
                targets.SqsQueue(
                    queue,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=185,
                    max_event_age=cdk.Duration.hours(24),
                )
            )
            self.rules.append(rule)

    def enrich_with_spoke_roles(self, function: lambda_.Function) -> None:
        """Let `function` (the ingest function) assume each spoke account's read-only
        enrichment role, and only those accounts' (the organisation's, or the listed ones).

        Its role gets a fixed name (`hub_ingest_role_name(region)`): the spokes' trust policy
        names it by ARN in a condition, so it must be known before the hub is deployed."""
        assume_spoke_roles(
            function,
            role_name=hub_ingest_role_name(cdk.Stack.of(self).region),
            organization_id=self.organization_id,
            source_accounts=self.source_accounts,
        )
