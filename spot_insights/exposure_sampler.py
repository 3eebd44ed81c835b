"""ExposureSampler: an EventBridge Scheduler schedule that invokes the fleet exposure sampler.

Every `interval` (10 minutes by default) Scheduler invokes the function with the tick's
scheduled time; the function counts running Spot instances per account, region, pool and
capacity group (`lambda_src/sampler`) and writes one document per group into the exposure index
family (`<prefix>.exposure-*`). Instance-hours are the sum of count x interval, the denominator
of `spot-insights report --rates`.

Delivery: Scheduler invokes Lambda asynchronously. A failed delivery (throttling, a missing
permission) is retried by Scheduler's retry policy, a failed run by Lambda's asynchronous
retries; both end, with the tick's input, in one dead-letter queue (alarmed), so no failed tick
goes unnoticed. Retries never duplicate: a tick's documents are named by its scheduled time.
The flexible time window is off, so ticks are exactly `interval` apart (count x interval holds).

Market context (issue 14): a second schedule invokes the same function once a day (00:15 UTC,
after the day it prices has ended) with `{"mode": "market"}`: the same code counts the pools in
use, reads their Spot price history and fetches the Spot Instance Advisor's public data file
over HTTPS (egress: the stack places the function in private subnets with a NAT gateway), and
writes into `<prefix>.market-*`. A second schedule, not a mode chosen inside the tick: the
daily run has its own scheduled time (naming its documents), its own retries and dead letters,
and a failing market run never fails a tick's instance-hours.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from lambda_src.contract import (
    DEFAULT_ADVISOR_URL,
    DEFAULT_INDEX_PREFIX,
    EXPOSURE_SERVICE_NAME,
    MARKET_MODE,
    MODE_KEY,
    SCHEDULED_TIME_KEY,
    SCHEDULED_TIME_PLACEHOLDER,
    SPOKE_ROLE_NAME,
    IngestEnv,
    MarketEnv,
    SamplerEnv,
    exposure_write_alias,
    hub_sampler_role_name,
    index_pattern,
    market_write_alias,
)
from spot_insights._alarms import AlarmSpec, create_alarms
from spot_insights._lambda_asset import (
    ARCHITECTURE,
    DESCRIBE_ANY_RESOURCE,
    RUNTIME,
    explain_shared_asset_findings,
    lambda_code,
)
from spot_insights._service_access import RETAIN_UNLESS_CREATE_FAILS, allow_log_encryption
from spot_insights._spoke_access import assume_spoke_roles
from spot_insights._validation import index_prefix_prop

HANDLER = "lambda_src.sampler.handler.handler"
# Scheduler's rate expressions take whole minutes; a day is the longest tick that still
# makes a rate over a day meaningful.
MIN_INTERVAL_MINUTES, MAX_INTERVAL_MINUTES = 1, 1440
DEFAULT_INTERVAL_MINUTES = 10
# Spoke accounts that sent an event within this many days are counted (lambda_src/sampler/
# account_discovery.py). A month spans the quiet weeks of a steady fleet; a longer look-back
# only adds empty DescribeInstances pages for accounts that left Spot.
DEFAULT_DISCOVERY_DAYS, MAX_DISCOVERY_DAYS = 30, 365
# The market run: daily at 00:15 UTC, pricing the UTC day that has just ended.
MARKET_SCHEDULE = scheduler.ScheduleExpression.cron(minute="15", hour="0")


def interval_minutes_prop(value: object, name: str = "interval_minutes") -> int:
    """`value` if it is a whole number of minutes the schedule accepts, else ValueError naming
    the prop, the value and the range."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_INTERVAL_MINUTES <= value <= MAX_INTERVAL_MINUTES
    ):
        raise ValueError(
            f"{name} must be a whole number of minutes from {MIN_INTERVAL_MINUTES} to "
            f"{MAX_INTERVAL_MINUTES}, got {value!r}"
        )
    return value


class ExposureSampler(Construct):
    """Count running Spot instances per group on a schedule, into the exposure index family.

    The construct does not reach into the domain: connect it with
    ``search.connect_exposure_writer(sampler.function, starts_writing=[sampler.schedule])``.

    :param opensearch_endpoint: https URL of the domain (a token is fine). Required.
    :param index_prefix: the events' prefix; the sampler writes ``<prefix>.exposure-write``.
        Default ``lambda_src.contract.DEFAULT_INDEX_PREFIX``.
    :param interval_minutes: minutes between ticks, 1-1440. Default 10.
    :param regions: regions to count in. Default: the stack's region.
    :param accounts: other accounts to count in, through ``spoke_role_name``. Default none.
    :param organization_id: count the organisation's accounts too: those that sent an event in
        the last ``discovery_days`` (read from the events index), through ``spoke_role_name``.
        Default none. With this or ``accounts`` the function's role gets the fixed name
        ``hub_sampler_role_name(region)`` that spokes trust (spot_insights/_spoke_access.py).
    :param spoke_role_name: the read-only role every spoke account holds. Default
        ``spot-insights-enrichment`` (``SpokeForwarder``'s).
    :param discovery_days: with spoke accounts, also count every account (and region) that
        sent an event in this many days, 0-365. Default 30; 0: only ``accounts``.
    :param home_account: the account needing no role. Default: the stack's account.
    :param encryption_key: key for the function's log group. Default: a new key with rotation
        (a caller's key needs the CloudWatch Logs grant, as `IngestPipeline.encryption_key` has).
    :param alarm_topic: topic for the dead-letter and error alarms. Default: none (the alarms
        exist without an action).
    :param retry_attempts: Scheduler's and Lambda's retries of one tick. Default 2.
    :param timeout: function timeout. Default 2 minutes (a tick reads a page per 1,000
        instances per account and region).
    :param memory_size: function memory in MiB. Default 256.
    :param log_retention: function log retention. Default one month.
    :param vpc / vpc_subnets / security_groups: where the function runs (next to a private
        domain, with egress to the EC2 and STS APIs and, for the market run, to the advisor's
        URL). Default: no VPC.
    :param advisor_url: the Spot Instance Advisor's data file (http or https). Default
        ``lambda_src.contract.DEFAULT_ADVISOR_URL``.
    """

    function: lambda_.Function
    schedule: scheduler.Schedule
    market_schedule: scheduler.Schedule
    """Daily: the market run (Spot prices of the pools in use, the advisor's buckets)."""
    dead_letter_queue: sqs.Queue
    """Ticks Scheduler could not deliver and runs that failed every retry, with their input."""
    alarms: list[cloudwatch.Alarm]
    write_alias: str
    interval_minutes: int

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        opensearch_endpoint: str,
        index_prefix: str = DEFAULT_INDEX_PREFIX,
        interval_minutes: int = DEFAULT_INTERVAL_MINUTES,
        regions: Sequence[str] = (),
        accounts: Sequence[str] = (),
        organization_id: str | None = None,
        spoke_role_name: str = SPOKE_ROLE_NAME,
        discovery_days: int = DEFAULT_DISCOVERY_DAYS,
        home_account: str | None = None,
        encryption_key: kms.IKey | None = None,
        alarm_topic: sns.ITopic | None = None,
        retry_attempts: int = 2,
        timeout: cdk.Duration | None = None,
        memory_size: int = 256,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        advisor_url: str = DEFAULT_ADVISOR_URL,
    ) -> None:
        super().__init__(scope, construct_id)
        index_prefix_prop(index_prefix)
        self.interval_minutes = interval_minutes_prop(interval_minutes)
        if not 0 <= retry_attempts <= 2:
            raise ValueError(
                f"retry_attempts must be 0-2 (Lambda's asynchronous limit), got {retry_attempts}"
            )
        if not 0 <= discovery_days <= MAX_DISCOVERY_DAYS:
            raise ValueError(
                f"discovery_days must be 0-{MAX_DISCOVERY_DAYS} days, got {discovery_days!r}"
            )
        if not isinstance(advisor_url, str) or not advisor_url.startswith(("https://", "http://")):
            raise ValueError(f"advisor_url must be an http(s) URL, got {advisor_url!r}")
        stack = cdk.Stack.of(self)
        timeout = timeout or cdk.Duration.minutes(2)
        interval = cdk.Duration.minutes(self.interval_minutes)
        self.write_alias = exposure_write_alias(index_prefix)
        if encryption_key is None:
            encryption_key = kms.Key(
                self,
                "Key",
                description="Encrypts the Spot Insights exposure sampler's logs",
                enable_key_rotation=True,
                removal_policy=RETAIN_UNLESS_CREATE_FAILS,
            )
            allow_log_encryption(encryption_key)

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        environment = {
            IngestEnv.OPENSEARCH_ENDPOINT: opensearch_endpoint,
            IngestEnv.INDEX_ALIAS: self.write_alias,
            IngestEnv.OPENSEARCH_TIMEOUT: str(max(5, int(timeout.to_seconds() / 4))),
            IngestEnv.SERVICE_NAME: EXPOSURE_SERVICE_NAME,
            SamplerEnv.REGIONS: ",".join(regions) or stack.region,
            SamplerEnv.INTERVAL_SECONDS: str(self.interval_minutes * 60),
            MarketEnv.INDEX_ALIAS: market_write_alias(index_prefix),
            MarketEnv.ADVISOR_URL: advisor_url,
        }
        if accounts:
            environment[SamplerEnv.ACCOUNTS] = ",".join(accounts)
        if (accounts or organization_id) and discovery_days:
            environment[SamplerEnv.DISCOVERY_DAYS] = str(discovery_days)
            environment[SamplerEnv.EVENTS_INDEX] = index_pattern(index_prefix)
        self.function = lambda_.Function(
            self,
            "Function",
            description="Counts running Spot instances per pool and capacity group",
            code=lambda_code(),
            handler=HANDLER,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            timeout=timeout,
            memory_size=memory_size,
            log_group=logs.LogGroup(
                self,
                "Logs",
                retention=log_retention,
                encryption_key=encryption_key,
                removal_policy=cdk.RemovalPolicy.DESTROY,
            ),
            vpc=vpc,
            vpc_subnets=vpc_subnets if vpc else None,
            security_groups=list(security_groups) if security_groups else None,
            environment=environment,
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                # None of these actions supports resource-level permissions.
                actions=[
                    "ec2:DescribeInstances",
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeSpotPriceHistory",
                ],
                resources=["*"],
            )
        )
        if accounts or organization_id:
            assume_spoke_roles(
                self.function,
                role_name=hub_sampler_role_name(stack.region),
                organization_id=organization_id,
                source_accounts=accounts,
                spoke_role_name=spoke_role_name,
            )
            if home_account:
                self.function.add_environment(IngestEnv.HOME_ACCOUNT, home_account)
        # A run that fails every retry, or waits longer than a tick, lands in the DLQ.
        self.function.configure_async_invoke(
            retry_attempts=retry_attempts,
            max_event_age=cdk.Duration.seconds(max(60, min(21600, interval.to_seconds()))),
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )

        role = iam.Role(
            self,
            "ScheduleRole",
            description="EventBridge Scheduler invokes the exposure sampler",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="scheduler",
                            resource="schedule",
                            resource_name="default/*",
                        )
                    },
                }
            ),
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description=f"Spot Insights exposure sampler, every {self.interval_minutes} min",
            schedule=scheduler.ScheduleExpression.rate(interval),
            time_window=scheduler.TimeWindow.off(),
            target=scheduler_targets.LambdaInvoke(
                self.function,
                role=role,
                input=scheduler.ScheduleTargetInput.from_object(
                    {SCHEDULED_TIME_KEY: SCHEDULED_TIME_PLACEHOLDER}
                ),
                retry_attempts=retry_attempts,
                max_event_age=cdk.Duration.seconds(max(60, min(86400, interval.to_seconds()))),
                dead_letter_queue=self.dead_letter_queue,
            ),
        )
        self.market_schedule = scheduler.Schedule(
            self,
            "MarketSchedule",
            description="Spot Insights market context: Spot prices and advisor buckets, daily",
            schedule=MARKET_SCHEDULE,
            time_window=scheduler.TimeWindow.off(),
            target=scheduler_targets.LambdaInvoke(
                self.function,
                role=role,
                input=scheduler.ScheduleTargetInput.from_object(
                    {SCHEDULED_TIME_KEY: SCHEDULED_TIME_PLACEHOLDER, MODE_KEY: MARKET_MODE}
                ),
                retry_attempts=retry_attempts,
                max_event_age=cdk.Duration.hours(6),
                dead_letter_queue=self.dead_letter_queue,
            ),
        )
        self.alarms = create_alarms(
            self,
            [
                AlarmSpec(
                    "DeadLetterQueueDepth",
                    "Exposure sampler ticks failed every retry (their input is in the DLQ)",
                    self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=cdk.Duration.minutes(5), statistic="Maximum"
                    ),
                    threshold=1,
                ),
                AlarmSpec(
                    "FunctionErrors",
                    "The exposure sampler failed a tick (it is retried)",
                    self.function.metric_errors(period=cdk.Duration.minutes(5), statistic="Sum"),
                    threshold=1,
                ),
            ],
            alarm_topic,
        )
        _explain_nag_findings(self, role)


def _explain_nag_findings(sampler: ExposureSampler, schedule_role: iam.Role) -> None:
    explain_shared_asset_findings(
        sampler.function,
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=f"{DESCRIBE_ANY_RESOURCE} Neither does ec2:DescribeSpotPriceHistory.",
            applies_to=["Resource::*"],
        ),
    )
    NagSuppressions.add_resource_suppressions(
        schedule_role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="lambda:InvokeFunction on the sampler function and its versions "
                "(<arn>:*), as Function.grant_invoke writes it; nothing else.",
                applies_to=[{"regex": "/^Resource::<[A-Za-z0-9]+\\.Arn>:\\*$/g"}],
            )
        ],
        apply_to_children=True,
    )
    NagSuppressions.add_resource_suppressions(
        sampler.dead_letter_queue,
        [
            NagPackSuppression(
                id="AwsSolutions-SQS3",
                reason="This queue is the dead-letter queue of the schedule and of the "
                "function's asynchronous invocations.",
            )
        ],
    )
