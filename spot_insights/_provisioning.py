"""SearchProvisioning: the custom resource that provisions a SearchDomain at deploy time.

A Lambda function in the VPC (Provider framework) runs `lambda_src.provisioning.handler` on
every create and update: index template, write alias and first index, the ISM policy, the
least-privilege roles and their mappings, read-only users and the Dashboards saved objects.
Its properties carry a hash of those inputs, so changing any of them re-runs it on deploy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from lambda_src.contract import PROVISIONING_SERVICE_NAME, IngestEnv
from spot_insights._assets import LAMBDA_ASSET_SOURCES
from spot_insights._lambda_asset import ARCHITECTURE, RUNTIME, lambda_code
from spot_insights._service_access import kept_log_group

HTTPS = ec2.Port.tcp(443)
RESOURCE_TYPE = "Custom::SpotInsightsSearchSetup"
# The provisioning inputs whose change must re-run the custom resource on the next deploy, as
# globs inside the Lambda asset's folders.
CONTENT_FILES = {"dashboards": ("*.json", "*.ndjson"), "lambda_src": ("provisioning/*.py",)}


@jsii.implements(cdk.IStableListProducer)
class _ListProducer:
    """Produces the list at synth time, so writers may be added after construction."""

    def __init__(self, values: list[str]) -> None:
        self._values = values

    def produce(self) -> list[str]:
        return list(self._values)


class SearchProvisioning(Construct):
    """The provisioning function, its Provider and the custom resource, for one domain.

    :param vpc / vpc_subnets: where the function runs (it reads Secrets Manager and reaches the
        domain, so private subnets with egress by default).
    :param domain_connections: the domain's security group, which admits the function on 443.
    :param properties: what the provisioner applies (endpoint, secrets, prefix, retention ...);
        `WriterBackendRoles` and `ContentHash` are added here.
    :param encryption_key / log_retention: for the function's and the Provider's log groups.
    """

    function: lambda_.Function
    """Runs `lambda_src.provisioning.handler.on_event`."""
    resource: cdk.CustomResource
    """The custom resource; depend on it to act only once the write alias exists."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None,
        domain_connections: ec2.Connections,
        secrets: list[secretsmanager.ISecret],
        properties: Mapping[str, object],
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._writer_role_arns: list[str] = []
        self._exposure_writer_role_arns: list[str] = []
        function_sg = ec2.SecurityGroup(
            self,
            "ProvisioningSecurityGroup",
            vpc=vpc,
            description="Spot Insights provisioning function: HTTPS out only",
            allow_all_outbound=False,
        )
        # HTTPS to the domain and to Secrets Manager (through NAT or an interface endpoint).
        function_sg.add_egress_rule(ec2.Peer.any_ipv4(), HTTPS, "HTTPS to AWS APIs and the domain")
        self.function = lambda_.Function(
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
            log_group=kept_log_group(
                self, "ProvisioningLogs", key=encryption_key, retention=log_retention
            ),
            environment={IngestEnv.SERVICE_NAME: PROVISIONING_SERVICE_NAME},
        )
        for secret in secrets:
            secret.grant_read(self.function)
        domain_connections.allow_from(self.function, HTTPS, "HTTPS from the provisioning function")
        provider = cr.Provider(
            self,
            "ProvisioningProvider",
            on_event_handler=self.function,
            log_group=kept_log_group(
                self, "ProviderLogs", key=encryption_key, retention=log_retention
            ),
        )
        self.resource = cdk.CustomResource(
            self,
            "Provisioning",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={
                **properties,
                "WriterBackendRoles": cdk.Lazy.list(_ListProducer(self._writer_role_arns)),
                "ExposureWriterBackendRoles": cdk.Lazy.list(
                    _ListProducer(self._exposure_writer_role_arns)
                ),
                "ContentHash": provisioning_content_hash(),
            },
        )
        _explain_nag_findings(self.function, provider)

    def add_writer_role(self, role_arn: str) -> None:
        """Map `role_arn` to `spot_insights_writer` on the next provisioning run."""
        if role_arn not in self._writer_role_arns:
            self._writer_role_arns.append(role_arn)

    def add_exposure_writer_role(self, role_arn: str) -> None:
        """Map `role_arn` to `spot_insights_exposure_writer` on the next provisioning run."""
        if role_arn not in self._exposure_writer_role_arns:
            self._exposure_writer_role_arns.append(role_arn)


def provisioning_content_hash(sources: Mapping[str, Path] = LAMBDA_ASSET_SOURCES) -> str:
    """Digest of the mapping, saved objects and provisioning code (ISM policy, roles)."""
    digest = hashlib.sha256()
    for name, patterns in CONTENT_FILES.items():
        for pattern in patterns:
            for path in sorted(sources[name].glob(pattern)):
                digest.update(f"{name}/{path.relative_to(sources[name])}".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _explain_nag_findings(function: lambda_.Function, provider: cr.Provider) -> None:
    reasons = [
        NagPackSuppression(
            id="AwsSolutions-IAM4",
            reason="AWSLambdaBasicExecutionRole / AWSLambdaVPCAccessExecution"
            "Role are the standard minimal policies for logging and VPC ENIs.",
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason="Provider framework: invoke permission on the handler "
            "function's versions (<arn>:*), generated by aws-cdk-lib.",
        ),
        NagPackSuppression(
            id="AwsSolutions-L1",
            reason="Runtime pinned project-wide to python3.13 (spot_insights/_lambda_asset.py).",
        ),
    ]
    for scope in (function, provider):
        NagSuppressions.add_resource_suppressions(scope, reasons, True)
