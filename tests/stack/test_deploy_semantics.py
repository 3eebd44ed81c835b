"""How CloudFormation and the services behave at deploy time, asserted on the template app.py
synthesizes (issue 10): the service-linked role, rollback and delete, alarm delivery, AZs, least
privilege and customer-managed encryption. Each test names the finding it guards."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from spot_insights._domain_policies import ROLE_EXISTS_ERROR
from tests.stack.synth import VARIANTS, synth_stack

Resources = dict[str, dict[str, Any]]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    return Template.from_stack(synth_stack(VARIANTS[request.param])).to_json()


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return Template.from_stack(synth_stack(VARIANTS["default"])).to_json()


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    return Template.from_stack(synth_stack(VARIANTS["production-alb"])).to_json()


def _of_type(template: dict[str, Any], resource_type: str) -> Resources:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def _one(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = _of_type(template, resource_type).items()
    return logical_id, resource


def _flat(value: Any) -> str:
    """A template value as text: joins flattened, pseudo parameters as <AWS::...>, and the test
    environment's literals (production is environment-bound) written the same way."""
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        text = separator.join(_flat(part) for part in parts)
    elif isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"].startswith("AWS::"):
        text = f"<{value['Ref']}>"
    elif isinstance(value, str):
        text = value
    else:
        return json.dumps(value, sort_keys=True)
    for literal, pseudo in (("us-east-1", "AWS::Region"), ("123456789012", "AWS::AccountId")):
        text = text.replace(literal, f"<{pseudo}>")
    return text.replace("arn:aws:", "arn:<AWS::Partition>:")


def _arn(parts: str) -> str:
    return "arn:<AWS::Partition>:" + parts.replace("{region}", "<AWS::Region>").replace(
        "{account}", "<AWS::AccountId>"
    )


def _flat_condition(condition: dict[str, Any]) -> dict[str, Any]:
    return {op: {k: _flat(v) for k, v in kv.items()} for op, kv in condition.items()}


# Finding 1: the OpenSearch service-linked role.


def test_service_linked_role_is_created_unless_it_exists_and_the_domain_waits(
    template: dict[str, Any],
) -> None:
    role_id, role = _one(template, "Custom::OpenSearchServiceLinkedRole")
    create = json.loads(role["Properties"]["Create"])
    assert (create["service"], create["action"]) == ("IAM", "createServiceLinkedRole")
    assert create["parameters"] == {"AWSServiceName": "opensearchservice.amazonaws.com"}
    # Never updated or deleted: other domains in the account need the role.
    assert "Update" not in role["Properties"] and "Delete" not in role["Properties"]
    # IAM answers CreateServiceLinkedRole for an existing role with error code InvalidInput
    # ("Service role name AWSServiceRoleForAmazonOpenSearchService has been taken in this
    # account, please try a different suffix."); SDK v3 names the exception InvalidInputException.
    ignored = re.compile(create["ignoreErrorCodesMatching"])
    assert ignored.pattern == ROLE_EXISTS_ERROR
    for code in ("InvalidInput", "InvalidInputException"):
        assert ignored.search(code)
    for code in ("AccessDenied", "AccessDeniedException", "LimitExceeded", "ServiceFailure"):
        assert not ignored.search(code)
    _, domain = _one(template, "AWS::OpenSearchService::Domain")
    assert role_id in domain["DependsOn"]
    [policy] = [
        p
        for p in _of_type(template, "AWS::IAM::Policy").values()
        if "iam:CreateServiceLinkedRole" in json.dumps(p)
    ]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "iam:CreateServiceLinkedRole"
    assert statement["Condition"] == {
        "StringLike": {"iam:AWSServiceName": "opensearchservice.amazonaws.com"}
    }
    assert _flat(statement["Resource"]) == _arn(
        "iam::{account}:role/aws-service-role/opensearchservice.amazonaws.com/"
        "AWSServiceRoleForAmazonOpenSearchService"
    )


# Finding 2: a failed first deploy leaves nothing behind; destroy keeps exactly the data.

KEPT_ON_DELETE = {
    "AWS::OpenSearchService::Domain",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
}


def test_nothing_is_retained_when_a_first_deploy_rolls_back(template: dict[str, Any]) -> None:
    # CloudFormation keeps `Retain` resources even when it rolls back a failed create.
    retained = {
        logical_id: resource["Type"]
        for logical_id, resource in template["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    }
    # The one exception: the load balancer's access-log bucket. ALB writes a test object into
    # it at once, so a rollback could not delete it; its generated name collides with nothing.
    assert set(retained.values()) <= {"AWS::S3::Bucket"}
    for resource in template["Resources"].values():
        if resource["Type"] in KEPT_ON_DELETE:
            assert resource["DeletionPolicy"] == "RetainExceptOnCreate", resource["Type"]
            assert resource["UpdateReplacePolicy"] == "Retain"
    log_groups = _of_type(template, "AWS::Logs::LogGroup").items()
    kept_logs = {k for k, r in log_groups if r.get("DeletionPolicy") == "RetainExceptOnCreate"}
    assert {k for k in kept_logs if k.startswith("Search")} >= {
        next(k for k, _ in log_groups if k.startswith(f"Search{name}Logs"))
        for name in ("App", "Audit", "SlowSearch", "SlowIndex", "Provisioning", "Provider")
    }


def test_the_master_secret_is_kept_whenever_the_domain_is(template: dict[str, Any]) -> None:
    _, domain = _one(template, "AWS::OpenSearchService::Domain")
    policies = (domain["DeletionPolicy"], domain["UpdateReplacePolicy"])
    for secret in _of_type(template, "AWS::SecretsManager::Secret").values():
        assert (secret["DeletionPolicy"], secret["UpdateReplacePolicy"]) == policies


def test_destroy_keeps_the_domains_network_and_deletes_what_costs(
    template: dict[str, Any],
) -> None:
    # The kept domain's network interfaces stay in its security group and subnets: deleting
    # those (or the VPC) would fail and leave the stack DELETE_FAILED.
    _, domain = _one(template, "AWS::OpenSearchService::Domain")
    options = domain["Properties"]["VPCOptions"]
    kept = [g["Fn::GetAtt"][0] for g in options["SecurityGroupIds"]]
    kept += [s["Ref"] for s in options["SubnetIds"]]
    kept += list(_of_type(template, "AWS::EC2::VPC"))
    kept += list(_of_type(template, "AWS::EC2::VPCCidrBlock"))
    for logical_id in kept:
        assert template["Resources"][logical_id]["DeletionPolicy"] == "RetainExceptOnCreate"
    for costly in ("AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::AutoScaling::AutoScalingGroup"):
        for resource in _of_type(template, costly).values():
            assert resource.get("DeletionPolicy", "Delete") == "Delete"


def test_the_domain_name_is_new_for_every_stack_account_and_region(
    template: dict[str, Any],
) -> None:
    # A fixed name would collide with a domain kept by an earlier `cdk destroy`.
    _, domain = _one(template, "AWS::OpenSearchService::Domain")
    name = domain["Properties"]["DomainName"]
    prefix, unique = name["Fn::Join"][1]
    assert re.fullmatch(r"spot-[0-9a-f]{6}-", prefix)
    assert unique == {
        "Fn::Select": [
            0,
            {
                "Fn::Split": [
                    "-",
                    {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]},
                ]
            },
        ]
    }
    assert len(prefix) + 8 <= 28  # the service's limit; the UUID's first group is 8 characters
    # The access policy names the same domain.
    statement = domain["Properties"]["AccessPolicies"]["Statement"][0]
    parts = statement["Resource"]["Fn::Join"][1]
    assert unique in parts and any(prefix in p for p in parts if isinstance(p, str))


PHYSICAL_NAMES = {
    "AWS::OpenSearchService::Domain": "DomainName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Logs::ResourcePolicy": "PolicyName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::KMS::Alias": "AliasName",
}


def test_no_fixed_physical_name_can_collide_between_stacks(template: dict[str, Any]) -> None:
    for logical_id, resource in template["Resources"].items():
        prop = PHYSICAL_NAMES.get(resource["Type"])
        value = resource.get("Properties", {}).get(prop) if prop else None
        # Generated by CloudFormation, or made unique with the stack's own id.
        assert value is None or "AWS::StackId" in json.dumps(value), logical_id


# Finding 3: alarms reach the topic.


def test_this_accounts_alarms_may_publish_to_the_encrypted_topic(default: dict[str, Any]) -> None:
    alarm_arn = _arn("cloudwatch:{region}:{account}:alarm:*")
    conditions = {
        "StringEquals": {"aws:SourceAccount": "<AWS::AccountId>"},
        "ArnLike": {"aws:SourceArn": alarm_arn},
    }
    topic_id, topic = _one(default, "AWS::SNS::Topic")
    _, policy = _one(default, "AWS::SNS::TopicPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    [publish] = [s for s in statements if s["Effect"] == "Allow"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert (publish["Action"], publish["Resource"]) == ("sns:Publish", {"Ref": topic_id})
    assert _flat_condition(publish["Condition"]) == conditions
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_statements = default["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    [cloudwatch] = [s for s in key_statements if "cloudwatch" in json.dumps(s.get("Principal"))]
    assert _flat_condition(cloudwatch["Condition"]) == conditions
    assert cloudwatch["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    for alarm in _of_type(default, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]


# Finding 5: production spans three AZs for real.


def test_production_spans_three_azs(production: dict[str, Any]) -> None:
    _, domain = _one(production, "AWS::OpenSearchService::Domain")
    cluster = domain["Properties"]["ClusterConfig"]
    assert cluster["ZoneAwarenessConfig"] == {"AvailabilityZoneCount": 3}
    assert (cluster["InstanceCount"], cluster["DedicatedMasterCount"]) == (3, 3)
    subnet_ids = [s["Ref"] for s in domain["Properties"]["VPCOptions"]["SubnetIds"]]
    zones = {production["Resources"][s]["Properties"]["AvailabilityZone"] for s in subnet_ids}
    assert zones == {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert len(_of_type(production, "AWS::EC2::NatGateway")) == 3


# Finding 7: least privilege.


def _role_statements(template: dict[str, Any], handler: str) -> list[dict[str, Any]]:
    [function] = [
        f
        for f in _of_type(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == handler
    ]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in _of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_ingest_role_has_one_opensearch_grant_post_put_on_the_index_pattern(
    template: dict[str, Any],
) -> None:
    statements = _role_statements(template, "lambda_src.ingest.handler.handler")
    opensearch = [s for s in statements if "es:" in json.dumps(s["Action"])]
    domain_id, _ = _one(template, "AWS::OpenSearchService::Domain")
    assert opensearch == [
        {
            "Action": ["es:ESHttpPost", "es:ESHttpPut"],
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": ["", [{"Fn::GetAtt": [domain_id, "Arn"]}, "/spot-interruptions-*"]]
            },
        }
    ]


def test_every_service_principal_in_a_key_or_topic_policy_is_scoped(
    template: dict[str, Any],
) -> None:
    documents = [
        r["Properties"]["KeyPolicy"] for r in _of_type(template, "AWS::KMS::Key").values()
    ] + [
        r["Properties"]["PolicyDocument"]
        for r in _of_type(template, "AWS::SNS::TopicPolicy").values()
    ]
    for document in documents:
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow" and "Service" in statement.get("Principal", {}):
                condition = json.dumps(statement.get("Condition", {}))
                assert "aws:SourceAccount" in condition or "aws:logs:arn" in condition, statement
    ingest_key = next(
        r for k, r in _of_type(template, "AWS::KMS::Key").items() if k.startswith("IngestKey")
    )
    principals = json.dumps(
        [s.get("Principal") for s in ingest_key["Properties"]["KeyPolicy"]["Statement"]]
    )
    # The stack's alarm topic has its own key: CloudWatch has no business with this one.
    assert "cloudwatch.amazonaws.com" not in principals


# Finding 8: audit, application and function logs and the credentials under customer keys.


def test_logs_and_secrets_are_encrypted_with_a_customer_key(template: dict[str, Any]) -> None:
    keys = _of_type(template, "AWS::KMS::Key")
    for logical_id, group in _of_type(template, "AWS::Logs::LogGroup").items():
        if logical_id.startswith("NetworkFlowLogs"):
            continue  # VPC flow logs: network metadata, deleted with the stack
        key_id = group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
        statements = keys[key_id]["Properties"]["KeyPolicy"]["Statement"]
        [logs] = [s for s in statements if "logs." in json.dumps(s.get("Principal"))]
        assert _flat(logs["Principal"]["Service"]) == "logs.<AWS::Region>.amazonaws.com"
        assert _flat_condition(logs["Condition"]) == {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": _arn("logs:{region}:{account}:log-group:*")
            }
        }
    secrets = _of_type(template, "AWS::SecretsManager::Secret").values()
    assert secrets
    for secret in secrets:
        key_id = secret["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
        statements = keys[key_id]["Properties"]["KeyPolicy"]["Statement"]
        via = [s for s in statements if "kms:ViaService" in json.dumps(s.get("Condition", {}))]
        assert via and all(
            _flat(s["Condition"]["StringEquals"]["kms:ViaService"])
            == "secretsmanager.<AWS::Region>.amazonaws.com"
            for s in via
        )
