"""The composed stack: how the constructs are wired, per configuration variant."""

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from lambda_src.contract import SIMULATION_SOURCE
from tests.stack.synth import VARIANTS, synth_stack


def _template(variant: str) -> Template:
    return Template.from_stack(synth_stack(VARIANTS[variant]))


@pytest.fixture(scope="module")
def default() -> Template:
    return _template("default")


@pytest.fixture(scope="module")
def production() -> Template:
    return _template("production-alb")


def _logical_id(template: Template, resource_type: str, props: dict | None = None) -> str:
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found))


def test_synthesizes_without_an_account() -> None:
    stack = synth_stack({})
    assert cdk.Token.is_unresolved(stack.account)
    assert cdk.Token.is_unresolved(stack.region)


def test_queue_is_consumed_only_after_the_index_exists(default: Template) -> None:
    setup = _logical_id(default, "Custom::SpotInsightsSearchSetup")
    mapping = default.find_resources("AWS::Lambda::EventSourceMapping")
    assert [setup in m.get("DependsOn", []) for m in mapping.values()] == [True]


def test_ingest_role_is_the_only_writer_backend_role(default: Template) -> None:
    functions = default.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "lambda_src.ingest.handler.handler"}}
    )
    (ingest,) = functions.values()
    role = ingest["Properties"]["Role"]["Fn::GetAtt"][0]
    default.has_resource_properties(
        "Custom::SpotInsightsSearchSetup",
        {"WriterBackendRoles": [{"Fn::GetAtt": [role, "Arn"]}], "RetentionDays": "365"},
    )


def test_domain_admits_https_only_from_ingest_provisioning_proxy_and_sampler(
    default: Template,
) -> None:
    domain_sg = default.find_resources(
        "AWS::EC2::SecurityGroup",
        {"Properties": {"GroupDescription": Match.string_like_regexp("OpenSearch domain")}},
    )
    assert len(domain_sg) == 1
    (domain_sg_id,) = domain_sg
    rules = [
        r["Properties"]
        for r in default.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [domain_sg_id, "GroupId"]}
    ]
    sources = sorted(rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in rules)
    assert [(r["FromPort"], r["ToPort"], r["IpProtocol"]) for r in rules] == [(443, 443, "tcp")] * 4
    owners = ["DashboardProxy", "Exposure", "Ingest", "SearchProvisioning"]
    assert [s.startswith(p) for s, p in zip(sources, owners, strict=True)] == [True] * 4
    assert domain_sg[domain_sg_id]["Properties"].get("SecurityGroupIngress") in (None, [])


def test_domain_is_private_encrypted_and_https_only(default: Template) -> None:
    default.has_resource_properties(
        "AWS::OpenSearchService::Domain",
        {
            "VPCOptions": {"SubnetIds": Match.any_value(), "SecurityGroupIds": Match.any_value()},
            "EncryptionAtRestOptions": {"Enabled": True},
            "NodeToNodeEncryptionOptions": {"Enabled": True},
            "DomainEndpointOptions": Match.object_like({"EnforceHTTPS": True}),
            "AdvancedSecurityOptions": Match.object_like(
                {"Enabled": True, "InternalUserDatabaseEnabled": True}
            ),
        },
    )


def test_alarm_notifications_can_use_the_topic_key(default: Template) -> None:
    default.has_resource_properties(
        "AWS::KMS::Key",
        {
            "Description": "Encrypts the Spot Insights alarm topic",
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            },
        },
    )
    default.resource_count_is("AWS::SNS::Subscription", 0)


def test_without_a_certificate_there_is_no_load_balancer(default: Template) -> None:
    default.resource_count_is("AWS::ElasticLoadBalancingV2::LoadBalancer", 0)
    outputs = default.find_outputs("*")
    assert any("PortForwardCommand" in name for name in outputs)
    command = next(v for k, v in outputs.items() if "PortForwardCommand" in k)
    assert "AWS-StartPortForwardingSessionToRemoteHost" in str(command["Value"])


def test_default_network_is_two_azs_with_one_nat(default: Template) -> None:
    default.resource_count_is("AWS::EC2::NatGateway", 1)
    default.resource_count_is("AWS::EC2::Subnet", 4)
    default.has_resource_properties("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"})
    default.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL"})


def test_production_with_certificate(production: Template) -> None:
    production.resource_count_is("AWS::ElasticLoadBalancingV2::LoadBalancer", 1)
    production.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener", {"Protocol": "HTTPS", "Port": 443}
    )
    production.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupIngress": Match.array_with(
                [
                    Match.object_like({"CidrIp": "203.0.113.0/24", "FromPort": 443}),
                    Match.object_like({"CidrIpv6": "2001:db8::/48", "FromPort": 443}),
                ]
            )
        },
    )
    # Three AZs, a NAT gateway per AZ for egress redundancy, and IPv6 for the v6 CIDR.
    production.resource_count_is("AWS::EC2::NatGateway", 3)
    production.resource_count_is("AWS::EC2::Subnet", 6)
    production.resource_count_is("AWS::EC2::VPCCidrBlock", 1)
    production.has_resource_properties(
        "AWS::OpenSearchService::Domain",
        {
            "ClusterConfig": Match.object_like(
                {"DedicatedMasterEnabled": True, "ZoneAwarenessEnabled": True}
            )
        },
    )
    production.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )
    production.has_resource_properties("Custom::SpotInsightsSearchSetup", {"RetentionDays": "90"})


def test_simulation_rule_only_when_enabled(default: Template) -> None:
    # One rule per accepted detail-type: warning, rebalance recommendation, eviction.
    default.resource_count_is("AWS::Events::Rule", 3)
    default.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"ACCEPTED_SOURCES": "aws.ec2"})}},
    )
    enabled = Template.from_stack(synth_stack({"simulationRule": "true"}))
    enabled.resource_count_is("AWS::Events::Rule", 4)
    enabled.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": Match.object_like({"source": [SIMULATION_SOURCE]})},
    )
    enabled.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like({"ACCEPTED_SOURCES": f"aws.ec2,{SIMULATION_SOURCE}"})
            }
        },
    )


def test_an_existing_vpc_is_looked_up_before_anything_is_built_on_it() -> None:
    # First pass of `cdk synth` with vpcId: the CLI sees the missing lookup, performs it and
    # runs the app again; the placeholder VPC (two AZs) must not fail production's three.
    stack = synth_stack({"vpcId": "vpc-0abc12345def67890", "profile": "production"})
    assembly = stack.node.root.synth()
    manifest = json.loads((Path(assembly.directory) / "manifest.json").read_text())
    assert [m["provider"] for m in manifest["missing"]] == ["vpc-provider"]


def test_tests_synthesize_with_cdk_json_feature_flags(default: Template) -> None:
    # @aws-cdk/aws-ec2:restrictDefaultSecurityGroup (cdk.json) adds this custom resource; a
    # test app without cdk.json's context would not have it, and `cdk synth` does.
    default.resource_count_is("Custom::VpcRestrictDefaultSG", 1)
