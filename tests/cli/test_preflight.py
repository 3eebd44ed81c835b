"""`spot-insights preflight` against moto (server mode, `aws` fixture) where moto has the APIs:
STS, SSM, IAM GetRole, ACM, EC2 (AZs, instance type offerings, VPCs, routes, endpoints) and
OpenSearch ListDomainNames. Where moto lacks them, recorded responses through botocore's
Stubber (validated against the service model): IAM SimulatePrincipalPolicy, OpenSearch
ListInstanceTypeDetails and Service Quotas ListServiceQuotas for `es`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from spot_cli import preflight
from spot_cli.main import main
from spot_cli.preflight import FAIL, PASS, WARN, Plan, check_vpc, read_plan
from tests.support.pki import TestCA

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ENGINE = "OpenSearch_2.19"
SLR = "AWSServiceRoleForAmazonOpenSearchService"

# The parts of a synthesized template preflight reads, in the shape `cdk synth` writes them
# (test_reads_the_real_synthesized_template checks read_plan against the real one).
BOOTSTRAP_RULE = {
    "Assertions": [
        {
            "Assert": {
                "Fn::Not": [
                    {"Fn::Contains": [["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}
                ]
            },
            "AssertDescription": "CDK bootstrap stack version 6 required.",
        }
    ]
}


def template(*, production: bool = False, extra: str = "") -> dict[str, Any]:
    cluster: dict[str, Any] = {"InstanceType": "t3.small.search", "InstanceCount": 1}
    if production:
        cluster = {
            "InstanceType": "r7g.large.search",
            "InstanceCount": 2,
            "DedicatedMasterEnabled": True,
            "DedicatedMasterType": "m7g.large.search",
            "ZoneAwarenessEnabled": True,
            "ZoneAwarenessConfig": {"AvailabilityZoneCount": 2},
        }
    subnet = {"Type": "AWS::EC2::Subnet", "Properties": {}}
    resources: dict[str, Any] = {
        "Domain": {
            "Type": "AWS::OpenSearchService::Domain",
            "Properties": {"EngineVersion": ENGINE, "ClusterConfig": cluster},
        },
        "ProxyLaunchTemplate": {
            "Type": "AWS::EC2::LaunchTemplate",
            "Properties": {"LaunchTemplateData": {"InstanceType": "t4g.small"}},
        },
    }
    for index in (0, 1):
        az = {"Fn::Select": [index, {"Fn::GetAZs": ""}]}
        resources[f"Private{index}"] = {**subnet, "Properties": {"AvailabilityZone": az}}
    if extra:
        resources["Listener"] = {"Type": "X", "Properties": {"Certificates": [extra]}}
    return {
        "Parameters": {
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/cdk-bootstrap/hnb659fds/version",
            }
        },
        "Rules": {"CheckBootstrapVersion": BOOTSTRAP_RULE},
        "Resources": resources,
    }


class Split:
    """One service client: moto for the operations it implements, a Stubber for the rest."""

    def __init__(self, real: Any, stubbed: Any, operations: set[str]) -> None:
        self._real, self._stubbed, self._operations = real, stubbed, operations

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stubbed if name in self._operations else self._real, name)


class Recorded:
    """Stubbed clients with their recorded answers, and a factory preflight can use."""

    def __init__(self) -> None:
        self.stubbers: dict[str, Stubber] = {}
        self.clients: dict[str, Any] = {}
        for name in ("iam", "opensearch", "service-quotas"):
            # Stubbed clients never leave the process; the endpoint just needs to be valid.
            client = boto3.client(name, region_name=REGION, endpoint_url="https://stub.invalid")
            self.clients[name] = client
            self.stubbers[name] = Stubber(client)
            self.stubbers[name].activate()

    def instance_types(self, *types: str, azs: int = 3) -> None:
        zones = [f"{REGION}{letter}" for letter in "abcdef"[:azs]]
        self.stubbers["opensearch"].add_response(
            "list_instance_type_details",
            {
                "InstanceTypeDetails": [
                    {"InstanceType": t, "AvailabilityZones": zones} for t in types
                ]
            },
            {"EngineVersion": ENGINE},
        )

    def domain_quota(self, value: float) -> None:
        self.stubbers["service-quotas"].add_response(
            "list_service_quotas",
            {
                "Quotas": [
                    {"ServiceCode": "es", "QuotaName": "Domains per Region", "Value": value},
                    {"ServiceCode": "es", "QuotaName": "Instances per domain", "Value": 80.0},
                ]
            },
            {"ServiceCode": "es"},
        )

    def may_create_role(self, decision: str) -> None:
        self.stubbers["iam"].add_response(
            "simulate_principal_policy",
            {
                "EvaluationResults": [
                    {"EvalActionName": "iam:CreateServiceLinkedRole", "EvalDecision": decision}
                ]
            },
        )

    def factory(self, name: str) -> Any:
        real = boto3.client(name, region_name=REGION)
        if name == "iam":
            return Split(real, self.clients["iam"], {"simulate_principal_policy"})
        if name == "opensearch":
            return Split(real, self.clients["opensearch"], {"list_instance_type_details"})
        return self.clients.get(name, real)

    def all_used(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def recorded(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    stubs = Recorded()
    monkeypatch.setattr(preflight, "aws_clients", lambda region: (region or REGION, stubs.factory))
    yield stubs


def _write(tmp_path: Path, body: dict[str, Any]) -> Path:
    path = tmp_path / "SpotInsights.template.json"
    path.write_text(json.dumps(body))
    return path


def _run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, body: dict[str, Any], *args: str
) -> tuple[int, dict[str, dict[str, str]]]:
    path = _write(tmp_path, body)
    code = main(["preflight", "--json", "--app-dir", str(ROOT), "--template", str(path), *args])
    out = json.loads(capsys.readouterr().out)
    return code, {check["name"]: check for check in out["checks"]}


def _issued_certificate(tmp_path: Path) -> str:
    issued = TestCA(tmp_path, "acm").issue("dashboards.example.com")
    acm = boto3.client("acm", region_name=REGION)
    return acm.import_certificate(
        Certificate=issued.cert_file.read_bytes(), PrivateKey=issued.key_file.read_bytes()
    )["CertificateArn"]


def _ready_account(tmp_path: Path) -> str:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="27", Type="String"
    )
    # moto's CreateServiceLinkedRole names the role after the service principal, not as AWS
    # does, so the role is made with the name and path AWS gives it.
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "opensearchservice.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    boto3.client("iam", region_name=REGION).create_role(
        RoleName=SLR,
        Path="/aws-service-role/opensearchservice.amazonaws.com/",
        AssumeRolePolicyDocument=json.dumps(trust),
    )
    return _issued_certificate(tmp_path)


def test_a_ready_account_passes_every_check(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = _ready_account(tmp_path)
    recorded.instance_types("r7g.large.search", "m7g.large.search")
    recorded.domain_quota(100.0)
    body = template(production=True, extra=cert)
    code, checks = _run(
        capsys,
        tmp_path,
        body,
        *("-c", "profile=production", "-c", "allowedCidrs=203.0.113.0/24"),
        *("--certificate-arn", cert),
    )
    assert {name: c["status"] for name, c in checks.items()} == {
        "template matches settings": PASS,
        "CDK bootstrap": PASS,
        "OpenSearch service-linked role": PASS,
        "certificate": PASS,
        "EC2 instance types": PASS,
        "OpenSearch instance types": PASS,
        "OpenSearch domain quota": PASS,
    }, checks
    assert code == 0
    assert checks["CDK bootstrap"]["detail"] == "version 27 (needs 6)"
    assert checks["EC2 instance types"]["detail"] == "t4g.small offered in us-east-1a, us-east-1b"
    assert checks["OpenSearch domain quota"]["detail"] == "0 of 100 domains used (Service Quotas)"
    recorded.all_used()


def test_a_fresh_account_fails_with_one_line_of_advice_each(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acm = boto3.client("acm", region_name=REGION)
    pending = acm.request_certificate(DomainName="dashboards.example.com", ValidationMethod="DNS")
    cert = pending["CertificateArn"]
    recorded.may_create_role("implicitDeny")
    recorded.instance_types("t3.medium.search")  # t3.small.search not offered for the engine
    boto3.client("opensearch", region_name=REGION).create_domain(DomainName="existing")
    recorded.domain_quota(1.0)
    code, checks = _run(
        capsys,
        tmp_path,
        template(extra=cert),
        *("-c", f"certificateArn={cert}", "-c", "allowedCidrs=203.0.113.0/24"),
    )
    assert code == 1
    failed = {name for name, c in checks.items() if c["status"] == FAIL}
    assert failed == {
        "CDK bootstrap",
        "OpenSearch service-linked role",
        "certificate",
        "OpenSearch instance types",
        "OpenSearch domain quota",
    }
    assert (
        checks["CDK bootstrap"]["advice"]
        == "run `npx cdk bootstrap aws://123456789012/us-east-1` once"
    )
    assert (
        "iam:CreateServiceLinkedRole is implicitDeny"
        in checks["OpenSearch service-linked role"]["detail"]
    )
    assert "create-service-linked-role" in checks["OpenSearch service-linked role"]["advice"]
    assert checks["certificate"]["detail"].startswith("status PENDING_VALIDATION")
    assert (
        checks["OpenSearch instance types"]["detail"]
        == "t3.small.search not offered for OpenSearch_2.19"
    )
    assert (
        checks["OpenSearch domain quota"]["detail"]
        == "1 domains of 1 (Service Quotas) already exist"
    )
    for check in checks.values():
        assert "\n" not in check["detail"] + check["advice"]
        assert check["status"] == PASS or check["advice"]
    recorded.all_used()


def test_the_table_names_each_check_and_its_advice(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="5", Type="String"
    )
    recorded.may_create_role("allowed")
    recorded.instance_types("t3.small.search")
    recorded.domain_quota(100.0)
    path = _write(tmp_path, template())
    code = main(["preflight", "--app-dir", str(ROOT), "--template", str(path)])
    table = capsys.readouterr().out.splitlines()
    assert code == 1
    assert table[0] == "preflight for us-east-1"
    bootstrap = next(i for i, line in enumerate(table) if "CDK bootstrap" in line)
    assert table[bootstrap].split()[0] == "FAIL"
    assert "bootstrap version 5, the template needs 6 or later" in table[bootstrap]
    assert "again to upgrade it" in table[bootstrap + 1]
    role = next(line for line in table if "service-linked role" in line)
    assert role.split()[0] == "PASS" and "you may create it" in role
    assert table[-1] == "1 check(s) failed"


def test_certificate_from_another_region_fails_without_looking_it_up(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    recorded.may_create_role("allowed")
    recorded.instance_types("t3.small.search")
    recorded.domain_quota(100.0)
    _code, checks = _run(
        capsys,
        tmp_path,
        template(extra=other),
        *("--certificate-arn", other, "-c", "allowedCidrs=10.0.0.0/8"),
    )
    assert checks["certificate"]["status"] == FAIL
    assert checks["certificate"]["detail"] == (
        "the certificate is in eu-west-1, the deploy region is us-east-1"
    )


def test_simulation_not_allowed_is_a_warning_with_the_fallback(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded.stubbers["iam"].add_client_error(
        "simulate_principal_policy", "AccessDenied", "not authorized", 403
    )
    recorded.instance_types("t3.small.search")
    recorded.domain_quota(100.0)
    _code, checks = _run(capsys, tmp_path, template())
    role = checks["OpenSearch service-linked role"]
    assert role["status"] == WARN
    assert "aws iam create-service-linked-role" in role["advice"]


def test_quota_not_readable_falls_back_to_the_documented_default(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded.may_create_role("allowed")
    recorded.instance_types("t3.small.search")
    recorded.stubbers["service-quotas"].add_client_error(
        "list_service_quotas", "AccessDeniedException", "no", 400
    )
    _code, checks = _run(capsys, tmp_path, template())
    quota = checks["OpenSearch domain quota"]
    assert quota == {
        "name": "OpenSearch domain quota",
        "status": PASS,
        "detail": "0 of 100 domains used (documented default)",
        "advice": "",
    }


def test_a_template_synthesized_with_other_settings_is_caught(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded.may_create_role("allowed")
    recorded.instance_types("t3.small.search")
    recorded.domain_quota(100.0)
    _code, checks = _run(capsys, tmp_path, template(), "-c", "profile=production")
    match = checks["template matches settings"]
    assert match["status"] == FAIL
    assert "profile=production not in it" in match["detail"]


def test_bad_context_is_the_apps_own_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, template())
    code = main(
        ["preflight", "--app-dir", str(ROOT), "--template", str(path), "-c", "profile=huge"]
    )
    assert code == 1
    assert capsys.readouterr().err == (
        "spot-insights preflight: error: context key 'profile': expected small or production, "
        "got 'huge'\n"
    )


def test_missing_template_says_how_to_make_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["preflight", "--app-dir", str(ROOT), "--template", str(tmp_path / "none.json")])
    assert code == 1
    assert "run `make synth`" in capsys.readouterr().err


# -- VPC -----------------------------------------------------------------------------------------


def _vpc(private_azs: list[str], *, nat: bool, public_az: str = "us-east-1a") -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24", AvailabilityZone=public_az)
    public_id = public["Subnet"]["SubnetId"]
    public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public_id)
    nat_id = None
    if nat:
        eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat_id = ec2.create_nat_gateway(SubnetId=public_id, AllocationId=eip)["NatGateway"][
            "NatGatewayId"
        ]
    for number, az in enumerate(private_azs, start=1):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{number}.0/24", AvailabilityZone=az)
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        if nat_id:
            ec2.create_route(
                RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id
            )
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet["Subnet"]["SubnetId"])
    return vpc


PRODUCTION_PLAN = read_plan(template(production=True))


def _moto(name: str) -> Any:
    return boto3.client(name, region_name=REGION)


def test_vpc_with_nat_routes_in_two_azs_passes(aws: str) -> None:
    vpc = _vpc(["us-east-1a", "us-east-1b"], nat=True)
    check, azs = check_vpc(vpc, PRODUCTION_PLAN, _moto)
    assert check.status == PASS, check
    assert azs == ["us-east-1a", "us-east-1b"]


def test_vpc_without_egress_fails_and_names_the_endpoints(aws: str) -> None:
    vpc = _vpc(["us-east-1a", "us-east-1b"], nat=False)
    check, azs = check_vpc(vpc, PRODUCTION_PLAN, _moto)
    assert check.status == FAIL
    assert azs == []
    assert check.detail == "private subnets with egress in 0 AZ(s) (none), the domain needs 2"
    assert check.advice.endswith("ec2, ec2messages, kms, secretsmanager, sqs, ssm, ssmmessages")


def _endpoints(vpc: str) -> None:
    ec2 = _moto("ec2")
    for service in preflight.EGRESS_ENDPOINTS:
        ec2.create_vpc_endpoint(
            VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.{service}", VpcEndpointType="Interface"
        )


def test_vpc_with_interface_endpoints_instead_of_nat_passes(aws: str) -> None:
    vpc = _vpc(["us-east-1a", "us-east-1b"], nat=False)
    _endpoints(vpc)
    check, _azs = check_vpc(vpc, PRODUCTION_PLAN, _moto)
    assert check.status == PASS, check


def test_public_subnets_do_not_count_as_private_ones(aws: str) -> None:
    vpc = _vpc(["us-east-1a"], nat=False, public_az="us-east-1c")
    _endpoints(vpc)  # endpoints serve every subnet, but one with an internet route is public
    check, azs = check_vpc(vpc, PRODUCTION_PLAN, _moto)
    assert check.status == FAIL
    assert azs == ["us-east-1a"]


def test_vpc_proxy_type_not_offered_in_one_of_its_azs(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """t4g.small is not offered in us-east-1e (moto's recorded offerings, as on AWS)."""
    vpc = _vpc(["us-east-1a", "us-east-1e"], nat=True)
    recorded.may_create_role("allowed")
    recorded.instance_types("t3.small.search")
    recorded.domain_quota(100.0)
    body = template(extra=vpc)
    _code, checks = _run(capsys, tmp_path, body, "-c", f"vpcId={vpc}")
    assert checks["VPC private subnets"]["status"] == PASS
    offer = checks["EC2 instance types"]
    assert offer["status"] == FAIL
    assert offer["detail"] == "t4g.small not in us-east-1e"


# -- the template and the settings, as the app reads them ----------------------------------------


def test_reads_the_real_synthesized_template() -> None:
    import aws_cdk as cdk  # noqa: PLC0415

    from tests.stack.synth import VARIANTS, synth_stack  # noqa: PLC0415

    stack = synth_stack(VARIANTS["production-alb"])
    plan = read_plan(cdk.assertions.Template.from_stack(stack).to_json())
    assert plan == Plan(
        bootstrap_parameter="/cdk-bootstrap/hnb659fds/version",
        bootstrap_required=6,
        engine_version=ENGINE,
        data_type="r7g.large.search",
        master_type="m7g.large.search",
        domain_azs=plan.domain_azs,
        ec2_types=("t4g.small",),
        az_indexes=plan.az_indexes,
        az_names=plan.az_names,
        text=plan.text,
    )
    # As many AZs for the domain as the new VPC has subnets in.
    assert plan.domain_azs >= 2
    assert len(plan.az_indexes) + len(plan.az_names) >= plan.domain_azs


CONTEXT = {"profile": "production", "vpcId": "vpc-0abc1234"}


def test_settings_are_parsed_by_the_apps_parser_without_loading_the_cdk() -> None:
    """spot_cli may not import aws_cdk or spot_insights (test_boundaries); preflight loads
    spot_insights/settings.py from its file, which needs only the standard library."""
    code = (
        "import sys; from pathlib import Path; from spot_cli.preflight import load_settings; "
        f"s = load_settings(Path({str(ROOT)!r}), {CONTEXT!r}); "
        "print(s.profile, s.vpc_id, sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'aws_cdk', 'jsii', 'constructs', 'spot_insights'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "production vpc-0abc1234 []"


def test_an_unreachable_service_fails_its_check_not_the_command(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded.may_create_role("allowed")
    recorded.instance_types("t3.small.search")
    recorded.stubbers["service-quotas"].add_client_error(
        "list_service_quotas", "ThrottlingException", "Rate exceeded", 400
    )
    code, checks = _run(capsys, tmp_path, template())
    assert code == 1
    assert checks["OpenSearch domain quota"]["status"] == FAIL
    assert checks["OpenSearch domain quota"]["detail"] == "ThrottlingException: Rate exceeded"
    assert checks["CDK bootstrap"]["status"] == FAIL  # the other checks still ran
