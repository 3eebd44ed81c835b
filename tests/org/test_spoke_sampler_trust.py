"""The exposure sampler in every account (issue 14): the spoke's enrichment role admits the hub
sampler role next to the ingest role, in both spoke forms, and nothing else; the hub's sampler
role carries the fixed name spokes trust, may assume exactly the spoke roles, and is told which
accounts and regions to count. Fixed names and replacement: spot_insights/_spoke_access.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambda_src.contract import (
    DEFAULT_INDEX_PREFIX,
    SPOKE_ROLE_NAME,
    IngestEnv,
    SamplerEnv,
    hub_ingest_role_name,
    hub_sampler_role_name,
    index_pattern,
)
from spot_insights.deployment import STACK_ID
from spot_insights.exposure_sampler import DEFAULT_DISCOVERY_DAYS
from spot_insights.spoke_stack import SPOKE_STACK_ID, STACK_SET_STACK_ID
from tests.org.policy import Caller, allows, resolve
from tests.org.synth import (
    HUB_ACCOUNT,
    HUB_REGION,
    LISTED,
    ORG_CONTEXT,
    ORGANIZATION,
    SPOKE_REGIONS,
    of_type,
    synth_org,
    template,
)

MEMBER = "555566667777"
SAMPLER_HANDLER = "lambda_src.sampler.handler.handler"
INGEST = Caller(
    arn=f"arn:aws:iam::{HUB_ACCOUNT}:role/{hub_ingest_role_name(HUB_REGION)}", account=HUB_ACCOUNT
)
SAMPLER = Caller(
    arn=f"arn:aws:iam::{HUB_ACCOUNT}:role/{hub_sampler_role_name(HUB_REGION)}", account=HUB_ACCOUNT
)
# Logical ids of the two fixed-name hub roles. Pinned: CloudFormation replaces a resource whose
# logical id changes by creating the new one first, which fails on the fixed name ("already
# exists") and rolls the update back. Changing either is a migration, not a refactor.
SAMPLER_ROLE_ID = "ExposureFunctionServiceRole0A44CDF6"
INGEST_ROLE_ID = "IngestFunctionServiceRoleB9F9E97A"


@pytest.fixture(scope="module")
def stacks() -> dict[str, dict[str, Any]]:
    return {name: template(stack) for name, stack in synth_org(ORG_CONTEXT).items()}


def _spoke_forms(stacks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (stack_set,) = of_type(stacks[STACK_SET_STACK_ID], "AWS::CloudFormation::StackSet").values()
    return {
        "single stack": stacks[SPOKE_STACK_ID],
        "StackSet": json.loads(stack_set["Properties"]["TemplateBody"]),
    }


def _trust(tmpl: dict[str, Any]) -> list[dict[str, Any]]:
    (role,) = [
        r
        for r in of_type(tmpl, "AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == SPOKE_ROLE_NAME
    ]
    return resolve(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"],
        account=MEMBER,
        region=SPOKE_REGIONS[0],
    )


@pytest.mark.parametrize("form", ["single stack", "StackSet"])
def test_the_hub_sampler_and_ingest_roles_and_nothing_else_may_assume_the_spoke_role(
    stacks: dict[str, dict[str, Any]], form: str
) -> None:
    trust = _trust(_spoke_forms(stacks)[form])
    assert allows(trust, "sts:AssumeRole", SAMPLER)
    assert allows(trust, "sts:AssumeRole", INGEST)
    hub_role = f"arn:aws:iam::{HUB_ACCOUNT}:role/"
    strangers = [
        # The sampler of a hub in another region (another hub), or under a path.
        Caller(arn=hub_role + hub_sampler_role_name("eu-west-1"), account=HUB_ACCOUNT),
        Caller(arn=hub_role + "team/" + hub_sampler_role_name(HUB_REGION), account=HUB_ACCOUNT),
        Caller(arn=hub_role + "Admin", account=HUB_ACCOUNT),
        Caller(
            arn=f"arn:aws:iam::{HUB_ACCOUNT}:user/{hub_sampler_role_name(HUB_REGION)}",
            account=HUB_ACCOUNT,
        ),
        # The same role name in the spoke's own account or any other.
        Caller(
            arn=f"arn:aws:iam::{MEMBER}:role/{hub_sampler_role_name(HUB_REGION)}", account=MEMBER
        ),
        Caller(
            arn=f"arn:aws:iam::999988887777:role/{hub_sampler_role_name(HUB_REGION)}",
            account="999988887777",
        ),
        Caller(service="scheduler.amazonaws.com"),
    ]
    for caller in strangers:
        assert not allows(trust, "sts:AssumeRole", caller), caller
    # Still one statement: the hub account as principal, the role ARNs in a condition (a role
    # principal is stored as its unique id and would not survive the hub role's re-creation).
    (statement,) = trust
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{HUB_ACCOUNT}:root"}
    assert set(statement["Condition"]) == {"ArnEquals"}


def _sampler(tmpl: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    (function,) = [
        r
        for r in of_type(tmpl, "AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == SAMPLER_HANDLER
    ]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return function, role_id, tmpl["Resources"][role_id]


def _assume_statements(tmpl: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        s
        for policy in of_type(tmpl, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in resolve(
            policy["Properties"]["PolicyDocument"]["Statement"],
            account=HUB_ACCOUNT,
            region=HUB_REGION,
        )
        if any(a.startswith("sts:") for a in _listed(s["Action"]))
    ]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_hub_sampler_role_has_the_trusted_name_and_assumes_exactly_the_spoke_roles(
    stacks: dict[str, dict[str, Any]],
) -> None:
    hub = stacks[STACK_ID]
    _, role_id, role = _sampler(hub)
    assert role_id == SAMPLER_ROLE_ID
    name = resolve(role["Properties"]["RoleName"], account=HUB_ACCOUNT, region=HUB_REGION)
    assert name == hub_sampler_role_name(HUB_REGION)
    # aws:PrincipalArn carries the path: the spokes' condition names the role at "/".
    assert role["Properties"].get("Path", "/") == "/"
    by_sid = {s["Sid"]: s for s in _assume_statements(hub, role_id)}
    assert set(by_sid) == {"AssumeSpokeRolesInTheOrganization", "AssumeSpokeRolesInListedAccounts"}
    org = by_sid["AssumeSpokeRolesInTheOrganization"]
    assert org["Action"] == "sts:AssumeRole"
    assert org["Resource"] == f"arn:aws:iam::*:role/{SPOKE_ROLE_NAME}"
    assert org["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORGANIZATION}}
    listed = by_sid["AssumeSpokeRolesInListedAccounts"]
    assert listed["Action"] == "sts:AssumeRole"
    assert sorted(listed["Resource"]) == [
        f"arn:aws:iam::{account}:role/{SPOKE_ROLE_NAME}" for account in LISTED
    ]
    # The ingest role keeps its own fixed name and logical id too.
    ingest = hub["Resources"][INGEST_ROLE_ID]
    assert resolve(
        ingest["Properties"]["RoleName"], account=HUB_ACCOUNT, region=HUB_REGION
    ) == hub_ingest_role_name(HUB_REGION)


def test_the_hub_sampler_is_told_which_accounts_and_regions_to_count(
    stacks: dict[str, dict[str, Any]],
) -> None:
    function, _, _ = _sampler(stacks[STACK_ID])
    env = resolve(
        function["Properties"]["Environment"]["Variables"], account=HUB_ACCOUNT, region=HUB_REGION
    )
    assert env[IngestEnv.SPOKE_ROLE_NAME] == SPOKE_ROLE_NAME
    assert env[IngestEnv.HOME_ACCOUNT] == HUB_ACCOUNT
    assert env[SamplerEnv.ACCOUNTS] == ",".join(LISTED)
    assert env[SamplerEnv.DISCOVERY_DAYS] == str(DEFAULT_DISCOVERY_DAYS)
    assert env[SamplerEnv.EVENTS_INDEX] == index_pattern(DEFAULT_INDEX_PREFIX)
    # The stack's own region may be a token at synth; the function drops the repeat (config.py).
    regions = env[SamplerEnv.REGIONS].split(",")
    assert list(dict.fromkeys(regions)) == list(dict.fromkeys([HUB_REGION, *SPOKE_REGIONS]))


def test_without_spokes_the_sampler_role_is_unnamed_and_assumes_nothing() -> None:
    plain = template(synth_org({})[STACK_ID])
    function, role_id, role = _sampler(plain)
    assert "RoleName" not in role["Properties"]
    assert _assume_statements(plain, role_id) == []
    env = function["Properties"]["Environment"]["Variables"]
    for name in (IngestEnv.SPOKE_ROLE_NAME, SamplerEnv.ACCOUNTS, SamplerEnv.DISCOVERY_DAYS):
        assert name not in env
