"""SearchDomain: a private Amazon OpenSearch Service domain that provisions itself at deploy time.

The domain runs in private subnets with fine-grained access control (internal user database,
master password generated in Secrets Manager), encryption at rest and node to node, HTTPS only
with TLS 1.2+, and logs to CloudWatch. A custom resource (`_provisioning.SearchProvisioning`)
then creates the index template, write alias and first index, the ISM policy, the
least-privilege roles and their mappings, optional read-only users and the Dashboards saved
objects; see docs/domain.md. Sizing lives in `_sizing`, the policies around the domain in
`_domain_policies`, the alarms' table shape in `_alarms`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

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
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct, IConstruct

from lambda_src.contract import (
    DEFAULT_INDEX_PREFIX,
    exposure_index_pattern,
    index_pattern,
    market_index_pattern,
    write_alias,
)
from spot_insights._alarms import AT_LEAST, AT_MOST, AlarmSpec, create_alarms
from spot_insights._domain_policies import (
    allow_log_delivery,
    domain_name,
    restrict_access,
    service_linked_role,
)
from spot_insights._provisioning import HTTPS, SearchProvisioning
from spot_insights._service_access import (
    RETAIN_UNLESS_CREATE_FAILS,
    allow_log_encryption,
    kept_log_group,
)
from spot_insights._sizing import SIZINGS, SizingProfile
from spot_insights._validation import index_prefix_prop

MASTER_USER_NAME = "spot-insights-admin"
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$")
# The same rules the provisioner applies at deploy time, checked here so synth fails first.
_AGE = re.compile(r"^[1-9][0-9]*[dh]$")
_SIZE = re.compile(r"^[1-9][0-9]*(mb|gb)$")
# Quotes, backslashes and slashes make passwords awkward in JSON, shells and URLs.
_PASSWORD_EXCLUDES = "\"'\\/@`"
_DOMAIN_LOGS = {
    "app": "AppLogs",
    "audit": "AuditLogs",
    "slow_search": "SlowSearchLogs",
    "slow_index": "SlowIndexLogs",
}


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

    domain: opensearch.Domain
    """The OpenSearch 2.19 domain (VPC only, fine-grained access control)."""
    endpoint: str
    """`https://<domain endpoint>`, what writers and the provisioner call."""
    index_prefix: str
    write_alias: str
    """`<prefix>-write`: writers index through it; rollover moves it."""
    profile: SizingProfile
    master_secret: secretsmanager.Secret
    """The master user's generated credentials (JSON `username`, `password`)."""
    reader_user_secrets: dict[str, secretsmanager.ISecret]
    """One generated secret per read-only user name."""
    security_group: ec2.SecurityGroup
    """The domain's security group (no inline ingress, no egress); see `connections`."""
    subnets: list[ec2.ISubnet]
    """The domain's subnets, one per AZ it uses."""
    encryption_key: kms.IKey
    """Encrypts the log groups and secrets."""
    log_groups: dict[str, logs.LogGroup]
    """`app`, `audit`, `slow_search`, `slow_index`."""
    provisioning: cdk.CustomResource
    """Provisions the domain on every deploy; `connect_writer(starts_writing=...)` waits on it."""
    provisioning_function: lambda_.Function
    alarms: list[cloudwatch.Alarm]
    removal_policy: cdk.RemovalPolicy

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
        sizing = SIZINGS[self.profile]
        volume_size = volume_size_gib or sizing.volume_size_gib
        self.index_prefix = index_prefix
        self.write_alias = write_alias(index_prefix)
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
        self.log_groups = {
            kind: kept_log_group(self, log_id, key=self.encryption_key, retention=log_retention)
            for kind, log_id in _DOMAIN_LOGS.items()
        }
        self.domain = opensearch.Domain(
            self,
            "Domain",
            version=opensearch.EngineVersion.OPENSEARCH_2_19,
            domain_name=domain_name(self),
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
            logging=opensearch.LoggingOptions(
                app_log_enabled=True,
                app_log_group=self.log_groups["app"],
                audit_log_enabled=True,
                audit_log_group=self.log_groups["audit"],
                slow_search_log_enabled=True,
                slow_search_log_group=self.log_groups["slow_search"],
                slow_index_log_enabled=True,
                slow_index_log_group=self.log_groups["slow_index"],
            ),
            # Written below without the CDK's extra custom resources (_domain_policies).
            suppress_logs_resource_policy=True,
            enable_auto_software_update=True,
            removal_policy=removal_policy,
        )
        if create_service_linked_role:
            role_logs = kept_log_group(
                self,
                "ServiceLinkedRoleLogs",
                key=self.encryption_key,
                retention=logs.RetentionDays.ONE_MONTH,
            )
            self.domain.node.add_dependency(service_linked_role(self, role_logs))
        allow_log_delivery(self, self.domain, self.log_groups.values())
        restrict_access(self, self.domain)
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
        # Id "Default": CDK leaves it out of logical ids, so the function, Provider and custom
        # resource keep the logical ids they had as direct children of this construct and
        # deployed stacks update them in place (no second run of a replaced custom resource).
        self._provisioner = SearchProvisioning(
            self,
            "Default",
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            domain_connections=self.connections,
            secrets=[self.master_secret, *self.reader_user_secrets.values()],
            properties={
                "Endpoint": self.endpoint,
                "MasterSecretArn": self.master_secret.secret_arn,
                "IndexPrefix": index_prefix,
                "Replicas": str(sizing.replicas),
                "RetentionDays": str(retention_days),
                "RolloverAge": rollover_age,
                "RolloverSize": rollover_size,
                "ReaderUserSecretArns": [s.secret_arn for s in self.reader_user_secrets.values()],
                "IsmMode": "required" if require_ism else "skip-if-unavailable",
            },
            encryption_key=self.encryption_key,
            log_retention=log_retention,
        )
        self.provisioning = self._provisioner.resource
        self.provisioning_function = self._provisioner.function
        # The function must reach the domain before it runs: wait for the ingress rules too.
        self.provisioning.node.add_dependency(self.security_group)
        self.alarms = self._alarms(alarm_topic, volume_size)
        self._explain_nag_findings()

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
        return self._connect(
            writer, starts_writing, index_pattern(self.index_prefix), exposure=False
        )

    def connect_exposure_writer(
        self, writer: iam.IGrantable, *, starts_writing: Sequence[IConstruct] = ()
    ) -> iam.Grant:
        """`connect_writer` for the fleet exposure family (`<prefix>.exposure-*`, e.g.
        `ExposureSampler.function`): es:ESHttpPost/Put on that family only, the role mapped to
        `spot_insights_exposure_writer` (index and bulk there, nothing else), HTTPS to the
        domain, and `starts_writing` (e.g. `ExposureSampler.schedule`) after provisioning."""
        return self._connect(
            writer, starts_writing, exposure_index_pattern(self.index_prefix), exposure=True
        )

    def connect_market_writer(
        self, writer: iam.IGrantable, *, starts_writing: Sequence[IConstruct] = ()
    ) -> iam.Grant:
        """`connect_exposure_writer` for the market context family (`<prefix>.market-*`, the
        sampler's daily run): es:ESHttpPost/Put there; the provisioner maps the same role to
        `spot_insights_market_writer` (index and bulk there, nothing else)."""
        return self._connect(
            writer, starts_writing, market_index_pattern(self.index_prefix), exposure=True
        )

    def _connect(
        self,
        writer: iam.IGrantable,
        starts_writing: Sequence[IConstruct],
        pattern: str,
        *,
        exposure: bool,
    ) -> iam.Grant:
        role_arn: str | None = getattr(writer.grant_principal, "role_arn", None)
        if role_arn is None:
            raise ValueError(
                "connect_writer: the writer's principal must be an IAM role (fine-grained "
                "access control maps role ARNs to spot_insights_writer)"
            )
        grant = self._writer_grants.get(f"{pattern} {role_arn}")
        if grant is None:
            self.connections.allow_from(_connectable(writer), HTTPS, "HTTPS to OpenSearch")
            if exposure:
                self._provisioner.add_exposure_writer_role(role_arn)
            else:
                self._provisioner.add_writer_role(role_arn)
            grant = iam.Grant.add_to_principal(
                grantee=writer,
                actions=["es:ESHttpPost", "es:ESHttpPut"],
                resource_arns=[f"{self.domain.domain_arn}/{pattern}"],
            )
            self._writer_grants[f"{pattern} {role_arn}"] = grant
            if isinstance(writer, Construct):
                _explain_writer_grant(writer, pattern)
        for construct in starts_writing:
            construct.node.add_dependency(self.provisioning)
        return grant

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

    def _explain_nag_findings(self) -> None:
        """Reasons for the AwsSolutions findings this construct accepts by design."""

        def why(rule: str, reason: str) -> NagPackSuppression:
            return NagPackSuppression(id=rule, reason=reason)

        domain_reasons = [
            why(
                "AwsSolutions-OS5",
                "Unsigned requests must reach fine-grained access control, which authenticates "
                "every one (internal users over basic auth; anonymous access off); a policy "
                "naming IAM principals would reject them (see _domain_policies.restrict_access).",
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


def _explain_writer_grant(writer: Construct, pattern: str) -> None:
    NagSuppressions.add_resource_suppressions(
        writer,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="The writer's es:ESHttpPost/Put grant covers this domain's index "
                "pattern (the rolling indices and their write alias), nothing else.",
                applies_to=[{"regex": f"/^Resource::.*/{re.escape(pattern)}$/g"}],
            )
        ],
        apply_to_children=True,
    )


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


def _id_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", name.title()) or "User"
