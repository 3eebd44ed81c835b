"""The checks behind `spot-insights preflight` (options: spot_cli/commands/preflight.py): what
CloudFormation would discover twenty minutes into a first deploy, checked in seconds with the
caller's credentials and read-only calls.

It reads two things: the deploy settings, parsed by the app's own `spot_insights/settings.py`
from `cdk.json` context plus `-c key=value` (as `cdk deploy` passes them to app.py), and the
synthesized template (`make synth`), which says what the deploy will ask for: the bootstrap
version, instance types, engine version and Availability Zones. Then one check each: CDK
bootstrap, the OpenSearch service-linked role, the certificate, instance type offerings, the
domain quota and, with `vpcId`, the VPC's private subnets with egress.

Each check ends as pass, fail or warn (could not be decided, e.g. a permission to look is
missing; warnings do not change the exit code). Exit code 1 when any check fails."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from spot_cli.errors import CliError

PASS, FAIL, WARN = "pass", "fail", "warn"
SERVICE_LINKED_ROLE = "AWSServiceRoleForAmazonOpenSearchService"
OPENSEARCH_SERVICE = "opensearchservice.amazonaws.com"
# AWS documents 100 OpenSearch domains per Region per account; used when Service Quotas cannot
# be read (no permission, or the quota not listed for the account).
DEFAULT_DOMAIN_QUOTA = 100
# What the stack's functions and proxy hosts call; interface endpoints for all of them are the
# alternative to a NAT route (README, "Network").
EGRESS_ENDPOINTS = ("ec2", "sqs", "kms", "secretsmanager", "ssm", "ssmmessages", "ec2messages")
DEFAULT_TEMPLATE = Path("cdk.out") / "SpotInsights.template.json"

Client = Callable[[str], Any]


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    advice: str = ""


@dataclass(frozen=True)
class Plan:
    """What the synthesized template will ask of the account and region."""

    bootstrap_parameter: str | None
    bootstrap_required: int | None
    engine_version: str | None
    data_type: str | None
    master_type: str | None
    domain_azs: int
    ec2_types: tuple[str, ...]
    # Subnets of a new VPC: indexes into Fn::GetAZs, or literal names when the env is known.
    az_indexes: tuple[int, ...] = ()
    az_names: tuple[str, ...] = ()
    text: str = field(default="", repr=False)


def aws_clients(region: str | None) -> tuple[str, Client]:
    """The deploy region and a client factory, both from the caller's boto3 session."""
    import boto3  # noqa: PLC0415

    session = boto3.session.Session(region_name=region)
    if not session.region_name:
        raise CliError("no region: pass --region or set AWS_REGION")
    return session.region_name, session.client


# -- settings, the app's own way -----------------------------------------------------------------


def settings_module(app_dir: Path) -> ModuleType:
    """The app's `spot_insights/settings.py`, loaded from its file.

    `import spot_insights.settings` would run the package's `__init__` and put the construct
    library on the import path of a CLI that must never load the CDK; the settings module itself
    imports only the standard library (tests/cli/test_preflight.py checks that loading it
    leaves `aws_cdk` out of sys.modules), so the same parser app.py uses runs here unchanged."""
    path = app_dir / "spot_insights" / "settings.py"
    if not path.is_file():
        raise CliError(f"{path} not found: run preflight in the app's directory or pass --app-dir")
    name = "_spot_insights_settings"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve the module by name while it runs
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def load_settings(app_dir: Path, overrides: dict[str, str]) -> Any:
    """Context as the CDK CLI merges it for app.py: cdk.json, then cdk.context.json, then -c."""
    context: dict[str, Any] = {}
    for name in ("cdk.json", "cdk.context.json"):
        path = app_dir / name
        if path.is_file():
            data = json.loads(path.read_text())
            context.update(data.get("context", {}) if name == "cdk.json" else data)
    context.update(overrides)
    module = settings_module(app_dir)
    try:
        return module.parse_settings(context)
    except module.SettingsError as exc:
        raise CliError(str(exc)) from exc


# -- the template --------------------------------------------------------------------------------


def load_template(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CliError(
            f"no synthesized template at {path}: run `make synth` (or `npx cdk synth` with the "
            "same -c options) first"
        )
    return json.loads(path.read_text())


def read_plan(template: dict[str, Any]) -> Plan:
    resources = template.get("Resources", {})

    def of_type(kind: str) -> list[dict[str, Any]]:
        return [r.get("Properties", {}) for r in resources.values() if r.get("Type") == kind]

    domains = of_type("AWS::OpenSearchService::Domain")
    cluster = domains[0].get("ClusterConfig", {}) if domains else {}
    zone_config = cluster.get("ZoneAwarenessConfig") or {}
    domain_azs = int(
        zone_config.get("AvailabilityZoneCount", 2 if cluster.get("ZoneAwarenessEnabled") else 1)
    )
    ec2_types = sorted(
        {
            lt.get("LaunchTemplateData", {}).get("InstanceType")
            for lt in of_type("AWS::EC2::LaunchTemplate")
        }
        - {None}
    )
    indexes: set[int] = set()
    names: set[str] = set()
    for subnet in of_type("AWS::EC2::Subnet"):
        az = subnet.get("AvailabilityZone")
        if isinstance(az, str):
            names.add(az)
        elif isinstance(az, dict) and "Fn::Select" in az:
            indexes.add(int(az["Fn::Select"][0]))
    parameter = template.get("Parameters", {}).get("BootstrapVersion", {}).get("Default")
    return Plan(
        bootstrap_parameter=parameter,
        bootstrap_required=_required_bootstrap(template),
        engine_version=domains[0].get("EngineVersion") if domains else None,
        data_type=cluster.get("InstanceType"),
        master_type=cluster.get("DedicatedMasterType")
        if cluster.get("DedicatedMasterEnabled")
        else None,
        domain_azs=domain_azs,
        ec2_types=tuple(ec2_types),
        az_indexes=tuple(sorted(indexes)),
        az_names=tuple(sorted(names)),
        text=json.dumps(template),
    )


def _required_bootstrap(template: dict[str, Any]) -> int | None:
    """CDK's CheckBootstrapVersion rule refuses the versions listed in its Fn::Contains."""
    rule = template.get("Rules", {}).get("CheckBootstrapVersion", {})
    for assertion in rule.get("Assertions", []):
        refused = _find_contains(assertion.get("Assert"))
        if refused:
            return max(int(v) for v in refused) + 1
    return None


def _find_contains(node: Any) -> list[str] | None:
    if isinstance(node, dict):
        if "Fn::Contains" in node:
            return list(node["Fn::Contains"][0])
        for value in node.values():
            if (found := _find_contains(value)) is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            if (found := _find_contains(value)) is not None:
                return found
    return None


# -- the checks ----------------------------------------------------------------------------------


def run_checks(settings: Any, plan: Plan, region: str, client: Client) -> list[Check]:
    account = client("sts").get_caller_identity()
    environment = f"aws://{account['Account']}/{region}"
    checks = [
        _guarded("template matches settings", lambda: check_template_matches(settings, plan)),
        _guarded("CDK bootstrap", lambda: check_bootstrap(plan, environment, client)),
        _guarded(
            "OpenSearch service-linked role", lambda: check_service_linked_role(account, client)
        ),
        _guarded(
            "certificate", lambda: check_certificate(settings.certificate_arn, region, client)
        ),
    ]
    vpc_azs: list[str] = []
    if settings.vpc_id:

        def vpc() -> Check:
            check, azs = check_vpc(settings.vpc_id, plan, client)
            vpc_azs.extend(azs)
            return check

        checks.append(_guarded("VPC private subnets", vpc))
    azs = vpc_azs if settings.vpc_id else _new_vpc_azs(plan, client)
    checks += [
        _guarded("EC2 instance types", lambda: check_ec2_offerings(plan, azs, client)),
        _guarded("OpenSearch instance types", lambda: check_opensearch_types(plan, client)),
        _guarded("OpenSearch domain quota", lambda: check_domain_quota(client)),
    ]
    return checks


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """An AWS error inside a check becomes that check's outcome, never a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        return check()
    except (ClientError, BotoCoreError) as exc:  # anything else is a bug: let it show
        code, message = _error(exc)
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
            return Check(
                name, WARN, f"not allowed to look: {message}", "grant read access or check by hand"
            )
        return Check(name, FAIL, f"{code}: {message}", "see the error; rerun when it is fixed")


def _error(exc: BaseException) -> tuple[str, str]:
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    return str(error.get("Code") or type(exc).__name__), str(error.get("Message") or exc)[:200]


def check_template_matches(settings: Any, plan: Plan) -> Check:
    name = "template matches settings"
    missing = [
        f"{key}={value}"
        for key, value in (("certificateArn", settings.certificate_arn), ("vpcId", settings.vpc_id))
        if value and value not in plan.text
    ]
    production = plan.master_type is not None
    if (settings.profile == "production") != production:
        missing.append(f"profile={settings.profile}")
    if missing:
        return Check(
            name,
            FAIL,
            f"the template was synthesized with other settings ({', '.join(missing)} not in it)",
            "run `make synth` / `npx cdk synth` again with the same -c options",
        )
    return Check(name, PASS, f"profile {settings.profile}, engine {plan.engine_version}")


def check_bootstrap(plan: Plan, environment: str, client: Client) -> Check:
    name = "CDK bootstrap"
    if not plan.bootstrap_parameter:
        return Check(name, PASS, "the template needs no bootstrap stack")
    ssm = client("ssm")
    try:
        found = ssm.get_parameter(Name=plan.bootstrap_parameter)["Parameter"]["Value"]
    except Exception as exc:
        if _error(exc)[0] != "ParameterNotFound":
            raise
        return Check(
            name,
            FAIL,
            f"{plan.bootstrap_parameter} not found: {environment} is not bootstrapped",
            f"run `npx cdk bootstrap {environment}` once",
        )
    required = plan.bootstrap_required
    if required is not None and int(found) < required:
        return Check(
            name,
            FAIL,
            f"bootstrap version {found}, the template needs {required} or later",
            f"run `npx cdk bootstrap {environment}` again to upgrade it",
        )
    return Check(name, PASS, f"version {found} (needs {required or 'any'})")


def check_service_linked_role(identity: dict[str, Any], client: Client) -> Check:
    name = "OpenSearch service-linked role"
    iam = client("iam")
    try:
        iam.get_role(RoleName=SERVICE_LINKED_ROLE)
        return Check(name, PASS, f"{SERVICE_LINKED_ROLE} exists")
    except Exception as exc:
        if _error(exc)[0] != "NoSuchEntity":
            raise
    create = f"`aws iam create-service-linked-role --aws-service-name {OPENSEARCH_SERVICE}`"
    principal = principal_arn(identity["Arn"])
    if principal.endswith(":root"):
        return Check(name, PASS, "missing; the account root may create it")
    account = identity["Account"]
    role_arn = (
        f"arn:aws:iam::{account}:role/aws-service-role/{OPENSEARCH_SERVICE}/{SERVICE_LINKED_ROLE}"
    )
    try:
        result = iam.simulate_principal_policy(
            PolicySourceArn=principal,
            ActionNames=["iam:CreateServiceLinkedRole"],
            ResourceArns=[role_arn],
            ContextEntries=[
                {
                    "ContextKeyName": "iam:AWSServiceName",
                    "ContextKeyValues": [OPENSEARCH_SERVICE],
                    "ContextKeyType": "string",
                }
            ],
        )
    except Exception as exc:
        if _error(exc)[0] not in {"AccessDenied", "AccessDeniedException"}:
            raise
        # The documented fallback: we cannot tell, so say how to make sure.
        return Check(
            name,
            WARN,
            "missing; iam:SimulatePrincipalPolicy not allowed, so cannot tell if you may create it",
            f"create it once with {create} (harmless if it appears meanwhile)",
        )
    decision = result["EvaluationResults"][0]["EvalDecision"]
    if decision == "allowed":
        return Check(name, PASS, "missing; you may create it (iam:CreateServiceLinkedRole allowed)")
    return Check(
        name,
        FAIL,
        f"missing, and iam:CreateServiceLinkedRole is {decision} for {principal}",
        f"ask an administrator to run {create} once",
    )


def principal_arn(caller_arn: str) -> str:
    """The IAM principal behind a caller ARN: an assumed-role session becomes its role."""
    match = re.fullmatch(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+", caller_arn)
    if match:
        partition, account, role = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return caller_arn


def check_certificate(certificate_arn: str | None, region: str, client: Client) -> Check:
    name = "certificate"
    if not certificate_arn:
        return Check(name, PASS, "none: Session Manager mode, no load balancer")
    cert_region = certificate_arn.split(":")[3]
    if cert_region != region:
        return Check(
            name,
            FAIL,
            f"the certificate is in {cert_region}, the deploy region is {region}",
            f"a load balancer only takes a certificate from its own region: use one in {region}",
        )
    try:
        cert = client("acm").describe_certificate(CertificateArn=certificate_arn)["Certificate"]
    except Exception as exc:
        if _error(exc)[0] != "ResourceNotFoundException":
            raise
        return Check(name, FAIL, f"{certificate_arn} not found", "check the ARN and the account")
    status = cert.get("Status")
    if status != "ISSUED":
        return Check(
            name,
            FAIL,
            f"status {status} ({cert.get('DomainName')})",
            "finish DNS validation (or import a valid certificate) before deploying",
        )
    return Check(name, PASS, f"ISSUED for {cert.get('DomainName')} in {region}")


def _region_azs(client: Client) -> list[str]:
    """What Fn::GetAZs returns: the region's default-enabled AZs, in name order."""
    zones = client("ec2").describe_availability_zones()["AvailabilityZones"]
    return sorted(
        z["ZoneName"]
        for z in zones
        if z.get("State", "available") == "available"
        and z.get("OptInStatus", "opt-in-not-required") == "opt-in-not-required"
        and z.get("ZoneType", "availability-zone") == "availability-zone"
    )


def _new_vpc_azs(plan: Plan, client: Client) -> list[str]:
    if plan.az_names:
        return list(plan.az_names)
    region_azs = _region_azs(client)
    return [region_azs[i] for i in plan.az_indexes if i < len(region_azs)]


def check_ec2_offerings(plan: Plan, azs: Sequence[str], client: Client) -> Check:
    name = "EC2 instance types"
    if not plan.ec2_types:
        return Check(name, PASS, "the template launches no EC2 instances")
    if not azs:
        return Check(
            name, FAIL, "no Availability Zones to place the proxy hosts in", "see the VPC check"
        )
    offered: dict[str, set[str]] = {t: set() for t in plan.ec2_types}
    paginator = client("ec2").get_paginator("describe_instance_type_offerings")
    for page in paginator.paginate(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": list(plan.ec2_types)}],
    ):
        for offer in page["InstanceTypeOfferings"]:
            offered.setdefault(offer["InstanceType"], set()).add(offer["Location"])
    gaps = {t: sorted(set(azs) - offered[t]) for t in plan.ec2_types if set(azs) - offered[t]}
    if gaps:
        listed = "; ".join(f"{t} not in {', '.join(missing)}" for t, missing in gaps.items())
        return Check(
            name,
            FAIL,
            listed,
            "pick a type offered in every AZ used (DashboardProxy instance_type) or other AZs",
        )
    return Check(name, PASS, f"{', '.join(plan.ec2_types)} offered in {', '.join(azs)}")


def check_opensearch_types(plan: Plan, client: Client) -> Check:
    name = "OpenSearch instance types"
    if not plan.engine_version or not plan.data_type:
        return Check(name, PASS, "the template has no OpenSearch domain")
    wanted = [t for t in (plan.data_type, plan.master_type) if t]
    details: dict[str, dict[str, Any]] = {}
    opensearch = client("opensearch")
    token = None
    while True:
        page = opensearch.list_instance_type_details(
            EngineVersion=plan.engine_version, **({"NextToken": token} if token else {})
        )
        for item in page.get("InstanceTypeDetails", []):
            details[item["InstanceType"]] = item
        token = page.get("NextToken")
        if not token:
            break
    problems = []
    for kind in wanted:
        item = details.get(kind)
        if item is None:
            problems.append(f"{kind} not offered for {plan.engine_version}")
            continue
        zones = item.get("AvailabilityZones") or []
        if zones and len(zones) < plan.domain_azs:
            problems.append(
                f"{kind} only in {len(zones)} AZ(s), the domain spans {plan.domain_azs}"
            )
    if problems:
        return Check(
            name,
            FAIL,
            "; ".join(problems),
            "choose another profile or region, or other instance types in SearchDomain",
        )
    return Check(
        name, PASS, f"{', '.join(wanted)} for {plan.engine_version} in {plan.domain_azs} AZ(s)"
    )


def check_domain_quota(client: Client) -> Check:
    name = "OpenSearch domain quota"
    domains = client("opensearch").list_domain_names().get("DomainNames", [])
    quota, source = _domain_quota(client)
    if len(domains) + 1 > quota:
        return Check(
            name,
            FAIL,
            f"{len(domains)} domains of {quota} ({source}) already exist",
            "delete an unused domain or request a quota increase (Service Quotas, OpenSearch)",
        )
    return Check(name, PASS, f"{len(domains)} of {quota} domains used ({source})")


def _domain_quota(client: Client) -> tuple[int, str]:
    try:
        paginator = client("service-quotas").get_paginator("list_service_quotas")
        for page in paginator.paginate(ServiceCode="es"):
            for quota in page.get("Quotas", []):
                if re.search(r"\bdomains\b", quota.get("QuotaName", ""), re.IGNORECASE):
                    return int(quota["Value"]), "Service Quotas"
    except Exception as exc:
        if _error(exc)[0] not in {
            "AccessDeniedException",
            "NoSuchResourceException",
            "AccessDenied",
        }:
            raise
    return DEFAULT_DOMAIN_QUOTA, "documented default"


def check_vpc(vpc_id: str, plan: Plan, client: Client) -> tuple[Check, list[str]]:
    """Private subnets (no internet gateway route) whose egress reaches the AWS APIs: a default
    route to a NAT gateway, NAT instance or transit gateway, or interface endpoints for every
    service the stack calls."""
    name = "VPC private subnets"
    ec2 = client("ec2")
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    subnets = ec2.describe_subnets(Filters=by_vpc)["Subnets"]
    if not subnets:
        return Check(
            name,
            FAIL,
            f"{vpc_id} has no subnets (or does not exist here)",
            "check vpcId and the region",
        ), []
    tables = ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]
    main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
    table_of = {
        a["SubnetId"]: t for t in tables for a in t.get("Associations", []) if a.get("SubnetId")
    }
    endpoints = {
        e["ServiceName"].rsplit(".", 1)[-1]
        for e in ec2.describe_vpc_endpoints(Filters=by_vpc)["VpcEndpoints"]
        if e.get("VpcEndpointType") == "Interface" and e.get("State", "available") == "available"
    }
    endpoint_egress = set(EGRESS_ENDPOINTS) <= endpoints
    usable_azs: set[str] = set()
    for subnet in subnets:
        routes = (table_of.get(subnet["SubnetId"]) or main or {}).get("Routes", [])
        default = [r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        if any(str(r.get("GatewayId", "")).startswith("igw-") for r in default):
            continue  # public
        nat = any(
            r.get("NatGatewayId") or r.get("InstanceId") or r.get("TransitGatewayId")
            for r in default
        )
        if nat or endpoint_egress:
            usable_azs.add(subnet["AvailabilityZone"])
    needed = max(plan.domain_azs, 1)
    azs = sorted(usable_azs)
    if len(azs) < needed:
        missing_endpoints = sorted(set(EGRESS_ENDPOINTS) - endpoints)
        return (
            Check(
                name,
                FAIL,
                f"private subnets with egress in {len(azs)} AZ(s) ({', '.join(azs) or 'none'}), "
                f"the domain needs {needed}",
                "add NAT routes to private subnets in more AZs, or interface endpoints for "
                + ", ".join(missing_endpoints or EGRESS_ENDPOINTS),
            ),
            azs,
        )
    how = "NAT route" if not endpoint_egress else "NAT route or interface endpoints"
    return Check(name, PASS, f"{len(azs)} AZ(s) with private egress ({how}): {', '.join(azs)}"), azs


# -- output --------------------------------------------------------------------------------------


def render_table(checks: Iterable[Check], region: str) -> str:
    rows = list(checks)
    width = max(len(c.name) for c in rows)
    lines = [f"preflight for {region}", ""]
    for check in rows:
        lines.append(f"{check.status.upper():<5} {check.name:<{width}}  {check.detail}")
        if check.advice and check.status != PASS:
            lines.append(f"{'':<5} {'':<{width}}  -> {check.advice}")
    failed = sum(c.status == FAIL for c in rows)
    lines += ["", f"{failed} check(s) failed" if failed else "all checks passed"]
    return "\n".join(lines)


def render_json(checks: Iterable[Check], region: str) -> str:
    rows = [asdict(check) for check in checks]
    ok = not any(row["status"] == FAIL for row in rows)
    return json.dumps({"region": region, "ok": ok, "checks": rows}, indent=2)
