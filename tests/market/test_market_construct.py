"""The sampler's daily market run in the synthesized stack: its schedule, its permissions, its
way out to the advisor's file, encoded as assertions on the template (what Scheduler, IAM and
the VPC do with it at run time)."""

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from lambda_src.contract import (
    DEFAULT_ADVISOR_URL,
    MARKET_MODE,
    MODE_KEY,
    SCHEDULED_TIME_KEY,
    SCHEDULED_TIME_PLACEHOLDER,
    MarketEnv,
)
from spot_insights import ExposureSampler
from tests.stack.synth import VARIANTS, synth_stack
from tests.support.cdk_app import synth_app

HANDLER = "lambda_src.sampler.handler.handler"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return Template.from_stack(synth_stack(VARIANTS["default"])).to_json()


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _function(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(logical_id, function)] = [
        (k, f)
        for k, f in _of_type(template, "AWS::Lambda::Function").items()
        if f["Properties"].get("Handler") == HANDLER
    ]
    return logical_id, function


def _statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_daily_after_midnight_utc_with_the_market_mode_and_the_ticks_dead_letters(template):
    function_id, _ = _function(template)
    schedules = _of_type(template, "AWS::Scheduler::Schedule")
    [market] = [
        s for s in schedules.values() if s["Properties"]["ScheduleExpression"] != "rate(10 minutes)"
    ]
    [tick] = [s for s in schedules.values() if s is not market]
    props = market["Properties"]
    # 00:15 UTC: the day it prices has ended; the time zone is explicit.
    assert props["ScheduleExpression"] == "cron(15 0 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "Etc/UTC"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = props["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert json.loads(target["Input"]) == {
        SCHEDULED_TIME_KEY: SCHEDULED_TIME_PLACEHOLDER,
        MODE_KEY: MARKET_MODE,
    }
    # Same invoking role and dead-letter queue as the ticks; a day's run may wait 6 hours.
    assert target["RoleArn"] == tick["Properties"]["Target"]["RoleArn"]
    assert target["DeadLetterConfig"] == tick["Properties"]["Target"]["DeadLetterConfig"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600}
    # The first run meets the market write alias.
    [provisioning] = _of_type(template, "Custom::SpotInsightsSearchSetup")
    assert provisioning in market.get("DependsOn", [])


def test_the_function_may_price_spot_and_write_the_market_family_only(template):
    _, function = _function(template)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _statements(template, role_id)
    [ec2] = [s for s in statements if "ec2:" in json.dumps(s["Action"])]
    assert "ec2:DescribeSpotPriceHistory" in ec2["Action"]
    assert ec2["Resource"] == "*"  # no resource-level permissions for these actions
    opensearch = json.dumps([s for s in statements if "es:" in json.dumps(s["Action"])])
    assert "/spot-interruptions.market-*" in opensearch
    assert "/spot-interruptions-*" not in opensearch, "never the events family"
    for statement in statements:
        if "es:" in json.dumps(statement["Action"]):
            assert statement["Action"] == ["es:ESHttpPost", "es:ESHttpPut"]
    # The provisioner maps the role to the exposure and market writer roles (one list).
    [resource] = _of_type(template, "Custom::SpotInsightsSearchSetup").values()
    assert resource["Properties"]["ExposureWriterBackendRoles"] == [
        {"Fn::GetAtt": [role_id, "Arn"]}
    ]
    env = function["Properties"]["Environment"]["Variables"]
    assert env[MarketEnv.INDEX_ALIAS] == "spot-interruptions.market-write"
    assert env[MarketEnv.ADVISOR_URL] == DEFAULT_ADVISOR_URL


def test_the_function_reaches_the_advisor_file_through_a_nat_gateway(template):
    """The advisor's file is on the internet: the function runs in subnets whose default route
    is a NAT gateway, and its security group lets HTTPS out."""
    _, function = _function(template)
    vpc = function["Properties"]["VpcConfig"]
    subnets = [ref["Ref"] for ref in vpc["SubnetIds"]]
    assert subnets
    tables = {
        a["Properties"]["SubnetId"]["Ref"]: a["Properties"]["RouteTableId"]["Ref"]
        for a in _of_type(template, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    routes = _of_type(template, "AWS::EC2::Route").values()
    for subnet in subnets:
        default = [
            r["Properties"]
            for r in routes
            if r["Properties"]["RouteTableId"] == {"Ref": tables[subnet]}
            and r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
        ]
        assert [list(r) for r in default] and all("NatGatewayId" in r for r in default), subnet
    [group_id] = [g["Fn::GetAtt"][0] for g in vpc["SecurityGroupIds"]]
    egress = template["Resources"][group_id]["Properties"]["SecurityGroupEgress"]
    assert any(
        rule["CidrIp"] == "0.0.0.0/0"
        and (rule["IpProtocol"] == "-1" or rule.get("FromPort", 0) <= 443 <= rule.get("ToPort", 0))
        for rule in egress
    )


def test_the_advisor_url_is_a_prop_and_a_bad_one_fails_synth():
    stack = cdk.Stack(synth_app(), "Alone")
    ExposureSampler(
        stack,
        "Sampler",
        opensearch_endpoint="https://search.example",
        advisor_url="http://127.0.0.1:8080/advisor.json",
    )
    template = Template.from_stack(stack).to_json()
    [function] = [
        f
        for f in _of_type(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == HANDLER
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables[MarketEnv.ADVISOR_URL] == "http://127.0.0.1:8080/advisor.json"
    with pytest.raises(ValueError, match="advisor_url must be an http"):
        ExposureSampler(
            cdk.Stack(synth_app(), "Bad"),
            "Sampler",
            opensearch_endpoint="https://search.example",
            advisor_url="ftp://example/advisor.json",
        )
