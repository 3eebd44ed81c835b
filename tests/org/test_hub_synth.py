"""The hub: who may put events on its bus, where they go, and which spoke roles its ingest
function may assume."""

from __future__ import annotations

from typing import Any

import pytest

from lambda_src.contract import (
    ACCEPTED_DETAIL_TYPES,
    DETAIL_TYPES,
    HUB_BUS_NAME,
    SPOKE_ROLE_NAME,
    IngestEnv,
    hub_ingest_role_name,
)
from spot_insights.deployment import STACK_ID
from tests.org.policy import Caller, allows, resolve
from tests.org.synth import (
    HUB_ACCOUNT,
    HUB_REGION,
    LISTED,
    ORG_CONTEXT,
    ORGANIZATION,
    of_type,
    synth_org,
    template,
)
from tests.support.event_patterns import assert_spot_event_patterns

WARNING, REBALANCE = DETAIL_TYPES


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return template(synth_org(ORG_CONTEXT)[STACK_ID])


@pytest.fixture(scope="module")
def listed_only() -> dict[str, Any]:
    return template(synth_org({"sourceAccounts": LISTED})[STACK_ID])


def _bus_statements(tmpl: dict[str, Any]) -> list[dict[str, Any]]:
    policies = of_type(tmpl, "AWS::Events::EventBusPolicy").values()
    return [
        resolve(p["Properties"]["Statement"], account=HUB_ACCOUNT, region=HUB_REGION)
        for p in policies
    ]


def _put(account: str, org: str | None, *, source: str = "aws.ec2", types=(WARNING,)) -> Caller:
    context: dict[str, Any] = {"events:source": [source], "events:detail-type": list(types)}
    if org:
        context["aws:PrincipalOrgID"] = org
    return Caller(arn=f"arn:aws:iam::{account}:role/forwarder", account=account, context=context)


def test_the_organisation_and_listed_accounts_may_put_spot_events(hub: dict[str, Any]) -> None:
    statements = _bus_statements(hub)
    assert allows(statements, "events:PutEvents", _put("999988887777", ORGANIZATION))
    assert allows(
        statements, "events:PutEvents", _put(LISTED[0], None, types=ACCEPTED_DETAIL_TYPES)
    )
    assert allows(statements, "events:PutEvents", _put(LISTED[1], None, types=(REBALANCE,)))


@pytest.mark.parametrize(
    "caller",
    [
        _put("999988887777", None),  # outside the organisation, not listed
        _put("999988887777", "o-zzzzzzzzzz"),  # another organisation
        _put("999988887777", ORGANIZATION, source="custom.app"),  # not EC2's events
        _put(
            LISTED[0],
            None,
            source="aws.ec2",
            types=(WARNING, "EC2 Instance State-change Notification"),
        ),
        _put(LISTED[0], None, types=("AWS API Call via CloudTrail",)),
    ],
    ids=["stranger", "other-org", "other-source", "mixed-batch", "other-type"],
)
def test_nobody_else_and_nothing_else_gets_onto_the_hub_bus(
    hub: dict[str, Any], caller: Caller
) -> None:
    assert not allows(_bus_statements(hub), "events:PutEvents", caller)


def test_with_listed_accounts_only_the_organisation_is_not_admitted(
    listed_only: dict[str, Any],
) -> None:
    statements = _bus_statements(listed_only)
    assert len(statements) == 1
    assert allows(statements, "events:PutEvents", _put(LISTED[0], None))
    assert not allows(statements, "events:PutEvents", _put("999988887777", ORGANIZATION))


def test_hub_bus_rules_feed_the_ingest_queue_with_retries_and_dead_letters(
    hub: dict[str, Any],
) -> None:
    (bus_id, bus) = next(iter(of_type(hub, "AWS::Events::EventBus").items()))
    assert bus["Properties"]["Name"] == HUB_BUS_NAME
    queue_id = next(k for k in of_type(hub, "AWS::SQS::Queue") if k.startswith("IngestQueue"))
    dlq_id = next(
        k for k in of_type(hub, "AWS::SQS::Queue") if k.startswith("IngestDeadLetterQueue")
    )
    on_hub = [
        r["Properties"]
        for r in of_type(hub, "AWS::Events::Rule").values()
        if r["Properties"].get("EventBusName") == {"Ref": bus_id}
    ]
    assert_spot_event_patterns(r["EventPattern"] for r in on_hub)
    for rule in on_hub:
        assert rule["EventPattern"]["source"] == ["aws.ec2"]
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
        assert target["RetryPolicy"] == {
            "MaximumEventAgeInSeconds": 86400,
            "MaximumRetryAttempts": 185,
        }
    # The home account's default-bus rules are still there, unchanged.
    on_default = [
        r
        for r in of_type(hub, "AWS::Events::Rule").values()
        if "EventBusName" not in r["Properties"]
    ]
    assert_spot_event_patterns(r["Properties"]["EventPattern"] for r in on_default)


def _ingest(tmpl: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    function = next(
        r
        for k, r in of_type(tmpl, "AWS::Lambda::Function").items()
        if k.startswith("IngestFunction")
    )
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return function, tmpl["Resources"][role_id]


def test_ingest_role_has_the_name_spokes_trust_and_assumes_only_spoke_roles(
    hub: dict[str, Any],
) -> None:
    function, role = _ingest(hub)
    name = resolve(role["Properties"]["RoleName"], account=HUB_ACCOUNT, region=HUB_REGION)
    assert name == hub_ingest_role_name(HUB_REGION)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in of_type(hub, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in resolve(
            policy["Properties"]["PolicyDocument"]["Statement"],
            account=HUB_ACCOUNT,
            region=HUB_REGION,
        )
        if "sts:AssumeRole" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {"AssumeSpokeRolesInTheOrganization", "AssumeSpokeRolesInListedAccounts"}
    org = by_sid["AssumeSpokeRolesInTheOrganization"]
    assert org["Resource"] == f"arn:aws:iam::*:role/{SPOKE_ROLE_NAME}"
    assert org["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORGANIZATION}}
    assert sorted(by_sid["AssumeSpokeRolesInListedAccounts"]["Resource"]) == [
        f"arn:aws:iam::{account}:role/{SPOKE_ROLE_NAME}" for account in LISTED
    ]
    env = function["Properties"]["Environment"]["Variables"]
    assert env[IngestEnv.SPOKE_ROLE_NAME] == SPOKE_ROLE_NAME
    assert env[IngestEnv.HOME_ACCOUNT] == {"Ref": "AWS::AccountId"}


def test_without_spoke_settings_the_stack_has_no_hub() -> None:
    stacks = synth_org({})
    assert set(stacks) == {STACK_ID}, "no spoke stacks without hubAccount"
    plain = template(stacks[STACK_ID])
    assert of_type(plain, "AWS::Events::EventBus") == {}
    assert of_type(plain, "AWS::Events::EventBusPolicy") == {}
    function, role = _ingest(plain)
    assert "RoleName" not in role["Properties"]
    assert IngestEnv.SPOKE_ROLE_NAME not in function["Properties"]["Environment"]["Variables"]
