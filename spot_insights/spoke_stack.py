"""The spoke in its two forms: a plain stack for one account and region (`cdk deploy
SpotInsightsSpoke`), and a service-managed CloudFormation StackSet that deploys the same
template to every account of some organisational units, in some regions, and to accounts
that join them later.

The StackSet is the L1 `CfnStackSet` with the spoke's template inline (`TemplateBody`), not a
StackSet library: the spoke has no assets (rules, a queue, two roles), so the one thing such a
library adds, publishing assets to buckets member accounts can read, is not needed, and the
library on PyPI (cdk-stacksets) is still 0.0.x and marked experimental. Inline, the template
needs no bootstrap bucket in the administrator account either; it is synthesized with
`BootstraplessSynthesizer` because member accounts are not CDK-bootstrapped (the default
synthesizer's bootstrap-version check would fail there).

How StackSets behave, and what the StackSet resource sets because of it:
- SERVICE_MANAGED permissions: StackSets creates the execution roles in member accounts; it
  needs trusted access between CloudFormation StackSets and Organizations (enabled once, in
  the management account) and runs from the management account (`CallAs: SELF`) or a
  registered delegated administrator (`CallAs: DELEGATED_ADMIN`).
- It never deploys to the management account itself, even when the root is targeted.
- Auto-deployment: accounts that join a target OU get the spoke; accounts that leave it lose
  it (`RetainStacksOnAccountRemoval: false`), so no forwarding rule outlives its membership.
- Deleting the StackSet resource (stack delete, or a failed create rolling back) deletes its
  stack instances first, then the StackSet.
- The spoke creates a named role: `CAPABILITY_NAMED_IAM`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudformation as cloudformation
from constructs import Construct

from spot_insights.spoke_forwarder import SpokeForwarder

SPOKE_STACK_ID = "SpotInsightsSpoke"
STACK_SET_STACK_ID = "SpotInsightsSpokeStackSet"
STACK_SET_NAME = "spot-insights-spokes"
# CloudFormation's limit for an inline template.
TEMPLATE_BODY_LIMIT = 51_200
_REGION_PATTERN = r"[a-z]{2,5}(-[a-z]+)+-\d{1,2}"
# Empty, or the form the app's alarmEmail setting takes.
_EMAIL_PATTERN = r"([^@\s]+@[^@\s]+\.[A-Za-z]{2,})?"


class SpokeStack(cdk.Stack):
    """One spoke: a `SpokeForwarder` whose enrichment-role region is a stack parameter
    (default `enrichment_role_region`), so a plain deploy can choose it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        hub_account: str,
        hub_region: str,
        enrichment_role_region: str,
        alarm_email: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        role_region = cdk.CfnParameter(
            self,
            "EnrichmentRoleRegion",
            type="String",
            default=enrichment_role_region,
            allowed_pattern=_REGION_PATTERN,
            description="The one region whose spoke stack holds this account's read-only "
            "enrichment role (IAM roles are global)",
        )
        email = cdk.CfnParameter(
            self,
            "AlarmEmail",
            type="String",
            default=alarm_email or "",
            allowed_pattern=_EMAIL_PATTERN,
            description="Notified when events wait in the spoke's dead-letter queue (empty: "
            "nobody; the alarm still shows in CloudWatch)",
        )
        self.forwarder = SpokeForwarder(
            self,
            "Forwarder",
            hub_account=hub_account,
            hub_region=hub_region,
            enrichment_role_region=role_region.value_as_string,
            alarm_email=email.value_as_string,
        )
        # In the hub account's own region both of the forwarder's conditions are false; a
        # stack instance there (the hub account inside a target OU) must still have a resource.
        cdk.CfnWaitConditionHandle(self, "Placeholder")


def spoke_template(
    context: Mapping[str, Any],
    *,
    hub_account: str,
    hub_region: str,
    enrichment_role_region: str,
    alarm_email: str | None = None,
) -> dict[str, Any]:
    """The spoke's template as a StackSet deploys it, synthesized in an app of its own (same
    context, a temporary output directory) so it never lands in the deployable assembly."""
    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir, context=dict(context), analytics_reporting=False)
        stack = SpokeStack(
            app,
            SPOKE_STACK_ID,  # same id, same template as the plain stack (ids derive from it)
            hub_account=hub_account,
            hub_region=hub_region,
            enrichment_role_region=enrichment_role_region,
            alarm_email=alarm_email,
            synthesizer=cdk.BootstraplessSynthesizer(),
        )
        template: dict[str, Any] = app.synth().get_stack_artifact(stack.artifact_id).template
    return template


class SpokeStackSetStack(cdk.Stack):
    """A service-managed StackSet of the spoke over `organizational_units` x `regions`.

    Deploy it in the management account (`call_as="SELF"`) or a delegated StackSets
    administrator (`call_as="DELEGATED_ADMIN"`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        template: Mapping[str, Any],
        organizational_units: Sequence[str],
        regions: Sequence[str],
        call_as: str = "SELF",
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if not organizational_units or not regions:
            raise ValueError("a spoke StackSet needs at least one organizational unit and region")
        if call_as not in ("SELF", "DELEGATED_ADMIN"):
            raise ValueError("call_as must be SELF or DELEGATED_ADMIN")
        body = json.dumps(template, separators=(",", ":"))
        if len(body.encode()) > TEMPLATE_BODY_LIMIT:
            raise ValueError(
                f"the spoke template is {len(body.encode())} bytes; TemplateBody takes at most "
                f"{TEMPLATE_BODY_LIMIT}"
            )
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "Spokes",
            stack_set_name=STACK_SET_NAME,
            description="Spot Insights spokes: forward EC2 Spot events to the hub, let it enrich",
            permission_model="SERVICE_MANAGED",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            call_as=call_as,
            capabilities=["CAPABILITY_NAMED_IAM"],
            # Non-conflicting operations (a new account joining during an update) run at once.
            managed_execution={"Active": True},
            # A quarter of the accounts at a time, every region at once; a region stops after
            # more than a tenth fail. SOFT: the default (STRICT) would cap the concurrency at
            # the failure tolerance + 1. (Auto-deployment ignores these preferences.)
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                concurrency_mode="SOFT_FAILURE_TOLERANCE",
                region_concurrency_type="PARALLEL",
                max_concurrent_percentage=25,
                failure_tolerance_percentage=10,
            ),
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(organizational_units)
                    ),
                    regions=list(regions),
                )
            ],
            template_body=body,
        )
