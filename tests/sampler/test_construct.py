"""ExposureSampler in the synthesized stack: what CloudFormation, Scheduler and Lambda do with
it at deploy and run time, encoded as assertions on the template."""

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from lambda_src.contract import SCHEDULED_TIME_KEY, SCHEDULED_TIME_PLACEHOLDER
from spot_insights import ExposureSampler
from spot_insights.settings import SettingsError
from tests.stack.synth import VARIANTS, synth_stack
from tests.support.cdk_app import synth_app

HANDLER = "lambda_src.sampler.handler.handler"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return Template.from_stack(synth_stack(VARIANTS["default"])).to_json()


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _schedule(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The tick's schedule (the daily market schedule is tests/market's)."""
    [(logical_id, schedule)] = [
        (k, s)
        for k, s in _of_type(template, "AWS::Scheduler::Schedule").items()
        if s["Properties"]["ScheduleExpression"].startswith("rate(")
    ]
    return logical_id, schedule


def _function_id(template: dict[str, Any]) -> str:
    [logical_id] = [
        k
        for k, f in _of_type(template, "AWS::Lambda::Function").items()
        if f["Properties"].get("Handler") == HANDLER
    ]
    return logical_id


def _statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_every_ten_minutes_exactly_with_the_scheduled_time_as_input(template):
    _, schedule = _schedule(template)
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(10 minutes)"
    # Off: ticks are exactly one interval apart, so count x interval is the exposure.
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["State"] == "ENABLED"
    target = props["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [_function_id(template), "Arn"]}
    assert json.loads(target["Input"]) == {SCHEDULED_TIME_KEY: SCHEDULED_TIME_PLACEHOLDER}


def test_failed_deliveries_and_failed_runs_are_retried_then_kept_in_one_dlq(template):
    _, schedule = _schedule(template)
    target = schedule["Properties"]["Target"]
    [(dlq_id, dlq)] = [
        (k, q) for k, q in _of_type(template, "AWS::SQS::Queue").items() if "Exposure" in k
    ]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    # Scheduler invokes asynchronously: a run that raises is retried by Lambda, then parked.
    [config] = _of_type(template, "AWS::Lambda::EventInvokeConfig").values()
    props = config["Properties"]
    assert props["FunctionName"] == {"Ref": _function_id(template)}
    assert props["MaximumRetryAttempts"] == 2
    assert props["MaximumEventAgeInSeconds"] == 600
    assert props["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    }
    alarms = [
        a["Properties"]
        for k, a in _of_type(template, "AWS::CloudWatch::Alarm").items()
        if k.startswith("Exposure")
    ]
    dlq_alarm = [a for a in alarms if a["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    assert dlq_alarm and dlq_alarm[0]["AlarmActions"], "the DLQ alarm notifies the alarm topic"


def test_scheduler_assumes_its_role_only_for_this_accounts_schedules(template):
    _, schedule = _schedule(template)
    role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role = template["Resources"][role_id]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = json.dumps(trust["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":scheduler:" in source_arn and "schedule/default/*" in source_arn
    actions = sorted(
        a
        for s in _statements(template, role_id)
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == ["lambda:InvokeFunction", "sqs:SendMessage"]
    invoke = [s for s in _statements(template, role_id) if s["Action"] == "lambda:InvokeFunction"]
    resources = json.dumps([s["Resource"] for s in invoke])
    assert _function_id(template) in resources


def test_the_sampler_writes_the_exposure_family_only_and_starts_after_provisioning(template):
    function = template["Resources"][_function_id(template)]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _statements(template, role_id)
    opensearch = [s for s in statements if "es:" in json.dumps(s["Action"])]
    [domain_id] = _of_type(template, "AWS::OpenSearchService::Domain")
    assert opensearch == [
        {
            "Action": ["es:ESHttpPost", "es:ESHttpPut"],
            "Effect": "Allow",
            # And the market context family (tests/market), both families only.
            "Resource": [
                {
                    "Fn::Join": [
                        "",
                        [{"Fn::GetAtt": [domain_id, "Arn"]}, f"/spot-interruptions.{family}-*"],
                    ]
                }
                for family in ("exposure", "market")
            ],
        }
    ]
    ec2 = [s for s in statements if "ec2:" in json.dumps(s["Action"])]
    assert ec2 == [
        {
            "Action": [
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeInstances",
                "ec2:DescribeSpotPriceHistory",
            ],
            "Effect": "Allow",
            "Resource": "*",
        }
    ]
    [(resource_id, resource)] = _of_type(template, "Custom::SpotInsightsSearchSetup").items()
    props = resource["Properties"]
    assert props["ExposureWriterBackendRoles"] == [{"Fn::GetAtt": [role_id, "Arn"]}]
    assert {"Fn::GetAtt": [role_id, "Arn"]} not in props["WriterBackendRoles"]
    _, schedule = _schedule(template)
    assert resource_id in schedule.get("DependsOn", []), "the first tick meets a write alias"
    env = function["Properties"]["Environment"]["Variables"]
    assert env["INDEX_ALIAS"] == "spot-interruptions.exposure-write"
    assert env["SAMPLE_INTERVAL_SECONDS"] == "600"


def test_the_interval_comes_from_context_and_a_bad_one_fails_synth_in_one_line():
    stack = synth_stack({"exposureIntervalMinutes": "5"})
    _, schedule = _schedule(Template.from_stack(stack).to_json())
    assert schedule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    for bad in ("0", "1441", "ten", 2.5):
        with pytest.raises(SettingsError) as error:
            synth_stack({"exposureIntervalMinutes": bad})
        assert "\n" not in str(error.value)
        assert "exposureIntervalMinutes" in str(error.value)
        assert "1 to 1440" in str(error.value)


def test_the_construct_works_alone_and_validates_its_props():
    stack = cdk.Stack(synth_app(), "Alone")
    ExposureSampler(stack, "Sampler", opensearch_endpoint="https://search.example")
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Scheduler::Schedule", 2)  # ticks and the market run
    template.resource_count_is("AWS::KMS::Key", 1)
    for kwargs, message in (
        ({"interval_minutes": 0}, "interval_minutes must be a whole number of minutes"),
        ({"retry_attempts": 3}, "retry_attempts must be 0-2"),
        ({"discovery_days": 366}, "discovery_days must be 0-365"),
        ({"index_prefix": "Bad Prefix"}, "index_prefix"),
    ):
        with pytest.raises(ValueError, match=message):
            ExposureSampler(
                cdk.Stack(synth_app(), "Bad"),
                "Sampler",
                opensearch_endpoint="https://search.example",
                **kwargs,
            )
