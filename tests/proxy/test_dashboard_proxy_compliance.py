"""DashboardProxy alone passes cdk-nag's AwsSolutions pack and cfn-lint in each mode, and its
no-healthy-host alarm exists in each mode."""

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions

from spot_insights.dashboard_proxy import DashboardProxy
from tests.support.cdk_app import synth_app
from tests.support.cfn_lint import lint_findings

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
    # With cdk.json's flags an unsuppressed nag error fails synth; the bare test VPC's missing
    # flow log is expected (and logged as ignored, which shows the checks ran).
    NagSuppressions.add_resource_suppressions(
        vpc, [NagPackSuppression(id="AwsSolutions-VPC7", reason="bare VPC of this test only")]
    )
    props: dict[str, object] = {}
    if spec["certificate"]:
        props["certificate"] = acm.Certificate.from_certificate_arn(stack, "Cert", CERT_ARN)
        props["allowed_cidrs"] = ["198.51.100.0/24", "2001:db8::/48"]
    if topic:
        props["alarm_topic"] = sns.Topic(stack, "Alarms", enforce_ssl=True)
    DashboardProxy(
        stack, "Proxy", vpc=vpc, domain_endpoint="vpc-x.us-east-1.es.amazonaws.com", **props
    )
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True, log_ignores=True))
    return stack


@pytest.mark.parametrize("mode", sorted(MODES))
def test_cdk_nag_finds_nothing_unsuppressed_in_the_proxy(mode: str) -> None:
    stack = _stack(mode)
    annotations = assertions.Annotations.from_stack(stack)
    pattern = assertions.Match.string_like_regexp("AwsSolutions-.*")
    messages = [*annotations.find_error("*", pattern), *annotations.find_warning("*", pattern)]
    # The checks ran: the bare test VPC's finding was seen (and ignored as suppressed).
    ignored = annotations.find_info("*", assertions.Match.string_like_regexp(".*VPC7.*"))
    assert ignored
    found = [f"{m.id}: {m.entry.data}" for m in messages if "/Proxy/" in m.id]
    assert found == []


@pytest.mark.parametrize("mode", sorted(MODES))
def test_cfn_lint_is_clean(mode: str) -> None:
    template = assertions.Template.from_stack(_stack(mode)).to_json()
    assert lint_findings(template) == []


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
