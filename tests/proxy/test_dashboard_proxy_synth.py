"""Synth assertions for DashboardProxy, used alone in a throwaway stack."""

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match, Template

from spot_insights._nginx_config import ProxySettings, render
from spot_insights.dashboard_proxy import DashboardProxy
from tests.support.cdk_app import synth_app

ENDPOINT = "vpc-spot-insights-abc123.us-east-1.es.amazonaws.com"
CERT_ARN = "arn:aws:acm:us-east-1:111111111111:certificate/0b2c3d4e-aaaa-bbbb-cccc-1234567890ab"
CIDRS = ["10.20.0.0/16", "192.0.2.7/32", "2001:db8::/32", "2001:db8:1:2::5/128"]
ENV = cdk.Environment(account="111111111111", region="us-east-1")


def _stack(env: cdk.Environment | None = ENV) -> tuple[cdk.Stack, ec2.Vpc]:
    stack = cdk.Stack(synth_app(), "ProxyOnly", env=env)
    return stack, ec2.Vpc(stack, "Vpc", max_azs=2)


def _certificate(stack: cdk.Stack) -> acm.ICertificate:
    return acm.Certificate.from_certificate_arn(stack, "Cert", CERT_ARN)


@pytest.fixture(scope="module")
def with_alb() -> Template:
    stack, vpc = _stack()
    DashboardProxy(
        stack,
        "Proxy",
        vpc=vpc,
        domain_endpoint=ENDPOINT,
        allowed_cidrs=CIDRS,
        certificate=_certificate(stack),
    )
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def port_forward_only() -> Template:
    stack, vpc = _stack(env=None)  # no certificate: works in an environment-agnostic stack
    DashboardProxy(stack, "Proxy", vpc=vpc, domain_endpoint=f"https://{ENDPOINT}/")
    return Template.from_stack(stack)


def _one(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> dict:
    found = template.find_resources(
        resource_type, {"Properties": Match.object_like(props)} if props else None
    )
    assert len(found) == 1, (resource_type, list(found))
    return next(iter(found.values()))["Properties"]


def _user_data(template: Template) -> str:
    user_data = _one(template, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]["UserData"]
    value = user_data["Fn::Base64"]
    if isinstance(value, str):
        return value
    return "".join(p if isinstance(p, str) else json.dumps(p) for p in value["Fn::Join"][1])


def test_https_listener_uses_the_certificate_and_a_current_tls_policy(with_alb: Template) -> None:
    listener = _one(with_alb, "AWS::ElasticLoadBalancingV2::Listener", {"Protocol": "HTTPS"})
    assert listener["Port"] == 443
    assert listener["Certificates"] == [{"CertificateArn": CERT_ARN}]
    assert listener["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    assert listener["DefaultActions"][0]["Type"] == "forward"


def test_http_only_redirects_to_https(with_alb: Template) -> None:
    listener = _one(with_alb, "AWS::ElasticLoadBalancingV2::Listener", {"Protocol": "HTTP"})
    assert listener["Port"] == 80
    [action] = listener["DefaultActions"]
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"] == {
        "Port": "443",
        "Protocol": "HTTPS",
        "StatusCode": "HTTP_301",
    }


def test_load_balancer_drops_invalid_headers_and_logs_to_an_encrypted_tls_only_bucket(
    with_alb: Template,
) -> None:
    alb = _one(with_alb, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["idle_timeout.timeout_seconds"] == "300"  # matches nginx's upstream wait
    assert attributes["access_logs.s3.enabled"] == "true"
    assert alb["Scheme"] == "internal"
    assert alb["IpAddressType"] == "dualstack"  # IPv6 CIDRs are allowed, so IPv6 is served

    [(bucket_id, bucket)] = with_alb.find_resources("AWS::S3::Bucket").items()
    assert attributes["access_logs.s3.bucket"] == {"Ref": bucket_id}
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    policy = _one(with_alb, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    denies = [s for s in policy if s["Effect"] == "Deny"]
    assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_load_balancer_admits_exactly_the_allowed_cidrs(with_alb: Template) -> None:
    group = _one(
        with_alb,
        "AWS::EC2::SecurityGroup",
        {"GroupDescription": Match.string_like_regexp("load balancer")},
    )
    rules = {
        (r.get("CidrIp") or r.get("CidrIpv6"), r["FromPort"], r["ToPort"])
        for r in group["SecurityGroupIngress"]
    }
    assert rules == {(cidr, port, port) for cidr in CIDRS for port in (443, 80)}
    v6 = [r for r in group["SecurityGroupIngress"] if "CidrIpv6" in r]
    assert {r["CidrIpv6"] for r in v6} == {"2001:db8::/32", "2001:db8:1:2::5/128"}


def test_hosts_only_admit_the_load_balancer(with_alb: Template) -> None:
    host_group = _one(
        with_alb, "AWS::EC2::SecurityGroup", {"GroupDescription": "Dashboards proxy hosts"}
    )
    assert "SecurityGroupIngress" not in host_group
    ingress = with_alb.find_resources("AWS::EC2::SecurityGroupIngress")
    [rule] = [r["Properties"] for r in ingress.values()]
    assert (rule["FromPort"], rule["ToPort"]) == (80, 80)
    assert "SourceSecurityGroupId" in rule
    assert host_group["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS to the domain, SSM and packages",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


def test_hosts_require_imdsv2_encrypt_the_root_volume_and_have_no_ssh_key(
    with_alb: Template,
) -> None:
    data = _one(with_alb, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert "KeyName" not in data
    assert "InstanceMarketOptions" not in data  # on-demand
    assert data["InstanceType"] == "t4g.small"
    [device] = data["BlockDeviceMappings"]
    assert device["DeviceName"] == "/dev/xvda"
    assert device["Ebs"]["Encrypted"] is True
    # Latest AL2023 from the public SSM parameter, resolved at launch: no AMI parameter.
    assert data["ImageId"] == (
        "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    )
    assert set(with_alb.to_json().get("Parameters", {})) <= {"BootstrapVersion"}


def test_hosts_are_managed_by_session_manager(with_alb: Template) -> None:
    role = _one(
        with_alb,
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "ec2.amazonaws.com"}})]}
            )
        },
    )
    assert "AmazonSSMManagedInstanceCore" in json.dumps(role["ManagedPolicyArns"])


def test_group_is_on_demand_and_health_checked_through_the_load_balancer(
    with_alb: Template,
) -> None:
    group = _one(with_alb, "AWS::AutoScaling::AutoScalingGroup")
    assert group["MinSize"] == "1"
    assert group["HealthCheckType"] == "ELB"
    assert "MixedInstancesPolicy" not in group
    target_group = _one(with_alb, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert target_group["HealthCheckPath"] == "/health"
    assert (target_group["Port"], target_group["Protocol"]) == (80, "HTTP")


def test_user_data_installs_nginx_with_the_rendered_config(with_alb: Template) -> None:
    script = _user_data(with_alb)
    assert "dnf install -y nginx" in script
    # An internal load balancer (the default) sits in the private subnets: only they are trusted
    # to name the client (real IP).
    private = ["10.0.128.0/18", "10.0.192.0/18"]
    rendered = render(ProxySettings(upstream_host=ENDPOINT, hsts=True, load_balancer_cidrs=private))
    assert rendered.rstrip("\n") in script
    assert script.index("cat > /etc/nginx/nginx.conf") < script.index("nginx -t")
    assert "systemctl enable nginx" in script


def test_without_a_certificate_there_is_no_load_balancer_but_a_port_forward_command(
    port_forward_only: Template,
) -> None:
    resources = port_forward_only.to_json()["Resources"]
    kinds = {r["Type"] for r in resources.values()}
    assert not any(k.startswith("AWS::ElasticLoadBalancingV2::") for k in kinds)
    assert "AWS::S3::Bucket" not in kinds
    group = _one(port_forward_only, "AWS::AutoScaling::AutoScalingGroup")
    assert group["HealthCheckType"] == "EC2"

    outputs = port_forward_only.to_json()["Outputs"]
    [command] = [o["Value"] for key, o in outputs.items() if "PortForwardCommand" in key]
    text = "".join(p if isinstance(p, str) else json.dumps(p) for p in command["Fn::Join"][1])
    assert text.startswith("aws ssm start-session ")
    assert "--document-name AWS-StartPortForwardingSessionToRemoteHost" in text
    assert '"portNumber":["80"]' in text
    assert '"localPortNumber":["8080"]' in text
    [group_id] = port_forward_only.find_resources("AWS::AutoScaling::AutoScalingGroup")
    assert json.dumps({"Ref": group_id}) in text  # the target is looked up from the group
    assert not any("DashboardsUrl" in key for key in outputs)

    host_group = _one(port_forward_only, "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in host_group
    assert port_forward_only.find_resources("AWS::EC2::SecurityGroupIngress") == {}
    # No HTTPS in front: HSTS would be meaningless, so it is not sent.
    script = _user_data(port_forward_only)
    assert render(ProxySettings(upstream_host=ENDPOINT, hsts=False)).rstrip("\n") in script


def test_x86_instance_types_get_the_x86_image() -> None:
    stack, vpc = _stack(env=None)
    DashboardProxy(
        stack,
        "Proxy",
        vpc=vpc,
        domain_endpoint=ENDPOINT,
        instance_type=ec2.InstanceType("m7i.large"),
    )
    data = _one(Template.from_stack(stack), "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    assert data["ImageId"].endswith("al2023-ami-kernel-default-x86_64")
    assert data["InstanceType"] == "m7i.large"


def test_a_token_endpoint_lands_in_the_config() -> None:
    stack, vpc = _stack(env=None)
    DashboardProxy(stack, "Proxy", vpc=vpc, domain_endpoint=cdk.Fn.import_value("DomainEndpoint"))
    script = _user_data(Template.from_stack(stack))
    assert "spot-insights.invalid" not in script
    imported = json.dumps({"Fn::ImportValue": "DomainEndpoint"})
    assert script.count(imported) >= 4  # proxy_pass, SNI name, Host header, redirects


def test_connections_let_the_domain_admit_the_proxy() -> None:
    stack, vpc = _stack(env=None)
    proxy = DashboardProxy(stack, "Proxy", vpc=vpc, domain_endpoint=ENDPOINT)
    domain_group = ec2.SecurityGroup(stack, "DomainGroup", vpc=vpc)
    domain_group.connections.allow_from(proxy, ec2.Port.tcp(443))
    template = Template.from_stack(stack)
    [rule] = template.find_resources("AWS::EC2::SecurityGroupIngress").values()
    assert rule["Properties"]["FromPort"] == 443
    assert rule["Properties"]["SourceSecurityGroupId"] == {
        "Fn::GetAtt": [stack.get_logical_id(proxy.security_group.node.default_child), "GroupId"]
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"allowed_cidrs": ["10.0.0.1/8"], "certificate": True},
            r"allowed_cidrs\[0\].*host bits set \(the network is 10.0.0.0/8\)",
        ),
        ({"allowed_cidrs": ["10.0.0.0/8", "nope"], "certificate": True}, r"allowed_cidrs\[1\]"),
        ({"allowed_cidrs": "10.0.0.0/8", "certificate": True}, "a list"),
        ({"allowed_cidrs": ["10.0.0.0/8"]}, "only created with a certificate"),
        ({"internet_facing": True}, "only created with a certificate"),
        ({"min_capacity": 0}, "min_capacity"),
        ({"min_capacity": 2, "max_capacity": 1}, "min_capacity"),
        ({"domain_endpoint": "not a host"}, "DNS name"),
        ({"local_port": 0}, "local_port"),
    ],
)
def test_bad_props_are_refused(kwargs: dict[str, Any], message: str) -> None:
    stack, vpc = _stack()
    props: dict[str, Any] = {"domain_endpoint": ENDPOINT, **kwargs}
    if props.pop("certificate", False):
        props["certificate"] = _certificate(stack)
    with pytest.raises(ValueError, match=message):
        DashboardProxy(stack, "Proxy", vpc=vpc, **props)


def test_access_logs_work_in_a_stack_without_a_region() -> None:
    stack, vpc = _stack(env=None)
    DashboardProxy(
        stack,
        "Proxy",
        vpc=vpc,
        domain_endpoint=ENDPOINT,
        allowed_cidrs=["10.0.0.0/8"],
        certificate=_certificate(stack),
    )
    template = Template.from_stack(stack).to_json()
    [(_alb_id, alb)] = [
        (k, r)
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
    ]
    attributes = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.prefix"] == "dashboard-proxy"
    assert alb["Properties"]["IpAddressType"] == "ipv4"  # no IPv6 CIDR, no dual stack
    [(policy_id, policy)] = [
        (k, r) for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::BucketPolicy"
    ]
    assert policy_id in alb["DependsOn"]  # ELB tests its write access when logging is enabled
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    principals = json.dumps([s["Principal"] for s in statements if s["Effect"] == "Allow"])
    assert "logdelivery.elasticloadbalancing.amazonaws.com" in principals
    assert "Fn::If" in principals
    [mapping] = template["Mappings"].values()
    assert mapping["us-east-1"] == {"account": "127311923021"}  # a region from before Aug 2022
    assert mapping["il-central-1"] == {"account": "none"}  # a newer one: service principal only
    [condition] = template["Conditions"].values()
    assert "Fn::Not" in condition


def test_the_region_specific_grant_when_the_region_is_known(with_alb: Template) -> None:
    policy = _one(with_alb, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    principals = json.dumps([s["Principal"] for s in policy if s["Effect"] == "Allow"])
    assert ":iam::127311923021:root" in principals  # ELB's log-delivery account in us-east-1
