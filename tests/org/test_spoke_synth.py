"""The spoke, as a plain stack and as a service-managed StackSet: what it forwards and where,
who may assume its enrichment role, which account and region create what, and the StackSet
settings that follow from how StackSets behave."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambda_src.contract import (
    HUB_BUS_NAME,
    SPOKE_ROLE_NAME,
    hub_ingest_role_name,
    hub_sampler_role_name,
)
from spot_insights.spoke_stack import SPOKE_STACK_ID, STACK_SET_STACK_ID, TEMPLATE_BODY_LIMIT
from tests.org.policy import Caller, allows, resolve
from tests.org.synth import (
    HUB_ACCOUNT,
    HUB_REGION,
    ORG_CONTEXT,
    SPOKE_REGIONS,
    UNITS,
    of_type,
    synth_org,
    template,
)
from tests.support.event_patterns import assert_spot_event_patterns

MEMBER = "555566667777"
HUB_BUS_ARN = f"arn:aws:events:{HUB_REGION}:{HUB_ACCOUNT}:event-bus/{HUB_BUS_NAME}"
INGEST_ROLE_ARN = f"arn:aws:iam::{HUB_ACCOUNT}:role/{hub_ingest_role_name(HUB_REGION)}"


@pytest.fixture(scope="module")
def stacks() -> dict[str, dict[str, Any]]:
    return {name: template(stack) for name, stack in synth_org(ORG_CONTEXT).items()}


@pytest.fixture(scope="module")
def spoke(stacks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return stacks[SPOKE_STACK_ID]


@pytest.fixture(scope="module")
def stack_set(stacks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (resource,) = of_type(stacks[STACK_SET_STACK_ID], "AWS::CloudFormation::StackSet").values()
    return resource["Properties"]


def _enrichment_trust(tmpl: dict[str, Any]) -> list[dict[str, Any]]:
    (role,) = [
        r
        for r in of_type(tmpl, "AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == SPOKE_ROLE_NAME
    ]
    return resolve(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"],
        account=MEMBER,
        region="eu-west-1",
    )


def test_only_the_hub_ingest_role_may_assume_the_enrichment_role(spoke: dict[str, Any]) -> None:
    trust = _enrichment_trust(spoke)
    ingest = Caller(arn=INGEST_ROLE_ARN, account=HUB_ACCOUNT)
    assert allows(trust, "sts:AssumeRole", ingest)
    others = [
        Caller(arn=f"arn:aws:iam::{HUB_ACCOUNT}:role/Admin", account=HUB_ACCOUNT),
        Caller(
            arn=f"arn:aws:iam::{HUB_ACCOUNT}:role/{hub_ingest_role_name('eu-west-1')}",
            account=HUB_ACCOUNT,
        ),
        Caller(
            arn=f"arn:aws:iam::{HUB_ACCOUNT}:user/{hub_ingest_role_name(HUB_REGION)}",
            account=HUB_ACCOUNT,
        ),
        # The same role name in another account (the spoke's own, or any other).
        Caller(
            arn=f"arn:aws:iam::{MEMBER}:role/{hub_ingest_role_name(HUB_REGION)}", account=MEMBER
        ),
        Caller(
            arn=f"arn:aws:iam::999988887777:role/{hub_ingest_role_name(HUB_REGION)}",
            account="999988887777",
        ),
        Caller(service="ec2.amazonaws.com"),
    ]
    for caller in others:
        assert not allows(trust, "sts:AssumeRole", caller), caller


def test_trust_names_the_hub_role_in_a_condition_not_as_principal(spoke: dict[str, Any]) -> None:
    # A role ARN as principal is stored as the role's unique id: a re-created hub role would
    # lose every spoke, and a spoke could not be created before the hub. See spoke_forwarder.py.
    (statement,) = _enrichment_trust(spoke)
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{HUB_ACCOUNT}:root"}
    # The sampler's role too: it counts this account's Spot instances (test_spoke_sampler_trust).
    sampler_role = f"arn:aws:iam::{HUB_ACCOUNT}:role/{hub_sampler_role_name(HUB_REGION)}"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": [INGEST_ROLE_ARN, sampler_role]}
    }


def test_enrichment_role_is_read_only(spoke: dict[str, Any]) -> None:
    (role,) = [
        r
        for r in of_type(spoke, "AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == SPOKE_ROLE_NAME
    ]
    (policy,) = role["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["ec2:DescribeAvailabilityZones", "ec2:DescribeInstances"]
    assert "ManagedPolicyArns" not in role["Properties"]


def test_rules_forward_the_spot_types_to_the_hub_bus_in_one_hop(spoke: dict[str, Any]) -> None:
    rules = [
        resolve(r["Properties"], account=MEMBER, region="eu-west-1")
        for r in of_type(spoke, "AWS::Events::Rule").values()
    ]
    assert_spot_event_patterns(r["EventPattern"] for r in rules)
    roles = of_type(spoke, "AWS::IAM::Role")
    for rule in rules:
        assert "EventBusName" not in rule, "on the default bus"
        assert rule["EventPattern"]["source"] == ["aws.ec2"]
        (target,) = rule["Targets"]
        assert target["Arn"] == HUB_BUS_ARN
        assert "DeadLetterConfig" in target
        # EventBridge needs a role for a bus target in another account.
        role_id = target["RoleArn"].strip("<>").split(".")[0]
        trust = resolve(
            roles[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"],
            account=MEMBER,
            region="eu-west-1",
        )
        rule_arn = f"arn:aws:events:eu-west-1:{MEMBER}:rule/any"
        events = Caller(
            service="events.amazonaws.com",
            context={"aws:SourceAccount": MEMBER, "aws:SourceArn": rule_arn},
        )
        assert allows(trust, "sts:AssumeRole", events)
        foreign = Caller(
            service="events.amazonaws.com",
            context={"aws:SourceAccount": "999988887777", "aws:SourceArn": rule_arn},
        )
        assert not allows(trust, "sts:AssumeRole", foreign)
    (put,) = [
        s
        for p in of_type(spoke, "AWS::IAM::Policy").values()
        for s in resolve(
            p["Properties"]["PolicyDocument"]["Statement"], account=MEMBER, region="eu-west-1"
        )
    ]
    assert put == {"Action": "events:PutEvents", "Effect": "Allow", "Resource": HUB_BUS_ARN}


def _evaluate(
    condition: Any,
    account: str,
    region: str,
    parameters: dict[str, str],
    named: dict[str, Any] | None = None,
) -> bool:
    """A template condition's value; `named`: the template's Conditions (for {"Condition": x})."""
    if isinstance(condition, dict) and len(condition) == 1:
        ((function, args),) = condition.items()
        if function == "Condition" and named is not None:
            return _evaluate(named[args], account, region, parameters, named)
        if function == "Fn::Not":
            return not _evaluate(args[0], account, region, parameters, named)
        if function == "Fn::And":
            return all(_evaluate(a, account, region, parameters, named) for a in args)
        if function == "Fn::Equals":
            left, right = (
                resolve(a, account=account, region=region, parameters=parameters) for a in args
            )
            return left == right
    raise NotImplementedError(condition)


def _created(
    tmpl: dict[str, Any], account: str, region: str, parameters: dict[str, str] | None = None
) -> set[str]:
    """Logical ids of the resources a stack instance in `account`/`region` creates (with the
    parameters' defaults, overridden by `parameters`)."""
    values = {k: p["Default"] for k, p in tmpl.get("Parameters", {}).items() if "Default" in p}
    values |= parameters or {}
    named = tmpl["Conditions"]
    conditions = {name: _evaluate(c, account, region, values, named) for name, c in named.items()}
    return {
        key
        for key, resource in tmpl["Resources"].items()
        if "Condition" not in resource or conditions[resource["Condition"]]
    }


@pytest.mark.parametrize(
    ("account", "region", "forwards", "holds_role"),
    [
        (HUB_ACCOUNT, HUB_REGION, False, False),  # the hub's own default-bus rules see these
        (HUB_ACCOUNT, "eu-west-1", True, False),  # forwarded; enriched with the hub's own role
        (MEMBER, SPOKE_REGIONS[0], True, True),  # the account's one enrichment role
        (MEMBER, SPOKE_REGIONS[1], True, False),  # IAM is global: no second role
    ],
)
def test_each_account_and_region_creates_what_it_needs_once(
    stack_set: dict[str, Any], account: str, region: str, forwards: bool, holds_role: bool
) -> None:
    body = json.loads(stack_set["TemplateBody"])
    created = {body["Resources"][key]["Type"] for key in _created(body, account, region)}
    assert ("AWS::Events::Rule" in created) is forwards
    named = [
        key
        for key in _created(body, account, region)
        if body["Resources"][key].get("Properties", {}).get("RoleName") == SPOKE_ROLE_NAME
    ]
    assert bool(named) is holds_role
    # A stack instance with everything else switched off still has a resource to create.
    assert created, "CloudFormation needs at least one resource"


def test_stack_set_is_service_managed_over_the_ous_and_regions(stack_set: dict[str, Any]) -> None:
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    # Accounts joining a target OU get the spoke; leaving ones lose it (no stray forwarding).
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert stack_set["CallAs"] == "SELF"
    ((group),) = stack_set["StackInstancesGroup"]
    assert group == {
        "DeploymentTargets": {"OrganizationalUnitIds": UNITS},
        "Regions": SPOKE_REGIONS,
    }
    preferences = stack_set["OperationPreferences"]
    assert preferences["ConcurrencyMode"] == "SOFT_FAILURE_TOLERANCE"
    assert preferences["RegionConcurrencyType"] == "PARALLEL"
    assert stack_set["ManagedExecution"] == {"Active": True}


def test_stack_set_template_is_the_spoke_without_bootstrap_or_assets(
    spoke: dict[str, Any], stack_set: dict[str, Any]
) -> None:
    body = json.loads(stack_set["TemplateBody"])
    assert len(stack_set["TemplateBody"].encode()) <= TEMPLATE_BODY_LIMIT
    # Member accounts are not CDK-bootstrapped: no bootstrap-version check, nothing to fetch.
    assert "Rules" not in body
    assert set(body["Parameters"]) == {"EnrichmentRoleRegion", "AlarmEmail"}
    assert "cdk-hnb659fds" not in stack_set["TemplateBody"]
    assert body["Parameters"]["EnrichmentRoleRegion"]["Default"] == SPOKE_REGIONS[0]
    assert body["Resources"] == spoke["Resources"], "the StackSet deploys exactly the plain spoke"
    # It creates a named role, so StackSets must be told so.
    assert any(r["Properties"].get("RoleName") for r in of_type(body, "AWS::IAM::Role").values())
    assert "CAPABILITY_NAMED_IAM" in stack_set["Capabilities"]


def test_delegated_administrator_calls_as_such() -> None:
    stacks = synth_org({**ORG_CONTEXT, "stackSetCallAs": "DELEGATED_ADMIN"})
    (resource,) = of_type(
        template(stacks[STACK_SET_STACK_ID]), "AWS::CloudFormation::StackSet"
    ).values()
    assert resource["Properties"]["CallAs"] == "DELEGATED_ADMIN"


def test_a_plain_spoke_without_stack_set_settings() -> None:
    context = {"hubAccount": HUB_ACCOUNT, "hubRegion": HUB_REGION}
    stacks = synth_org(context)
    assert STACK_SET_STACK_ID not in stacks
    spoke = template(stacks[SPOKE_STACK_ID])
    # Its enrichment role lives in the hub's region unless the deploy says otherwise.
    assert spoke["Parameters"]["EnrichmentRoleRegion"]["Default"] == HUB_REGION


def _one(tmpl: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    ((key, resource),) = of_type(tmpl, kind).items()
    return key, resource


def test_the_dead_letter_queue_alarms_in_the_spoke(spoke: dict[str, Any]) -> None:
    """A message in the forwarding DLQ is an event the hub never got: the alarm fires on the
    first one and stays until it is moved; it notifies the spoke's own topic (not through the
    hub, whose refusal is the usual cause), and says so again when it clears."""
    queue, _ = _one(spoke, "AWS::SQS::Queue")
    topic, _ = _one(spoke, "AWS::SNS::Topic")
    _, alarm = _one(spoke, "AWS::CloudWatch::Alarm")
    props = alarm["Properties"]
    assert props["Namespace"] == "AWS/SQS"
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert props["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    ]
    assert (props["Statistic"], props["Threshold"]) == ("Maximum", 1)
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": topic}]
    # Exactly where forwarding is: the alarm, its topic and the queue share one condition.
    assert alarm["Condition"] == spoke["Resources"][queue]["Condition"]
    assert spoke["Resources"][topic]["Condition"] == alarm["Condition"]


def test_only_this_accounts_alarms_may_publish_to_the_topic_over_tls(
    spoke: dict[str, Any],
) -> None:
    _, policy = _one(spoke, "AWS::SNS::TopicPolicy")
    statements = resolve(
        policy["Properties"]["PolicyDocument"]["Statement"], account=MEMBER, region="eu-west-1"
    )
    (publish,) = [s for s in statements if s["Effect"] == "Allow"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish"
    assert publish["Condition"] == {
        "StringEquals": {"aws:SourceAccount": MEMBER},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:eu-west-1:{MEMBER}:alarm:*"},
    }
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(
    ("email", "account", "region", "subscribed"),
    [
        ("", MEMBER, SPOKE_REGIONS[0], False),  # no address: the alarm notifies nobody
        ("ops@example.com", MEMBER, SPOKE_REGIONS[0], True),
        ("ops@example.com", HUB_ACCOUNT, HUB_REGION, False),  # nothing forwarded there
    ],
)
def test_the_alarm_address_is_subscribed_where_the_alarm_exists(
    stack_set: dict[str, Any], email: str, account: str, region: str, subscribed: bool
) -> None:
    body = json.loads(stack_set["TemplateBody"])
    created = _created(body, account, region, {"AlarmEmail": email})
    subscriptions = [k for k in created if body["Resources"][k]["Type"] == "AWS::SNS::Subscription"]
    assert bool(subscriptions) is subscribed
    if subscribed:
        (key,) = subscriptions
        assert body["Resources"][key]["Properties"]["Protocol"] == "email"
        assert body["Resources"][key]["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def test_the_spoke_alarm_address_defaults_to_the_hubs() -> None:
    stacks = synth_org({**ORG_CONTEXT, "alarmEmail": "ops@example.com"})
    spoke = template(stacks[SPOKE_STACK_ID])
    assert spoke["Parameters"]["AlarmEmail"]["Default"] == "ops@example.com"
    (resource,) = of_type(
        template(stacks[STACK_SET_STACK_ID]), "AWS::CloudFormation::StackSet"
    ).values()
    body = json.loads(resource["Properties"]["TemplateBody"])
    assert body["Parameters"]["AlarmEmail"]["Default"] == "ops@example.com"
