"""Synth assertions on SearchDomain alone, in a throwaway stack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions

from spot_insights._assets import LAMBDA_ASSET_SOURCES
from spot_insights._lambda_asset import lambda_code
from spot_insights._provisioning import provisioning_content_hash
from spot_insights.search_domain import SearchDomain, SizingProfile
from tests.stack.synth import ACCOUNT, AZ_CONTEXT, REGION
from tests.support.cdk_app import iam_statements, synth_app


def _env_bound_stack(stack_id: str) -> cdk.Stack:
    """Three real AZs need a known account and region (an agnostic stack gets two)."""
    app = synth_app(**AZ_CONTEXT)
    return cdk.Stack(app, stack_id, env=cdk.Environment(account=ACCOUNT, region=REGION))


def _stack(**props: Any) -> tuple[cdk.Stack, SearchDomain, dict[str, Any]]:
    if props.get("profile") == "production":
        stack = _env_bound_stack("DomainOnly")
    else:
        stack = cdk.Stack(synth_app(), "DomainOnly")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=3, nat_gateways=1)
    topic = sns.Topic(stack, "Alarms")
    ingest = lambda_.Function(
        stack,
        "Ingest",
        code=lambda_code(),
        handler="lambda_src.ingest.handler.handler",
        runtime=lambda_.Runtime.PYTHON_3_13,
        vpc=vpc,
    )
    domain = SearchDomain(stack, "Search", vpc=vpc, alarm_topic=topic, **props)
    domain.connect_writer(ingest)
    return stack, domain, {"ingest": ingest, "topic": topic, "vpc": vpc}


@pytest.fixture(scope="module")
def small() -> tuple[Template, SearchDomain, dict[str, Any]]:
    stack, domain, extra = _stack(reader_users=["analyst"])
    return Template.from_stack(stack), domain, extra


def _domain(template: Template) -> dict[str, Any]:
    [resource] = template.find_resources("AWS::OpenSearchService::Domain").values()
    return resource["Properties"]


def test_security_settings(small: tuple[Template, SearchDomain, dict[str, Any]]) -> None:
    template, _, _ = small
    props = _domain(template)
    assert props["EngineVersion"] == "OpenSearch_2.19"
    assert props["EncryptionAtRestOptions"] == {"Enabled": True}
    assert props["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert props["DomainEndpointOptions"] == {
        "EnforceHTTPS": True,
        "TLSSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10",
    }
    security = props["AdvancedSecurityOptions"]
    assert security["Enabled"] is True
    assert security["InternalUserDatabaseEnabled"] is True
    assert security.get("AnonymousAuthEnabled", False) is False
    # The password is a dynamic reference to the generated secret, never a literal.
    password = json.dumps(security["MasterUserOptions"]["MasterUserPassword"])
    assert "resolve:secretsmanager" in password
    assert "VPCOptions" in props and len(props["VPCOptions"]["SubnetIds"]) == 1
    logs = props["LogPublishingOptions"]
    assert set(logs) == {"ES_APPLICATION_LOGS", "AUDIT_LOGS", "SEARCH_SLOW_LOGS", "INDEX_SLOW_LOGS"}
    assert all(entry["Enabled"] for entry in logs.values())
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "GenerateSecretString": Match.object_like(
                {"GenerateStringKey": "password", "RequireEachIncludedType": True}
            )
        },
    )


def test_access_policy_is_http_only_on_this_domain_and_signed_callers_from_this_account(
    small: tuple[Template, SearchDomain, dict[str, Any]],
) -> None:
    template, _, _ = small
    allow, deny = _domain(template)["AccessPolicies"]["Statement"]
    # Never es:* : data-plane HTTP only, and only on this domain's paths.
    assert allow["Effect"] == "Allow" and allow["Action"] == "es:ESHttp*"
    assert ":domain/spot-" in json.dumps(allow["Resource"])
    assert "AWS::StackId" in json.dumps(allow["Resource"])
    assert json.dumps(allow["Resource"]).endswith('/*"]]}')
    # Unsigned basic-auth callers pass to FGAC; signed ones must come from this account.
    assert deny["Effect"] == "Deny" and deny["Action"] == "es:ESHttp*"
    assert deny["Resource"] == allow["Resource"]
    assert deny["Condition"]["Null"] == {"aws:PrincipalAccount": "false"}
    assert deny["Condition"]["StringNotEquals"] == {
        "aws:PrincipalAccount": {"Ref": "AWS::AccountId"}
    }


def test_small_profile_is_one_cheap_node(
    small: tuple[Template, SearchDomain, dict[str, Any]],
) -> None:
    template, domain, _ = small
    cluster = _domain(template)["ClusterConfig"]
    assert cluster["InstanceType"] == "t3.small.search"
    assert cluster["InstanceCount"] == 1
    assert cluster["ZoneAwarenessEnabled"] is False
    assert cluster.get("DedicatedMasterEnabled") is False
    assert domain.profile is SizingProfile.SMALL


def test_production_profile_spans_azs_with_dedicated_masters() -> None:
    stack, _, _ = _stack(profile="production")
    template = Template.from_stack(stack)
    props = _domain(template)
    cluster = props["ClusterConfig"]
    assert cluster["ZoneAwarenessEnabled"] is True
    assert cluster["ZoneAwarenessConfig"] == {"AvailabilityZoneCount": 3}
    assert cluster["InstanceCount"] == 3
    assert cluster["DedicatedMasterEnabled"] is True
    assert cluster["DedicatedMasterCount"] == 3
    assert len(props["VPCOptions"]["SubnetIds"]) == 3
    [setup] = template.find_resources("Custom::SpotInsightsSearchSetup").values()
    assert setup["Properties"]["Replicas"] == "1"


def test_security_group_admits_only_https_from_allowed_peers(
    small: tuple[Template, SearchDomain, dict[str, Any]],
) -> None:
    template, _, _ = small
    ingress = template.find_resources("AWS::EC2::SecurityGroupIngress")
    rules = [r["Properties"] for r in ingress.values()]
    to_domain = [r for r in rules if "SearchSecurityGroup" in json.dumps(r["GroupId"])]
    assert len(to_domain) == 2  # ingest function + provisioning function
    for rule in to_domain:
        assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
        assert "SourceSecurityGroupId" in rule and "CidrIp" not in rule
    domain_sg = next(
        r["Properties"]
        for logical_id, r in template.find_resources("AWS::EC2::SecurityGroup").items()
        if logical_id.startswith("SearchSecurityGroup")
    )
    assert "SecurityGroupIngress" not in domain_sg
    # allow_all_outbound=False: CDK writes a single disallow-all placeholder rule.
    assert domain_sg["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"


def test_provisioning_custom_resource(
    small: tuple[Template, SearchDomain, dict[str, Any]],
) -> None:
    template, domain, _ = small
    [setup] = template.find_resources("Custom::SpotInsightsSearchSetup").values()
    props = setup["Properties"]
    assert props["IndexPrefix"] == "spot-interruptions"
    assert props["RetentionDays"] == "365"
    assert props["Replicas"] == "0"
    assert props["IsmMode"] == "required"
    assert props["ContentHash"] == provisioning_content_hash()
    assert len(props["WriterBackendRoles"]) == 1
    assert "IngestServiceRole" in json.dumps(props["WriterBackendRoles"])
    assert len(props["ReaderUserSecretArns"]) == 1
    assert "DependsOn" in setup
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "lambda_src.provisioning.handler.on_event",
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "VpcConfig": Match.object_like({"SubnetIds": Match.any_value()}),
        },
    )
    assert set(domain.reader_user_secrets) == {"analyst"}


def test_connect_writer_gives_http_post_put_only(
    small: tuple[Template, SearchDomain, dict[str, Any]],
) -> None:
    template, _, _ = small
    policies = template.find_resources("AWS::IAM::Policy")
    ingest = [p for k, p in policies.items() if k.startswith("IngestServiceRoleDefaultPolicy")]
    statements = ingest[0]["Properties"]["PolicyDocument"]["Statement"]
    es = [s for s in statements if "es:ESHttpPost" in json.dumps(s["Action"])]
    assert es[0]["Action"] == ["es:ESHttpPost", "es:ESHttpPut"]


def test_alarms_go_to_the_topic(small: tuple[Template, SearchDomain, dict[str, Any]]) -> None:
    template, domain, _ = small
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    metrics = {a["Properties"]["MetricName"] for a in alarms.values()}
    assert metrics == {
        "ClusterStatus.red",
        "ClusterStatus.yellow",
        "FreeStorageSpace",
        "JVMMemoryPressure",
        "CPUUtilization",
        "ClusterIndexWritesBlocked",
        "AutomatedSnapshotFailure",
    }
    for alarm in alarms.values():
        assert "AlarmsTopic" in json.dumps(
            alarm["Properties"]["AlarmActions"]
        ) or "Alarms" in json.dumps(alarm["Properties"]["AlarmActions"])
    assert len(domain.alarms) == 7


def test_bad_props_fail_at_synth() -> None:
    with pytest.raises(ValueError, match="index_prefix"):
        _stack(index_prefix="Bad Prefix")
    with pytest.raises(ValueError, match="reader user name"):
        _stack(reader_users=["a b"])
    with pytest.raises(ValueError, match="is not a valid SizingProfile"):
        _stack(profile="huge")
    with pytest.raises(ValueError, match="rollover_age"):
        _stack(rollover_age="30")
    with pytest.raises(ValueError, match="rollover_size"):
        _stack(rollover_size="1tb")
    with pytest.raises(ValueError, match="volume_size_gib"):
        _stack(volume_size_gib=5)


def test_content_hash_follows_the_files(tmp_path: Path) -> None:
    sources = {name: tmp_path / name for name in LAMBDA_ASSET_SOURCES}
    for name, folder in LAMBDA_ASSET_SOURCES.items():
        shutil.copytree(folder, sources[name])
    original = provisioning_content_hash(sources)
    assert original == provisioning_content_hash()  # the copy hashes like the checkout
    seen = {original}
    for changed in (
        "dashboards/index-mapping.json",
        "dashboards/spot-insights-visualizations.ndjson",
        "lambda_src/provisioning/security_config.py",
        "lambda_src/provisioning/ism.py",
    ):
        path = tmp_path / changed
        path.write_bytes(path.read_bytes() + b"\n")
        seen.add(provisioning_content_hash(sources))
    assert len(seen) == 5  # every edit gave a new hash


def _inline_function(stack: cdk.Stack, construct_id: str, **props: Any) -> lambda_.Function:
    return lambda_.Function(
        stack,
        construct_id,
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
        handler="index.handler",
        runtime=lambda_.Runtime.PYTHON_3_13,
        **props,
    )


def _writer_stack() -> tuple[cdk.Stack, SearchDomain, lambda_.Function, ec2.Vpc]:
    stack = cdk.Stack(synth_app(), "Writers")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    role = iam.Role.from_role_arn(stack, "Existing", "arn:aws:iam::123456789012:role/ingest")
    writer = _inline_function(stack, "Writer", role=role, vpc=vpc)
    return stack, SearchDomain(stack, "Search", vpc=vpc), writer, vpc


def test_connect_writer_does_grant_mapping_rule_and_order_once() -> None:
    stack, search, writer, _ = _writer_stack()
    gate = sqs.Queue(stack, "Gate")
    first = search.connect_writer(writer, starts_writing=[gate])
    again = search.connect_writer(writer)
    assert again is first
    template = Template.from_stack(stack)
    [(setup_id, setup)] = template.find_resources("Custom::SpotInsightsSearchSetup").items()
    # The role mapping: the writer's role ARN, once.
    assert setup["Properties"]["WriterBackendRoles"] == ["arn:aws:iam::123456789012:role/ingest"]
    # The IAM grant: POST and PUT on this domain's index pattern, once.
    es = iam_statements(template, "es:")
    assert [s["Action"] for s in es] == [["es:ESHttpPost", "es:ESHttpPut"]]
    # The network: one 443 rule from the writer's security group to the domain's.
    writer_sg = stack.resolve(writer.connections.security_groups[0].security_group_id)
    rules = [
        r["Properties"]
        for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"].get("SourceSecurityGroupId") == writer_sg
    ]
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(443, 443)]
    assert rules[0]["GroupId"] == stack.resolve(search.security_group.security_group_id)
    # The order: what starts the writer is deployed after provisioning.
    [queue] = template.find_resources("AWS::SQS::Queue").values()
    assert setup_id in queue["DependsOn"]


def test_connect_writer_refuses_writers_it_cannot_connect() -> None:
    stack, search, _, _ = _writer_stack()
    outside_vpc = _inline_function(stack, "OutsideVpc")
    with pytest.raises(ValueError, match="security groups in the domain's VPC"):
        search.connect_writer(outside_vpc)
    with pytest.raises(ValueError, match="must be an IAM role"):
        search.connect_writer(iam.User(stack, "Person"))
    [setup] = Template.from_stack(stack).find_resources("Custom::SpotInsightsSearchSetup").values()
    assert setup["Properties"]["WriterBackendRoles"] == []


def test_search_domain_is_connectable_on_https() -> None:
    stack, search, _, vpc = _writer_stack()
    reader = ec2.SecurityGroup(stack, "Reader", vpc=vpc)
    reader.connections.allow_to_default_port(search, "reader to the domain")
    rules = Template.from_stack(stack).find_resources("AWS::EC2::SecurityGroupIngress")
    from_reader = [
        r["Properties"]
        for r in rules.values()
        if r["Properties"].get("SourceSecurityGroupId") == stack.resolve(reader.security_group_id)
    ]
    assert [(r["FromPort"], r["ToPort"]) for r in from_reader] == [(443, 443)]


@pytest.mark.parametrize("profile", ["small", "production"])
def test_cdk_nag_aws_solutions_has_no_unexplained_findings(profile: str) -> None:
    stack = _env_bound_stack(f"Nag{profile}")
    app = stack.node.root
    vpc = ec2.Vpc(stack, "Vpc", max_azs=3)
    # The bare test VPC has no flow log; with cdk.json's flags an unsuppressed error fails synth.
    NagSuppressions.add_resource_suppressions(
        vpc, [NagPackSuppression(id="AwsSolutions-VPC7", reason="bare VPC of this test only")]
    )
    SearchDomain(stack, "Search", vpc=vpc, profile=profile, reader_users=["analyst"])
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    app.synth()
    annotations = Annotations.from_stack(stack)
    findings = [
        f"{m.id}: {m.entry.data}"
        for finder in (annotations.find_error, annotations.find_warning)
        for m in finder("*", Match.string_like_regexp("AwsSolutions-"))
        if m.id.startswith(f"/Nag{profile}/Search/")
    ]
    assert findings == []


def test_provisioning_function_reads_exactly_its_secrets_through_secrets_manager(
    small: tuple[Template, SearchDomain, dict[str, Any]],
) -> None:
    # Grants asserted on their resource ARNs (issue 15), not only their actions.
    template, domain, _ = small
    stack = cdk.Stack.of(domain)
    role = stack.resolve(domain.provisioning_function.role.role_name)["Ref"]
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    secrets = [domain.master_secret, *domain.reader_user_secrets.values()]
    resources: list[Any] = []
    for statement in statements:
        assert statement["Action"] == [
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
        ]
        found = statement["Resource"]
        resources += found if isinstance(found, list) else [found]
    assert sorted(map(json.dumps, resources)) == sorted(
        json.dumps(stack.resolve(secret.secret_arn)) for secret in secrets
    )
    # The secrets' key: the function may decrypt only through Secrets Manager.
    key_id = stack.resolve(domain.encryption_key.key_arn)["Fn::GetAtt"][0]
    [key] = [r for k, r in template.find_resources("AWS::KMS::Key").items() if k == key_id]
    [decrypt] = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"].get("AWS") == stack.resolve(domain.provisioning_function.role.role_arn)
    ]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"] == {
        "StringEquals": {
            "kms:ViaService": {
                "Fn::Join": ["", ["secretsmanager.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
            }
        }
    }


def test_connect_writer_grants_on_the_index_pattern_of_this_domain(
    small: tuple[Template, SearchDomain, dict[str, Any]],
) -> None:
    template, domain, extra = small
    stack = cdk.Stack.of(domain)
    role = stack.resolve(extra["ingest"].role.role_name)["Ref"]
    [es] = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "es:" in json.dumps(statement["Action"])
    ]
    assert es["Resource"] == stack.resolve(f"{domain.domain.domain_arn}/spot-interruptions-*")
