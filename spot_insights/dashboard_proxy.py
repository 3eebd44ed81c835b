"""DashboardProxy: private OpenSearch Dashboards made reachable through nginx hosts, either behind
an Application Load Balancer (given a certificate) or over Session Manager port forwarding."""

import dataclasses
from collections.abc import Sequence

import aws_cdk as cdk
import jsii
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from cdk_nag import NagSuppressions
from constructs import Construct

from spot_insights._alarms import BELOW, AlarmSpec, create_alarms
from spot_insights._alb_log_delivery import log_access_logs_any_region
from spot_insights._nginx_config import VPC_DNS_RESOLVER, ProxySettings, render
from spot_insights.settings import Network, parse_network

# Stands in for a domain endpoint that is a token at synth time, so the renderer can validate
# everything else; the token is put back into the rendered text afterwards.
_ENDPOINT_SENTINEL = "domain-endpoint.spot-insights.invalid"
_CONFIG_EOF = "SPOT_INSIGHTS_NGINX_CONF"
_NGINX_PORT = 80
_LOG_PREFIX = "dashboard-proxy"
AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"


@jsii.implements(ec2.IConnectable)
class DashboardProxy(Construct):
    """nginx hosts in front of a private OpenSearch domain's Dashboards.

    With `certificate`: an ALB (HTTPS on the certificate, HTTP redirected, invalid header fields
    dropped, access logs to an encrypted TLS-only bucket) admitting only `allowed_cidrs`.
    Without: no load balancer; the `PortForwardCommand` output opens Dashboards through Session
    Manager. Either way the hosts are an on-demand Auto Scaling group on the latest Amazon Linux
    2023, IMDSv2 only, encrypted root volume, no SSH key, reachable by Session Manager.

    Admit the proxy on the domain with `domain.connections.allow_from(proxy, ec2.Port.tcp(443))`.

    :param vpc: where the hosts (and the load balancer) run.
    :param domain_endpoint: the domain's host name (a token such as `domain.domain_endpoint` is
        fine; a literal may carry `https://`).
    :param allowed_cidrs: IPv4 and IPv6 networks admitted to the load balancer (ports 443 and 80).
        Default: none, which admits nobody until you add rules to `load_balancer.connections`.
        Only valid with a certificate.
    :param certificate: ACM certificate for the HTTPS listener. Default: no load balancer.
    :param internet_facing: public load balancer in public subnets. Default: internal.
    :param dual_stack: IPv6 on the load balancer. Default: on when `allowed_cidrs` has IPv6.
    :param instance_type: Default: t4g.small (on-demand; the AMI follows its architecture).
    :param min_capacity / max_capacity: hosts in the group. Default: 1 / min_capacity.
    :param instance_subnets: Default: private subnets with egress (the hosts reach Systems
        Manager, the package repositories and the domain over HTTPS).
    :param load_balancer_subnets: Default: public if internet-facing, else private with egress.
    :param access_logs_bucket: existing bucket for the ALB's access logs (SSE-S3, which is all
        ALB logging supports). Default: a new encrypted, TLS-only, private bucket.
    :param ssl_policy: Default: TLS 1.3/1.2 restricted ciphers with post-quantum key exchange.
    :param resolver: DNS server nginx re-resolves the endpoint with. Default: the VPC's.
    :param local_port: port on the operator's machine in the port-forwarding command.
    :param alarm_topic: where `no_healthy_host_alarm` notifies. Default: the alarm exists but
        notifies nobody.
    :param console_proxy: leave Dev Tools' console proxy reachable (it sends any REST request
        to the domain with the signed-in user's permissions). Default: refused (404).
    """

    domain_endpoint: str
    nginx_config: str
    """The rendered nginx.conf the hosts run (the endpoint may be a token inside it)."""
    security_group: ec2.SecurityGroup
    """The proxy hosts' security group (HTTPS out only); see `connections`."""
    role: iam.Role
    """The hosts' instance role: Session Manager only."""
    launch_template: ec2.LaunchTemplate
    auto_scaling_group: autoscaling.AutoScalingGroup
    load_balancer: elbv2.ApplicationLoadBalancer | None
    """With a certificate only."""
    listener: elbv2.ApplicationListener | None
    target_group: elbv2.ApplicationTargetGroup | None
    access_logs_bucket: s3.IBucket | None
    url: str | None
    """`https://<load balancer>/_dashboards/` with a certificate; None without."""
    port_forward_command: str
    """The Session Manager command that opens Dashboards on the operator's machine."""
    no_healthy_host_alarm: cloudwatch.Alarm

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        domain_endpoint: str,
        allowed_cidrs: Sequence[str] = (),
        certificate: acm.ICertificate | None = None,
        internet_facing: bool = False,
        dual_stack: bool | None = None,
        instance_type: ec2.InstanceType | None = None,
        min_capacity: int = 1,
        max_capacity: int | None = None,
        instance_subnets: ec2.SubnetSelection | None = None,
        load_balancer_subnets: ec2.SubnetSelection | None = None,
        access_logs_bucket: s3.IBucket | None = None,
        ssl_policy: elbv2.SslPolicy = elbv2.SslPolicy.TLS13_12_RES_PQ,
        resolver: str = VPC_DNS_RESOLVER,
        local_port: int = 8080,
        alarm_topic: sns.ITopic | None = None,
        console_proxy: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        networks = _allowed_networks(allowed_cidrs)
        if certificate is None and (networks or internet_facing or access_logs_bucket):
            raise ValueError(
                "allowed_cidrs, internet_facing and access_logs_bucket configure the load "
                "balancer, which is only created with a certificate"
            )
        max_capacity = min_capacity if max_capacity is None else max_capacity
        if min_capacity < 1 or max_capacity < min_capacity:
            raise ValueError(
                f"need 1 <= min_capacity <= max_capacity, got {min_capacity}, {max_capacity}"
            )
        if not 1 <= local_port <= 65535:
            raise ValueError(f"local_port must be in 1..65535, got {local_port}")

        self.domain_endpoint = domain_endpoint
        # nginx lets only the load balancer's subnets name the client's address (real IP).
        load_balancer_subnets = load_balancer_subnets or ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PUBLIC
            if internet_facing
            else ec2.SubnetType.PRIVATE_WITH_EGRESS
        )
        load_balancer_cidrs = (
            _subnet_cidrs(vpc, load_balancer_subnets) if certificate is not None else []
        )
        self.nginx_config = _render_config(
            domain_endpoint,
            resolver,
            hsts=certificate is not None,
            cidrs=load_balancer_cidrs,
            console_proxy=console_proxy,
        )
        instance_type = instance_type or ec2.InstanceType("t4g.small")

        self.security_group = ec2.SecurityGroup(
            self,
            "HostSecurityGroup",
            vpc=vpc,
            description="Dashboards proxy hosts",
            allow_all_outbound=False,
        )
        # Outbound HTTPS covers the domain, Systems Manager and the package repositories; DNS
        # to the VPC resolver is not subject to security groups.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the domain, SSM and packages"
        )
        self.role = iam.Role(
            self,
            "HostRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Dashboards proxy hosts: Session Manager only",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")
            ],
        )
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            instance_type=instance_type,
            machine_image=_al2023_image(instance_type),
            user_data=_user_data(self.nginx_config),
            role=self.role,
            security_group=self.security_group,
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        8,
                        encrypted=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
        )
        grace = cdk.Duration.minutes(5)
        self.auto_scaling_group = autoscaling.AutoScalingGroup(
            self,
            "Hosts",
            vpc=vpc,
            vpc_subnets=instance_subnets
            or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            launch_template=self.launch_template,
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            health_checks=(
                autoscaling.HealthChecks.with_additional_checks(
                    additional_types=[autoscaling.AdditionalHealthCheckType.ELB],
                    grace_period=grace,
                )
                if certificate
                else autoscaling.HealthChecks.ec2(grace_period=grace)
            ),
            update_policy=autoscaling.UpdatePolicy.rolling_update(),
            group_metrics=[autoscaling.GroupMetrics(autoscaling.GroupMetric.IN_SERVICE_INSTANCES)],
        )
        self._connections = self.auto_scaling_group.connections

        self.load_balancer = None
        self.listener = None
        self.target_group = None
        self.access_logs_bucket = None
        self.url = None
        if certificate is not None:
            self._load_balancer(
                vpc=vpc,
                certificate=certificate,
                networks=networks,
                internet_facing=internet_facing,
                dual_stack=any(n.version == 6 for n in networks)
                if dual_stack is None
                else dual_stack,
                subnets=load_balancer_subnets,
                bucket=access_logs_bucket,
                ssl_policy=ssl_policy,
            )

        self.no_healthy_host_alarm = self._no_healthy_host_alarm(alarm_topic)
        self._suppress_reviewed_findings()

        stack = cdk.Stack.of(self)
        self.port_forward_command = (
            f"aws ssm start-session --region {stack.region} --target "
            f'"$(aws autoscaling describe-auto-scaling-groups --region {stack.region} '
            f"--auto-scaling-group-names {self.auto_scaling_group.auto_scaling_group_name} "
            "--query \"AutoScalingGroups[0].Instances[?LifecycleState=='InService'] | "
            '[0].InstanceId" --output text)" '
            "--document-name AWS-StartPortForwardingSessionToRemoteHost "
            f'--parameters \'{{"host":["localhost"],"portNumber":["{_NGINX_PORT}"],'
            f'"localPortNumber":["{local_port}"]}}\''
        )
        cdk.CfnOutput(
            self,
            "PortForwardCommand",
            value=self.port_forward_command,
            description=(
                f"Opens Dashboards privately at http://localhost:{local_port}/ through a proxy "
                "host (needs the Session Manager plugin for the AWS CLI)"
            ),
        )
        if self.url is not None:
            cdk.CfnOutput(
                self,
                "DashboardsUrl",
                value=self.url,
                description="Point a DNS name on the certificate at this load balancer",
            )

    def _load_balancer(
        self,
        *,
        vpc: ec2.IVpc,
        certificate: acm.ICertificate,
        networks: list[Network],
        internet_facing: bool,
        dual_stack: bool,
        subnets: ec2.SubnetSelection | None,
        bucket: s3.IBucket | None,
        ssl_policy: elbv2.SslPolicy,
    ) -> None:
        security_group = ec2.SecurityGroup(
            self,
            "LoadBalancerSecurityGroup",
            vpc=vpc,
            description="Dashboards proxy load balancer: the allowed networks only",
            allow_all_outbound=False,
        )
        for network in networks:
            peer = (
                ec2.Peer.ipv4(str(network)) if network.version == 4 else ec2.Peer.ipv6(str(network))
            )
            security_group.add_ingress_rule(peer, ec2.Port.tcp(443), f"HTTPS from {network}")
            security_group.add_ingress_rule(
                peer, ec2.Port.tcp(80), f"HTTP from {network} (redirected)"
            )
        default_subnets = (
            ec2.SubnetType.PUBLIC if internet_facing else ec2.SubnetType.PRIVATE_WITH_EGRESS
        )
        alb = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=internet_facing,
            security_group=security_group,
            vpc_subnets=subnets or ec2.SubnetSelection(subnet_type=default_subnets),
            ip_address_type=(
                elbv2.IpAddressType.DUAL_STACK if dual_stack else elbv2.IpAddressType.IPV4
            ),
            drop_invalid_header_fields=True,
            # As long as nginx waits on the domain: saved-object imports can take minutes.
            idle_timeout=cdk.Duration.seconds(300),
            desync_mitigation_mode=elbv2.DesyncMitigationMode.DEFENSIVE,
        )
        if bucket is None:
            bucket = s3.Bucket(
                self,
                "AccessLogs",
                # SSE-S3: the only encryption ALB log delivery supports.
                encryption=s3.BucketEncryption.S3_MANAGED,
                enforce_ssl=True,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(90))],
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            NagSuppressions.add_resource_suppressions(
                bucket,
                [
                    {
                        "id": "AwsSolutions-S1",
                        "reason": "This bucket is the access-log destination; logging access "
                        "to it would only record the load balancer's own log deliveries",
                    }
                ],
            )
        if cdk.Token.is_unresolved(cdk.Stack.of(self).region):
            log_access_logs_any_region(self, alb, bucket, _LOG_PREFIX)
        else:
            alb.log_access_logs(bucket, _LOG_PREFIX)
        listener = alb.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[elbv2.ListenerCertificate.from_certificate_manager(certificate)],
            ssl_policy=ssl_policy,
            open=False,
        )
        self.target_group = listener.add_targets(
            "Hosts",
            port=_NGINX_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.auto_scaling_group],
            deregistration_delay=cdk.Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path="/health",
                healthy_http_codes="200",
                interval=cdk.Duration.seconds(15),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        alb.add_redirect(
            source_protocol=elbv2.ApplicationProtocol.HTTP,
            source_port=80,
            target_protocol=elbv2.ApplicationProtocol.HTTPS,
            target_port=443,
            open=False,
        )
        self.load_balancer = alb
        self.listener = listener
        self.access_logs_bucket = bucket
        self.url = f"https://{alb.load_balancer_dns_name}/_dashboards/"

    def _no_healthy_host_alarm(self, topic: sns.ITopic | None) -> cloudwatch.Alarm:
        # Behind the ALB "healthy" means nginx answers /health through it; without one, the
        # group's in-service count is what the port-forwarding command depends on.
        if self.target_group is not None:
            metric = self.target_group.metrics.healthy_host_count(
                period=cdk.Duration.minutes(1), statistic="Minimum"
            )
        else:
            metric = cloudwatch.Metric(
                namespace="AWS/AutoScaling",
                metric_name="GroupInServiceInstances",
                dimensions_map={
                    "AutoScalingGroupName": self.auto_scaling_group.auto_scaling_group_name
                },
                period=cdk.Duration.minutes(1),
                statistic="Minimum",
            )
        [alarm] = create_alarms(
            self,
            [
                AlarmSpec(
                    "NoHealthyHost",
                    "No Dashboards proxy host is serving: Dashboards is unreachable",
                    metric,
                    threshold=1,
                    evaluation_periods=3,
                    comparison=BELOW,
                    missing_data=cloudwatch.TreatMissingData.BREACHING,
                    notify_ok=True,
                )
            ],
            topic,
        )
        return alarm

    def _suppress_reviewed_findings(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "AmazonSSMManagedInstanceCore is the AWS-maintained minimum for "
                    "Session Manager, the hosts' only access path",
                    "appliesTo": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore"
                    ],
                }
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.auto_scaling_group,
            [
                {
                    "id": "AwsSolutions-AS3",
                    "reason": "Individual scaling events are routine here; the NoHealthyHost "
                    "alarm reports the state that matters (nothing serving Dashboards)",
                }
            ],
            apply_to_children=True,
        )

    @property
    def connections(self) -> ec2.Connections:
        """The proxy hosts' security group: admit it on the domain (port 443)."""
        return self._connections


def _allowed_networks(cidrs: Sequence[str]) -> list[Network]:
    """The networks in `cidrs` (settings.parse_network's rule), or ValueError naming the
    first bad entry."""
    if isinstance(cidrs, str):
        raise ValueError("allowed_cidrs must be a list of CIDR strings, not one string")
    networks = []
    for index, cidr in enumerate(cidrs):
        if cdk.Token.is_unresolved(cidr):
            raise ValueError(
                f"allowed_cidrs[{index}] is a token; pass literal CIDRs (IPv4 or IPv6 must be "
                "known at synth time)"
            )
        try:
            networks.append(parse_network(cidr))
        except ValueError as error:
            raise ValueError(f"allowed_cidrs[{index}] {cidr!r} is not a network: {error}") from None
    return networks


def _subnet_cidrs(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> list[str]:
    # select_subnets takes the selection's fields as keywords in Python.
    fields = ("availability_zones", "one_per_az", "subnet_filters", "subnet_group_name")
    selected = vpc.select_subnets(
        **{name: getattr(selection, name) for name in fields},
        subnet_type=selection.subnet_type,
        subnets=selection.subnets,
    )
    cidrs = [subnet.ipv4_cidr_block for subnet in selected.subnets]
    if any(cdk.Token.is_unresolved(cidr) for cidr in cidrs):
        raise ValueError("load_balancer_subnets need IPv4 CIDRs known at synth time")
    return cidrs


def _render_config(
    domain_endpoint: str, resolver: str, *, hsts: bool, cidrs: list[str], console_proxy: bool
) -> str:
    settings = ProxySettings(
        upstream_host=domain_endpoint,
        resolver=resolver,
        hsts=hsts,
        load_balancer_cidrs=cidrs,
        console_proxy=console_proxy,
    )
    if cdk.Token.is_unresolved(domain_endpoint):
        text = render(dataclasses.replace(settings, upstream_host=_ENDPOINT_SENTINEL))
        return text.replace(_ENDPOINT_SENTINEL, domain_endpoint)
    return render(settings)


def _al2023_image(instance_type: ec2.InstanceType) -> ec2.IMachineImage:
    arch = "arm64" if instance_type.architecture == ec2.InstanceArchitecture.ARM_64 else "x86_64"
    # Resolved by EC2 at each launch, so replacement hosts get the current AMI and the template
    # carries no AMI parameter.
    return ec2.MachineImage.resolve_ssm_parameter_at_launch(
        AL2023_AMI_PARAMETER.format(arch=arch), os=ec2.OperatingSystemType.LINUX
    )


def _user_data(nginx_config: str) -> ec2.UserData:
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(
        "set -euo pipefail",
        # The package mirrors can be briefly unreachable while the network comes up.
        "for attempt in 1 2 3 4 5 6; do dnf install -y nginx && break; sleep 10; done",
        "rpm -q nginx",
        f"cat > /etc/nginx/nginx.conf <<'{_CONFIG_EOF}'",
        nginx_config.rstrip("\n"),
        _CONFIG_EOF,
        "nginx -t",
        "systemctl enable nginx",
        "systemctl restart nginx",
    )
    return user_data
