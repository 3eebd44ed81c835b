"""SearchDomain: a private Amazon OpenSearch Service domain that provisions itself at deploy time.

The domain runs in private subnets with fine-grained access control (internal user database,
master password generated in Secrets Manager), encryption at rest and node to node, HTTPS only
with TLS 1.2+, and logs to CloudWatch. A custom resource (CDK Provider framework, function in
the VPC) then creates the index template, write alias and first index, the ISM policy, the
least-privilege roles and their mappings, optional read-only users and the Dashboards saved
objects; see docs/domain.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import custom_resources as cr
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct, IConstruct

from lambda_src.contract import (
    DEFAULT_INDEX_PREFIX,
    PROVISIONING_SERVICE_NAME,
    IngestEnv,
    index_pattern,
    write_alias,
)
from spot_insights._alarms import AT_LEAST, AT_MOST, AlarmSpec, create_alarms
from spot_insights._lambda_asset import ARCHITECTURE, PROJECT_ROOT, RUNTIME, lambda_code
from spot_insights._service_access import RETAIN_UNLESS_CREATE_FAILS, allow_log_encryption
from spot_insights._validation import index_prefix_prop

MASTER_USER_NAME = "spot-insights-admin"
HTTPS = ec2.Port.tcp(443)
# The provisioning inputs whose change must re-run the custom resource on the next deploy.
CONTENT_FILES = ("dashboards/*.json", "dashboards/*.ndjson", "lambda_src/provisioning/*.py")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$")
# The same rules the provisioner applies at deploy time, checked here so synth fails first.
_AGE = re.compile(r"^[1-9][0-9]*[dh]$")
_SIZE = re.compile(r"^[1-9][0-9]*(mb|gb)$")
# Quotes, backslashes and slashes make passwords awkward in JSON, shells and URLs.
_PASSWORD_EXCLUDES = "\"'\\/@`"
# A VPC domain needs this service-linked role; CreateServiceLinkedRole fails with error code
# `InvalidInput` ("Service role name ... has been taken in this account") when it exists. The
# AwsCustomResource handler (AWS SDK for JavaScript v3) sees that code as the exception name
# `InvalidInputException`; both spellings are accepted, nothing else.
OPENSEARCH_SERVICE = "opensearchservice.amazonaws.com"
SERVICE_LINKED_ROLE = "AWSServiceRoleForAmazonOpenSearchService"
ROLE_EXISTS_ERROR = "^InvalidInput(Exception)?$"


class SizingProfile(StrEnum):
    """`small`: one t3.small.search node in one AZ, the cheapest type with encryption at rest
    (T2 has none). `production`: data nodes across AZs with zone awareness and three dedicated
    master nodes (r7g data, m7g masters: types cfn-lint accepts in every Region it checks)."""

    SMALL = "small"
    PRODUCTION = "production"


@dataclass(frozen=True)
class _Sizing:
    data_instance_type: str
    data_nodes_per_az: int
    availability_zones: int
    master_instance_type: str | None
    master_nodes: int
    volume_size_gib: int
    replicas: int


_SIZINGS = {
    # Replicas 0: a single node can never place a replica (the cluster would stay yellow).
    SizingProfile.SMALL: _Sizing("t3.small.search", 1, 1, None, 0, 10, 0),
    SizingProfile.PRODUCTION: _Sizing("r7g.large.search", 1, 3, "m7g.large.search", 3, 50, 1),
}


@jsii.implements(cdk.IStableListProducer)
class _ListProducer:
    """Produces the list at synth time, so grant_write() may be called after construction."""

    def __init__(self, values: list[str]) -> None:
        self._values = values

    def produce(self) -> list[str]:
        return list(self._values)


@jsii.implements(ec2.IConnectable)
class SearchDomain(Construct):
    """A private, self-provisioning OpenSearch 2.19 domain for Spot interruption events.

    Connect each writer with `connect_writer` (IAM grant, role mapping, 443 rule, ordering);
    admit readers such as DashboardProxy with `connections` (default port 443).

    :param vpc: the VPC for the domain and the provisioning function.
    :param vpc_subnets: where to place them; default private subnets with egress (the
        provisioning function reads Secrets Manager, so it needs egress or a VPC endpoint).
    :param profile: sizing profile; default `small`.
    :param alarm_topic: SNS topic for the domain alarms; default none (alarms without action).
    :param index_prefix: indices `<prefix>-000001`..., write alias `<prefix>-write`; default
        `lambda_src.contract.DEFAULT_INDEX_PREFIX`.
    :param retention_days: ISM deletes indices this long after rollover; default 365.
    :param rollover_age / rollover_size: ISM rollover thresholds; default `30d` / `20gb`.
    :param reader_users: internal read-only users to create; a generated password for each
        is stored in Secrets Manager (`reader_user_secrets`).
    :param volume_size_gib: EBS gp3 size per data node; default from the profile.
    :param log_retention: retention of the domain and function logs; default three months.
    :param removal_policy: of the domain, its security group, master and reader secrets, key
        and log groups; default RETAIN_ON_UPDATE_OR_DELETE: the data outlives the stack, but a
        failed first deploy removes everything so that it can be retried.
    :param encryption_key: customer key for the log groups and secrets; default a new key
        with rotation (a caller's key needs the CloudWatch Logs and Secrets Manager grants).
    :param create_service_linked_role: create AWSServiceRoleForAmazonOpenSearchService
        unless it exists (never deleted); default True.
    :param require_ism: fail the deployment if the ISM plugin is missing; default True (the
        managed service always has it).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None = None,
        profile: SizingProfile | str = SizingProfile.SMALL,
        alarm_topic: sns.ITopic | None = None,
        index_prefix: str = DEFAULT_INDEX_PREFIX,
        retention_days: int = 365,
        rollover_age: str = "30d",
        rollover_size: str = "20gb",
        reader_users: Sequence[str] = (),
        volume_size_gib: int | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        removal_policy: cdk.RemovalPolicy = RETAIN_UNLESS_CREATE_FAILS,
        encryption_key: kms.IKey | None = None,
        create_service_linked_role: bool = True,
        require_ism: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        index_prefix_prop(index_prefix)
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        if not _AGE.match(rollover_age):
            raise ValueError(f"rollover_age must be like '30d' or '12h', got {rollover_age!r}")
        if not _SIZE.match(rollover_size):
            raise ValueError(f"rollover_size must be like '20gb', got {rollover_size!r}")
        if volume_size_gib is not None and volume_size_gib < 10:
            raise ValueError("volume_size_gib must be at least 10")
        for user in reader_users:
            if not _USER.match(user):
                raise ValueError(f"reader user name {user!r} is not valid")
        self.profile = SizingProfile(profile)
        sizing = _SIZINGS[self.profile]
        volume_size = volume_size_gib or sizing.volume_size_gib
        self.index_prefix = index_prefix
        self.write_alias = write_alias(index_prefix)
        self._writer_role_arns: list[str] = []
        self._writer_grants: dict[str, iam.Grant] = {}
        self.removal_policy = removal_policy
        self.encryption_key: kms.IKey = encryption_key or kms.Key(
            self,
            "Key",
            description="Encrypts the Spot Insights domain's log groups and secrets",
            enable_key_rotation=True,
            removal_policy=RETAIN_UNLESS_CREATE_FAILS,
        )
        allow_log_encryption(self.encryption_key)

        self.master_secret = secretsmanager.Secret(
            self,
            "MasterUserSecret",
            description="OpenSearch master user of the Spot Insights domain",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"username": MASTER_USER_NAME}),
                generate_string_key="password",
                password_length=32,
                exclude_characters=_PASSWORD_EXCLUDES,
                require_each_included_type=True,
            ),
            encryption_key=self.encryption_key,
            # Its password is the domain's master password: kept whenever the domain is.
            removal_policy=removal_policy,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Spot Insights OpenSearch domain: HTTPS from allowed peers only",
            allow_all_outbound=False,
        )
        # The domain's network interfaces stay in it as long as the domain exists.
        self.security_group.apply_removal_policy(removal_policy)
        self.subnets = _subnets(vpc, vpc_subnets, sizing.availability_zones)
        self.domain = opensearch.Domain(
            self,
            "Domain",
            version=opensearch.EngineVersion.OPENSEARCH_2_19,
            domain_name=_domain_name(self),
            vpc=vpc,
            vpc_subnets=[ec2.SubnetSelection(subnets=self.subnets)],
            security_groups=[self.security_group],
            capacity=opensearch.CapacityConfig(
                data_node_instance_type=sizing.data_instance_type,
                data_nodes=sizing.data_nodes_per_az * sizing.availability_zones,
                master_node_instance_type=sizing.master_instance_type,
                master_nodes=sizing.master_nodes or None,
                multi_az_with_standby_enabled=False,
            ),
            zone_awareness=opensearch.ZoneAwarenessConfig(
                enabled=sizing.availability_zones > 1,
                availability_zone_count=(
                    sizing.availability_zones if sizing.availability_zones > 1 else None
                ),
            ),
            ebs=opensearch.EbsOptions(
                volume_size=volume_size, volume_type=ec2.EbsDeviceVolumeType.GP3
            ),
            encryption_at_rest=opensearch.EncryptionAtRestOptions(enabled=True),
            node_to_node_encryption=True,
            enforce_https=True,
            tls_security_policy=opensearch.TLSSecurityPolicy.TLS_1_2_PFS,
            fine_grained_access_control=opensearch.AdvancedSecurityOptions(
                master_user_name=MASTER_USER_NAME,
                master_user_password=self.master_secret.secret_value_from_json("password"),
            ),
            logging=self._logging(log_retention),
            # Written below without the CDK's extra custom resources (see _restrict_access).
            suppress_logs_resource_policy=True,
            enable_auto_software_update=True,
            removal_policy=removal_policy,
        )
        if create_service_linked_role:
            self.domain.node.add_dependency(self._service_linked_role())
        self._allow_log_delivery()
        self._restrict_access()
        self.endpoint = f"https://{self.domain.domain_endpoint}"

        self.reader_user_secrets: dict[str, secretsmanager.ISecret] = {
            user: secretsmanager.Secret(
                self,
                f"ReaderUser{_id_part(user)}",
                description=f"Spot Insights read-only OpenSearch user {user}",
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template=json.dumps({"username": user}),
                    generate_string_key="password",
                    password_length=24,
                    exclude_characters=_PASSWORD_EXCLUDES,
                    require_each_included_type=True,
                ),
                encryption_key=self.encryption_key,
                removal_policy=removal_policy,
            )
            for user in reader_users
        }
        self.provisioning_function = self._provisioning_function(vpc, vpc_subnets, log_retention)
        self.provisioning = cdk.CustomResource(
            self,
            "Provisioning",
            service_token=cr.Provider(
                self,
                "ProvisioningProvider",
                on_event_handler=self.provisioning_function,
                log_group=self._log_group("ProviderLogs", log_retention),
            ).service_token,
            resource_type="Custom::SpotInsightsSearchSetup",
            properties={
                "Endpoint": self.endpoint,
                "MasterSecretArn": self.master_secret.secret_arn,
                "IndexPrefix": index_prefix,
                "Replicas": str(sizing.replicas),
                "RetentionDays": str(retention_days),
                "RolloverAge": rollover_age,
                "RolloverSize": rollover_size,
                "WriterBackendRoles": cdk.Lazy.list(_ListProducer(self._writer_role_arns)),
                "ReaderUserSecretArns": [s.secret_arn for s in self.reader_user_secrets.values()],
                "IsmMode": "required" if require_ism else "skip-if-unavailable",
                "ContentHash": provisioning_content_hash(),
            },
        )
        # The function must reach the domain before it runs: wait for the ingress rules too.
        self.provisioning.node.add_dependency(self.security_group)
        self.alarms = self._alarms(alarm_topic, volume_size)
        self._explain_nag_findings(provider_scope=self.node.find_child("ProvisioningProvider"))

    @property
    def connections(self) -> ec2.Connections:
        """The domain's security group (default port 443): admit readers with
        `search.connections.allow_default_port_from(peer)`; writers through connect_writer."""
        return self.domain.connections

    def connect_writer(
        self, writer: iam.IGrantable, *, starts_writing: Sequence[IConstruct] = ()
    ) -> iam.Grant:
        """Everything `writer` needs to write interruption documents, done once per writer:

        - IAM: es:ESHttpPost and es:ESHttpPut on `<prefix>-*` of this domain (the write alias
          and its `_bulk` path; unlike `Domain.grant_index_write`, no DELETE or PATCH);
        - fine-grained access control: its role becomes a backend role of
          `spot_insights_writer`, mapped by the provisioning custom resource;
        - network: HTTPS (443 only) from its security groups to the domain's;
        - order: each construct in `starts_writing` (e.g. `IngestPipeline.event_source_mapping`)
          is deployed only after provisioning has created the write alias, so the first batch
          waits in its queue instead of meeting a missing alias.

        :param writer: a principal whose `grant_principal` is an IAM role and which has
            security groups in the domain's VPC (`IConnectable`): a Lambda function with `vpc`,
            an Auto Scaling group, an ECS service.
        :param starts_writing: constructs that set the writer going. Default: none.
        :returns: the IAM grant (calling again for the same role returns the first one).
        """
        role_arn: str | None = getattr(writer.grant_principal, "role_arn", None)
        if role_arn is None:
            raise ValueError(
                "connect_writer: the writer's principal must be an IAM role (fine-grained "
                "access control maps role ARNs to spot_insights_writer)"
            )
        grant = self._writer_grants.get(role_arn)
        if grant is None:
            self.connections.allow_from(_connectable(writer), HTTPS, "HTTPS to OpenSearch")
            self._writer_role_arns.append(role_arn)
            grant = iam.Grant.add_to_principal(
                grantee=writer,
                actions=["es:ESHttpPost", "es:ESHttpPut"],
                resource_arns=[f"{self.domain.domain_arn}/{index_pattern(self.index_prefix)}"],
            )
            self._writer_grants[role_arn] = grant
            if isinstance(writer, Construct):
                _explain_writer_grant(writer, self.index_prefix)
        for construct in starts_writing:
            construct.node.add_dependency(self.provisioning)
        return grant

    def _log_group(self, construct_id: str, retention: logs.RetentionDays) -> logs.LogGroup:
        """Under the customer key; kept (like the domain) unless a first deploy fails."""
        return logs.LogGroup(
            self,
            construct_id,
            retention=retention,
            encryption_key=self.encryption_key,
            removal_policy=RETAIN_UNLESS_CREATE_FAILS,
        )

    def _service_linked_role(self) -> Construct:
        """AWSServiceRoleForAmazonOpenSearchService, which a VPC domain cannot be created without.

        Created on the stack's first deploy unless it already exists (the InvalidInput error is
        then ignored); never updated or deleted: other domains in the account depend on it.
        """
        stack = cdk.Stack.of(self)
        role_arn = stack.format_arn(
            service="iam",
            region="",
            resource="role",
            resource_name=f"aws-service-role/{OPENSEARCH_SERVICE}/{SERVICE_LINKED_ROLE}",
        )
        role = cr.AwsCustomResource(
            self,
            "ServiceLinkedRole",
            resource_type="Custom::OpenSearchServiceLinkedRole",
            on_create=cr.AwsSdkCall(
                service="IAM",
                action="createServiceLinkedRole",
                parameters={"AWSServiceName": OPENSEARCH_SERVICE},
                physical_resource_id=cr.PhysicalResourceId.of(SERVICE_LINKED_ROLE),
                ignore_error_codes_matching=ROLE_EXISTS_ERROR,
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["iam:CreateServiceLinkedRole"],
                        resources=[role_arn],
                        conditions={"StringLike": {"iam:AWSServiceName": OPENSEARCH_SERVICE}},
                    )
                ]
            ),
            install_latest_aws_sdk=False,
            log_group=self._log_group("ServiceLinkedRoleLogs", logs.RetentionDays.ONE_MONTH),
        )
        # The handler is aws-cdk-lib's one singleton function per stack, a child of the stack.
        singleton = "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")
        NagSuppressions.add_resource_suppressions(
            stack.node.find_child(singleton),
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="aws-cdk-lib's AwsCustomResource handler logs with Lambda's minimal "
                    "AWSLambdaBasicExecutionRole; its one call is scoped in its own policy.",
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                        "AWSLambdaBasicExecutionRole"
                    ],
                )
            ],
            apply_to_children=True,
        )
        return role

    def _logging(self, retention: logs.RetentionDays) -> opensearch.LoggingOptions:
        self.log_groups = {
            "app": self._log_group("AppLogs", retention),
            "audit": self._log_group("AuditLogs", retention),
            "slow_search": self._log_group("SlowSearchLogs", retention),
            "slow_index": self._log_group("SlowIndexLogs", retention),
        }
        return opensearch.LoggingOptions(
            app_log_enabled=True,
            app_log_group=self.log_groups["app"],
            audit_log_enabled=True,
            audit_log_group=self.log_groups["audit"],
            slow_search_log_enabled=True,
            slow_search_log_group=self.log_groups["slow_search"],
            slow_index_log_enabled=True,
            slow_index_log_group=self.log_groups["slow_index"],
        )

    def _allow_log_delivery(self) -> None:
        """The service writes logs only with a CloudWatch Logs resource policy naming it."""
        stack = cdk.Stack.of(self)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "es.amazonaws.com"},
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [f"{g.log_group_arn}" for g in self.log_groups.values()],
                    "Condition": {"StringEquals": {"aws:SourceAccount": stack.account}},
                }
            ],
        }
        resource_policy = logs.CfnResourcePolicy(
            self,
            "LogDeliveryPolicy",
            # Resource policies are per account and region: unique per stack, like the domain.
            policy_name=cdk.Fn.join(
                "-", [cdk.Names.unique_id(self)[-200:], _stack_uuid_head(self), "opensearch-logs"]
            ),
            policy_document=stack.to_json_string(policy),
        )
        self.domain.node.add_dependency(resource_policy)

    def _restrict_access(self) -> None:
        """Resource policy: HTTP data-plane actions on this domain only, never es:*.

        Basic-auth requests (the provisioner, read-only users, the Dashboards proxy) are not
        SigV4-signed, so a policy naming IAM principals would reject them before fine-grained
        access control could authenticate them (AWS recommends a policy that does not require
        signed requests with FGAC). So the Allow admits any caller that reaches the VPC
        endpoint through the security group, FGAC authenticates every request (anonymous
        access stays off), and the Deny keeps signed callers to this account's principals."""
        stack = cdk.Stack.of(self)
        domain_resource = stack.format_arn(
            service="es",
            resource="domain",
            resource_name=f"{_domain_name(self)}/*",
        )
        cfn = self.domain.node.default_child
        assert isinstance(cfn, opensearch.CfnDomain)
        cfn.access_policies = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "HttpThroughFineGrainedAccessControl",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "es:ESHttp*",
                    "Resource": domain_resource,
                },
                {
                    "Sid": "SignedCallersFromThisAccountOnly",
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": "es:ESHttp*",
                    "Resource": domain_resource,
                    # Null=false: the key exists only on signed requests.
                    "Condition": {
                        "Null": {"aws:PrincipalAccount": "false"},
                        "StringNotEquals": {"aws:PrincipalAccount": stack.account},
                    },
                },
            ],
        }

    def _provisioning_function(
        self,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None,
        log_retention: logs.RetentionDays,
    ) -> lambda_.Function:
        function_sg = ec2.SecurityGroup(
            self,
            "ProvisioningSecurityGroup",
            vpc=vpc,
            description="Spot Insights provisioning function: HTTPS out only",
            allow_all_outbound=False,
        )
        # HTTPS to the domain and to Secrets Manager (through NAT or an interface endpoint).
        function_sg.add_egress_rule(ec2.Peer.any_ipv4(), HTTPS, "HTTPS to AWS APIs and the domain")
        function = lambda_.Function(
            self,
            "ProvisioningFunction",
            description="Provisions the Spot Insights OpenSearch domain (templates, ISM, roles)",
            code=lambda_code(),
            handler="lambda_src.provisioning.handler.on_event",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=256,
            # The handler keeps 30 s of this to report a failure instead of timing out.
            timeout=cdk.Duration.minutes(10),
            vpc=vpc,
            vpc_subnets=vpc_subnets
            or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[function_sg],
            log_group=self._log_group("ProvisioningLogs", log_retention),
            environment={IngestEnv.SERVICE_NAME: PROVISIONING_SERVICE_NAME},
        )
        self.master_secret.grant_read(function)
        for secret in self.reader_user_secrets.values():
            secret.grant_read(function)
        self.connections.allow_from(function, HTTPS, "HTTPS from the provisioning function")
        return function

    def _alarms(self, topic: sns.ITopic | None, volume_size_gib: int) -> list[cloudwatch.Alarm]:
        five_min = cdk.Duration.minutes(5)
        one_min = cdk.Duration.minutes(1)
        # FreeStorageSpace is reported in megabytes; alarm below a quarter of one node's disk.
        free_storage_mb = volume_size_gib * 1024 * 0.25
        domain = self.domain

        def spec(
            name: str,
            metric: cloudwatch.IMetric,
            threshold: float,
            periods: int,
            comparison: cloudwatch.ComparisonOperator = AT_LEAST,
        ) -> AlarmSpec:
            return AlarmSpec(
                f"{name}Alarm",
                f"Spot Insights OpenSearch domain: {name}",
                metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison=comparison,
            )

        specs = [
            spec("ClusterRed", domain.metric_cluster_status_red(period=one_min), 1, 1),
            spec("ClusterYellow", domain.metric_cluster_status_yellow(period=one_min), 1, 5),
            spec(
                "FreeStorageLow",
                domain.metric_free_storage_space(period=one_min, statistic="Minimum"),
                free_storage_mb,
                1,
                AT_MOST,
            ),
            spec("JvmMemoryPressure", domain.metric_jvm_memory_pressure(period=five_min), 80, 3),
            spec(
                "CpuHigh",
                domain.metric_cpu_utilization(period=five_min, statistic="Average"),
                80,
                3,
            ),
            spec(
                "IndexWritesBlocked",
                domain.metric_cluster_index_writes_blocked(period=five_min),
                1,
                1,
            ),
            spec(
                "SnapshotFailed",
                domain.metric_automated_snapshot_failure(period=one_min),
                1,
                1,
            ),
        ]
        return create_alarms(self, specs, topic)

    def _explain_nag_findings(self, provider_scope: Construct) -> None:
        """Reasons for the AwsSolutions findings this construct accepts by design."""

        def why(rule: str, reason: str) -> NagPackSuppression:
            return NagPackSuppression(id=rule, reason=reason)

        domain_reasons = [
            why(
                "AwsSolutions-OS5",
                "Unsigned requests must reach fine-grained access control, which authenticates "
                "every one (internal users over basic auth; anonymous access off); a policy "
                "naming IAM principals would reject them (see _restrict_access).",
            ),
            why(
                "AwsSolutions-OS3",
                "VPC-only domain: reachable only through its security "
                "group (443 from allowed peers); IP allow lists do not apply to VPC access.",
            ),
        ]
        if self.profile is SizingProfile.SMALL:
            domain_reasons += [
                why(
                    "AwsSolutions-OS4",
                    "Profile 'small' is one node by design (cost); "
                    "'production' has three dedicated masters.",
                ),
                why(
                    "AwsSolutions-OS7",
                    "Profile 'small' is single-AZ by design (cost); "
                    "'production' enables zone awareness.",
                ),
            ]
        NagSuppressions.add_resource_suppressions(self.domain, domain_reasons, True)
        secrets = [self.master_secret, *self.reader_user_secrets.values()]
        for secret in secrets:
            NagSuppressions.add_resource_suppressions(
                secret,
                [
                    why(
                        "AwsSolutions-SMG4",
                        "Rotation must also change the password inside "
                        "OpenSearch, which the provisioner does on its next run; scheduled "
                        "rotation is not wired yet (docs/domain.md, Known limits).",
                    )
                ],
            )
        lambda_reasons = [
            why(
                "AwsSolutions-IAM4",
                "AWSLambdaBasicExecutionRole / AWSLambdaVPCAccessExecution"
                "Role are the standard minimal policies for logging and VPC ENIs.",
            ),
            why(
                "AwsSolutions-IAM5",
                "Provider framework: invoke permission on the handler "
                "function's versions (<arn>:*), generated by aws-cdk-lib.",
            ),
            why(
                "AwsSolutions-L1",
                "Runtime pinned project-wide to python3.13 (spot_insights/_lambda_asset.py).",
            ),
        ]
        for scope in (self.provisioning_function, provider_scope):
            NagSuppressions.add_resource_suppressions(scope, lambda_reasons, True)


def _connectable(writer: iam.IGrantable) -> ec2.IConnectable:
    """`writer` itself when it has security groups; a clear error otherwise (a function without
    `vpc` raises from its `connections`)."""
    try:
        writer.connections  # type: ignore[attr-defined]  # noqa: B018 - raises if it has none
    except (AttributeError, RuntimeError) as error:  # jsii raises RuntimeError
        raise ValueError(
            "connect_writer: the writer must have security groups in the domain's VPC "
            "(IConnectable, e.g. a Lambda function created with vpc); the domain accepts "
            "HTTPS from nothing else"
        ) from error
    return writer  # type: ignore[return-value]


def _explain_writer_grant(writer: Construct, index_prefix: str) -> None:
    NagSuppressions.add_resource_suppressions(
        writer,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="The writer's es:ESHttpPost/Put grant covers this domain's index "
                "pattern (the rolling indices and their write alias), nothing else.",
                applies_to=[{"regex": f"/^Resource::.*/{re.escape(index_prefix)}-\\*$/g"}],
            )
        ],
        apply_to_children=True,
    )


def provisioning_content_hash() -> str:
    """Digest of the mapping, saved objects and provisioning code (ISM policy, roles)."""
    digest = hashlib.sha256()
    for pattern in CONTENT_FILES:
        for path in sorted(PROJECT_ROOT.glob(pattern)):
            digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _subnets(
    vpc: ec2.IVpc, selection: ec2.SubnetSelection | None, availability_zones: int
) -> list[ec2.ISubnet]:
    """One subnet per AZ used, as the service requires."""
    wanted = selection or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
    chosen = vpc.select_subnets(
        subnet_type=wanted.subnet_type,
        subnet_group_name=wanted.subnet_group_name,
        subnets=wanted.subnets,
        availability_zones=wanted.availability_zones,
        subnet_filters=wanted.subnet_filters,
        one_per_az=True,
    ).subnets
    if len(chosen) < availability_zones:
        raise ValueError(
            f"the profile needs subnets in {availability_zones} AZs, the selection has "
            f"{len(chosen)}"
        )
    return chosen[:availability_zones]


def _domain_name(scope: Construct) -> str:
    """`spot-<construct hash>-<stack id part>`: 20 chars, lowercase, known before creation (the
    access policy names it) and stable across updates, yet new for every new stack. A fixed name
    would collide with a domain kept by an earlier `cdk destroy` of the same stack name: the
    stack id's UUID differs per stack, account and region. Its first group is 8 hex digits."""
    unique = hashlib.sha256(cdk.Names.unique_id(scope).encode()).hexdigest()[:6]
    return cdk.Fn.join("", [f"spot-{unique}-", _stack_uuid_head(scope)])


def _stack_uuid_head(scope: Construct) -> str:
    """The first group (8 hex digits) of the UUID in `arn:...:stack/<name>/<uuid>`, new per
    stack, account and region; resolved by CloudFormation at deploy time."""
    stack_uuid = cdk.Fn.select(2, cdk.Fn.split("/", cdk.Stack.of(scope).stack_id))
    return cdk.Fn.select(0, cdk.Fn.split("-", stack_uuid))


def _id_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", name.title()) or "User"
