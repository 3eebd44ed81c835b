"""The rendered config DashboardProxy ships: it trusts exactly its load balancer's subnets to
name the client's address (read from the synthesized template: the subnets the ALB is placed
in), and refuses Dev Tools' console proxy unless asked."""

import base64
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Template

from spot_insights.dashboard_proxy import DashboardProxy
from tests.support.cdk_app import synth_app

ENDPOINT = "vpc-spot-insights-abc123.us-east-1.es.amazonaws.com"
CERT_ARN = "arn:aws:acm:us-east-1:111111111111:certificate/0b2c3d4e-aaaa-bbbb-cccc-1234567890ab"


def _proxy(**props: object) -> tuple[DashboardProxy, Template]:
    stack = cdk.Stack(synth_app(), "ProxyOnly")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    if props.pop("with_certificate", True):
        props["certificate"] = acm.Certificate.from_certificate_arn(stack, "Cert", CERT_ARN)
    proxy = DashboardProxy(stack, "Proxy", vpc=vpc, domain_endpoint=ENDPOINT, **props)
    return proxy, Template.from_stack(stack)


def _load_balancer_subnet_cidrs(template: Template) -> list[str]:
    [alb] = template.find_resources("AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    subnets = template.find_resources("AWS::EC2::Subnet")
    return sorted(
        subnets[ref["Ref"]]["Properties"]["CidrBlock"] for ref in alb["Properties"]["Subnets"]
    )


def _trusted(config: str) -> list[str]:
    return sorted(re.findall(r"^\s*set_real_ip_from (\S+);", config, flags=re.MULTILINE))


@pytest.mark.parametrize("internet_facing", [False, True])
def test_real_ip_comes_only_from_the_load_balancer_subnets(internet_facing: bool) -> None:
    proxy, template = _proxy(internet_facing=internet_facing, allowed_cidrs=["192.0.2.0/24"])
    expected = _load_balancer_subnet_cidrs(template)
    assert len(expected) == 2
    assert _trusted(proxy.nginx_config) == expected
    geo = proxy.nginx_config.split("$from_load_balancer {", 1)[1].split("}", 1)[0]
    assert sorted(re.findall(r"(\S+) 1;", geo)) == expected


def test_chosen_load_balancer_subnets_are_the_trusted_ones() -> None:
    selection = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC, one_per_az=True)
    proxy, template = _proxy(load_balancer_subnets=selection)
    assert _trusted(proxy.nginx_config) == _load_balancer_subnet_cidrs(template)


def test_without_a_load_balancer_no_peer_is_trusted() -> None:
    proxy, _template = _proxy(with_certificate=False)
    assert _trusted(proxy.nginx_config) == []


@pytest.mark.parametrize("console_proxy", [False, True])
def test_the_console_proxy_is_an_opt_in(console_proxy: bool) -> None:
    props: dict[str, object] = {"with_certificate": False}
    if console_proxy:
        props["console_proxy"] = True
    proxy, _template = _proxy(**props)
    refused = "location ~* ^/_dashboards/api/console(?:/|$)" in proxy.nginx_config
    assert refused is not console_proxy


def test_the_user_data_stays_within_the_ec2_limit() -> None:
    """EC2 refuses user data over 16 KB; the proxy config is most of it."""
    _proxy_construct, template = _proxy(allowed_cidrs=["192.0.2.0/24"])
    [launch_template] = template.find_resources("AWS::EC2::LaunchTemplate").values()
    script = launch_template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    assert isinstance(script, str)  # a literal endpoint: no tokens left to join
    assert len(base64.b64encode(script.encode())) <= 16 * 1024
