"""DashboardProxy alone passes cdk-nag's AwsSolutions pack and cfn-lint in each mode, and its
no-healthy-host alarm exists in each mode."""

import json

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_all

from spot_insights.dashboard_proxy import DashboardProxy
from tests.support.cdk_app import synth_app

CERT_ARN = "arn:aws:acm:us-east-1:111111111111:certificate/0b2c3d4e-aaaa-bbbb-cccc-1234567890ab"
MODES = {
    "alb-with-region": {"certificate": True, "region": "us-east-1"},
    "alb-region-agnostic": {"certificate": True, "region": None},
    "port-forward-only": {"certificate": False, "region": None},
}


def _stack(mode: str, topic: bool = False) -> cdk.Stack:
    app = synth_app()
    spec = MODES[mode]
    env = cdk.Environment(account="111111111111", region=spec["region"]) if spec["region"] else None
    stack = cdk.Stack(app, "ProxyOnly", env=env)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    props: dict[str, object] = {}
    if spec["certificate"]:
        props["certificate"] = acm.Certificate.from_certificate_arn(stack, "Cert", CERT_ARN)
        props["allowed_cidrs"] = ["198.51.100.0/24", "2001:db8::/48"]
    if topic:
        props["alarm_topic"] = sns.Topic(stack, "Alarms", enforce_ssl=True)
    DashboardProxy(
        stack, "Proxy", vpc=vpc, domain_endpoint="vpc-x.us-east-1.es.amazonaws.com", **props
    )
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stack


@pytest.mark.parametrize("mode", sorted(MODES))
def test_cdk_nag_finds_nothing_unsuppressed_in_the_proxy(mode: str) -> None:
    stack = _stack(mode)
    annotations = assertions.Annotations.from_stack(stack)
    pattern = assertions.Match.string_like_regexp("AwsSolutions-.*")
    messages = [*annotations.find_error("*", pattern), *annotations.find_warning("*", pattern)]
    # The checks ran: the bare test VPC (no flow logs) is reported.
    assert any("AwsSolutions-VPC7" in str(m.entry.data) for m in messages)
    found = [f"{m.id}: {m.entry.data}" for m in messages if "/Proxy/" in m.id]
    assert found == []


@pytest.mark.parametrize("mode", sorted(MODES))
def test_cfn_lint_is_clean(mode: str) -> None:
    template = assertions.Template.from_stack(_stack(mode)).to_json()
    findings = [
        f"{m.rule.id} {m.path}: {m.message}"
        for m in lint_all(json.dumps(template))
        if m.rule.id[0] in "EW"
        # The test VPC's dummy AZs in a stack with an explicit environment; not the proxy's.
        and not (m.rule.id == "W3010" and str(m.path[1]).startswith("Vpc"))
    ]
    assert findings == []


@pytest.mark.parametrize("mode", sorted(MODES))
def test_an_alarm_fires_when_no_host_serves(mode: str) -> None:
    template = assertions.Template.from_stack(_stack(mode, topic=True))
    [alarm] = template.find_resources("AWS::CloudWatch::Alarm").values()
    props = alarm["Properties"]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("LessThanThreshold", 1)
    assert props["TreatMissingData"] == "breaching"
    expected = "HealthyHostCount" if MODES[mode]["certificate"] else "GroupInServiceInstances"
    assert props["MetricName"] == expected
    [(topic_id, _)] = template.find_resources("AWS::SNS::Topic").items()
    assert props["AlarmActions"] == [{"Ref": topic_id}]
