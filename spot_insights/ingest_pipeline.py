"""IngestPipeline: EventBridge rules -> encrypted SQS queue -> batch Lambda -> OpenSearch.

Secure and lossless by default (KMS encryption, TLS-only queues, a 14-day dead-letter queue for
both undeliverable events and poison records, alarms to an SNS topic), and every piece can be
swapped for one the caller already has: the event bus, the queue, the dead-letter queue, the
key, the alarm topic and the OpenSearch endpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression
from constructs import Construct

from lambda_src.contract import (
    ACCEPTED_DETAIL_TYPES,
    BURST_METRIC,
    DEFAULT_BURST_THRESHOLD,
    DEFAULT_BURST_WINDOW_MINUTES,
    DEFAULT_INDEX_PREFIX,
    EC2_SOURCE,
    INGEST_SERVICE_NAME,
    METRICS_NAMESPACE,
    IngestEnv,
    burst_index,
    write_alias,
)
from spot_insights._alarms import AlarmSpec, create_alarms
from spot_insights._event_rules import rule_event_pattern
from spot_insights._lambda_asset import (
    ARCHITECTURE,
    DESCRIBE_ANY_RESOURCE,
    RUNTIME,
    explain_shared_asset_findings,
    lambda_code,
)
from spot_insights._service_access import (
    KEY_USE,
    RETAIN_UNLESS_CREATE_FAILS,
    allow_log_encryption,
    encrypted_alarm_topic,
    source_conditions,
)
from spot_insights._validation import index_prefix_prop

HANDLER = "lambda_src.ingest.handler.handler"
# SQS needs the visibility timeout to cover every retry of a batch the function may still hold.
VISIBILITY_TIMEOUT_FACTOR = 6


class IngestPipeline(Construct):
    """Capture EC2 Spot interruption events and index them, enriched, into OpenSearch.

    The construct does not reach into the domain: connect it with
    ``search.connect_writer(pipeline.function, starts_writing=[pipeline.event_source_mapping])``
    (IAM grant, role mapping, 443 rule and ordering in one call).

    :param opensearch_endpoint: https URL of the domain (a token is fine), e.g.
        ``SearchDomain.endpoint``. Required.
    :param index_prefix: indices ``<prefix>-*``, written through alias ``<prefix>-write``
        (``write_alias``). Default ``lambda_src.contract.DEFAULT_INDEX_PREFIX``.
    :param event_bus: bus the rules listen on. Default: the account's default bus.
    :param detail_types: one rule per detail-type, with the pattern of
        ``lambda_src.contract.EVENT_PATTERNS`` (CloudTrail's adds ``detail.eventName``).
        Default: Spot interruption warning, rebalance recommendation and the CloudTrail service
        event that carries Spot evictions (``BidEvictedEvent``).
    :param test_event_source: a custom source (not `aws.*`, which EventBridge reserves) whose
        events of those detail-types are also captured and accepted by the function, for
        end-to-end checks with synthetic events (`spot-insights simulate`). Default: none, so
        only EC2 itself can feed the pipeline.
    :param queue: an existing queue to consume (its encryption, TLS policy and redrive policy
        are then the caller's). Default: a new KMS-encrypted, TLS-only queue.
    :param dead_letter_queue: where undeliverable events and poison records go. Default: a new
        KMS-encrypted, TLS-only queue keeping messages 14 days.
    :param encryption_key: key for the queues, the function's log group and the alarm topic it
        creates. Default: a new key with rotation, kept on stack delete. A caller's key needs
        the grants to EventBridge and CloudWatch Logs itself.
    :param alarm_topic: topic for the alarms. Default: a new KMS-encrypted topic.
    :param max_receive_count: receives before SQS moves a message to the DLQ. Default 5.
    :param batch_size: records per invocation. Default 1000 (a storm is read in few batches,
        each one DescribeInstances pass per 200 instances and one ``_bulk``).
    :param max_batching_window: how long SQS gathers a batch. Default 5 seconds.
    :param max_concurrency: concurrent invocations the event source may use, which bounds the
        EC2 and OpenSearch request rate. Default 5.
    :param timeout: function timeout. Default 90 seconds (the queue's visibility timeout is
        6x this; each OpenSearch request gets a quarter of it).
    :param memory_size: function memory in MiB. Default 512.
    :param log_retention: function log retention. Default one month.
    :param enrichment_max_attempts: receives after which a failing EC2 lookup no longer holds
        an event back (it is indexed with ``enrichment: missing``). Default 3.
    :param vpc: VPC to run the function in (next to a private domain). Default: none.
    :param vpc_subnets: subnets in ``vpc``. Default: the VPC's private subnets.
    :param security_groups: security groups for the function. Default: one created by Lambda.
    :param environment: extra function environment variables. Default: none.
    :param burst_threshold: warnings in one AZ ID or capacity group within ``burst_window``
        that make a burst: the `BurstAlarm` fires and a ``Spot Interruption Burst`` event goes
        on ``event_bus`` (lambda_src/ingest/bursts.py). Default 10, 2-100000.
    :param burst_window: the burst window, whole minutes from 1 to 1440. Default 10 minutes.
    """

    queue: sqs.IQueue
    """The queue the rules deliver to and the function consumes (the caller's, if given)."""
    dead_letter_queue: sqs.IQueue
    """Undeliverable events and poison records, each with its reason (14 days by default)."""
    function: lambda_.Function
    """The ingest function (arm64, python3.13); connect it with SearchDomain.connect_writer."""
    event_source_mapping: lambda_.EventSourceMapping
    """The SQS event source mapping it created (batches, partial failures, max concurrency)."""
    event_bus: events.IEventBus
    rules: list[events.Rule]
    """One rule per detail-type on `event_bus`."""
    test_rule: events.Rule | None
    """The rule for `test_event_source`, if any."""
    encryption_key: kms.IKey
    """Encrypts the queues, the function's log group and the alarm topic it creates."""
    log_group: logs.LogGroup
    alarm_topic: sns.ITopic
    alarms: list[cloudwatch.Alarm]
    """Dead-letter queue depth, function errors, queue backlog."""
    index_prefix: str
    write_alias: str
    """`<prefix>-write`, the alias the function indexes through (`INDEX_ALIAS`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        opensearch_endpoint: str,
        index_prefix: str = DEFAULT_INDEX_PREFIX,
        event_bus: events.IEventBus | None = None,
        detail_types: Sequence[str] = ACCEPTED_DETAIL_TYPES,
        test_event_source: str | None = None,
        queue: sqs.IQueue | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        encryption_key: kms.IKey | None = None,
        alarm_topic: sns.ITopic | None = None,
        max_receive_count: int = 5,
        batch_size: int = 1000,
        max_batching_window: cdk.Duration | None = None,
        max_concurrency: int = 5,
        timeout: cdk.Duration | None = None,
        memory_size: int = 512,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        enrichment_max_attempts: int = 3,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        environment: Mapping[str, str] | None = None,
        burst_threshold: int = DEFAULT_BURST_THRESHOLD,
        burst_window: cdk.Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        burst_window = burst_window or cdk.Duration.minutes(DEFAULT_BURST_WINDOW_MINUTES)
        burst_minutes = _burst_minutes(burst_threshold, burst_window)
        _validate(
            detail_types=detail_types,
            max_receive_count=max_receive_count,
            batch_size=batch_size,
            max_concurrency=max_concurrency,
            index_prefix=index_prefix,
        )
        timeout = timeout or cdk.Duration.seconds(90)
        max_batching_window = max_batching_window or cdk.Duration.seconds(5)
        if not max_batching_window.is_unresolved() and max_batching_window.to_seconds() > 300:
            raise ValueError("max_batching_window must be at most 300 seconds (SQS event source)")
        self.index_prefix = index_prefix
        self.write_alias = write_alias(index_prefix)

        self.encryption_key = encryption_key or kms.Key(
            self,
            "Key",
            description="Encrypts the Spot Insights ingest queues and alarm topic",
            enable_key_rotation=True,
            removal_policy=RETAIN_UNLESS_CREATE_FAILS,
        )
        # EventBridge rules of this account deliver to the encrypted queues.
        self.encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeRulesOfThisAccount",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=KEY_USE,
                resources=["*"],
                conditions=source_conditions(self, "events", "rule"),
            )
        )
        allow_log_encryption(self.encryption_key)

        self.dead_letter_queue = dead_letter_queue or sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.encryption_key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.queue = queue or sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.encryption_key,
            enforce_ssl=True,
            visibility_timeout=cdk.Duration.seconds(
                timeout.to_seconds() * VISIBILITY_TIMEOUT_FACTOR
            ),
            retention_period=cdk.Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=max_receive_count, queue=self.dead_letter_queue
            ),
        )

        self.event_bus = event_bus or events.EventBus.from_event_bus_name(
            self, "DefaultBus", "default"
        )
        self.rules = []
        for position, detail_type in enumerate(detail_types):
            rule = events.Rule(
                self,
                f"Rule{position}",
                description=f"{detail_type} -> Spot Insights ingest queue",
                event_bus=event_bus,  # None: the default bus, left implicit in the template
                event_pattern=rule_event_pattern(detail_type),
            )
            rule.add_target(
                targets.SqsQueue(
                    self.queue,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=185,
                    max_event_age=cdk.Duration.hours(24),
                )
            )
            self.rules.append(rule)
        self.test_rule = None
        if test_event_source is not None:
            self.test_rule = events.Rule(
                self,
                "TestRule",
                description=f"Synthetic events from {test_event_source} -> Spot Insights ingest",
                event_bus=event_bus,
                event_pattern=events.EventPattern(
                    source=[test_event_source], detail_type=list(detail_types)
                ),
            )
            self.test_rule.add_target(
                targets.SqsQueue(self.queue, dead_letter_queue=self.dead_letter_queue)
            )
        accepted_sources = ",".join(
            [EC2_SOURCE, *([test_event_source] if test_event_source else [])]
        )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            encryption_key=self.encryption_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        request_timeout = max(5, int(timeout.to_seconds() / 4))
        self.function = lambda_.Function(
            self,
            "Function",
            description="Enriches EC2 Spot interruption events and bulk-indexes them",
            code=lambda_code(),
            handler=HANDLER,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            timeout=timeout,
            memory_size=memory_size,
            log_group=self.log_group,
            vpc=vpc,
            vpc_subnets=vpc_subnets if vpc else None,
            security_groups=list(security_groups) if security_groups else None,
            environment={
                IngestEnv.OPENSEARCH_ENDPOINT: opensearch_endpoint,
                IngestEnv.INDEX_ALIAS: self.write_alias,
                IngestEnv.DEAD_LETTER_QUEUE_URL: self.dead_letter_queue.queue_url,
                IngestEnv.OPENSEARCH_TIMEOUT: str(request_timeout),
                IngestEnv.ENRICHMENT_MAX_ATTEMPTS: str(enrichment_max_attempts),
                IngestEnv.ACCEPTED_SOURCES: accepted_sources,
                IngestEnv.SERVICE_NAME: INGEST_SERVICE_NAME,
                IngestEnv.METRICS_NAMESPACE: METRICS_NAMESPACE,
                IngestEnv.BURST_EVENT_BUS: self.event_bus.event_bus_arn,
                IngestEnv.BURST_INDEX: burst_index(index_prefix),
                IngestEnv.BURST_THRESHOLD: str(burst_threshold),
                IngestEnv.BURST_WINDOW_MINUTES: str(burst_minutes),
                **(environment or {}),
            },
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                # Neither action supports resource-level permissions.
                actions=["ec2:DescribeInstances", "ec2:DescribeAvailabilityZones"],
                resources=["*"],
            )
        )
        self.dead_letter_queue.grant_send_messages(self.function)
        # Burst events go to this one bus only (events:PutEvents on its ARN).
        self.event_bus.grant_put_events_to(self.function)
        # What SqsEventSource.bind() does, keeping the mapping it creates; the id is the one
        # bind() gives, so deployed stacks update their mapping in place (a new logical id would
        # create a second mapping for the same queue and function, which Lambda refuses).
        self.event_source_mapping = self.function.add_event_source_mapping(
            f"SqsEventSource:{cdk.Names.node_unique_id(self.queue.node)}",
            event_source_arn=self.queue.queue_arn,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            report_batch_item_failures=True,
            max_concurrency=max_concurrency,
        )
        self.queue.grant_consume_messages(self.function)
        # A rule starts routing its event type only once the code that parses it is deployed:
        # on an update that adds an event type, the old code would park each such event.
        # The function resource alone (not its role or security group).
        function_resource = self.function.node.default_child
        for rule in [*self.rules, *([self.test_rule] if self.test_rule else [])]:
            rule.node.add_dependency(function_resource)  # type: ignore[arg-type]

        self.alarm_topic = alarm_topic or encrypted_alarm_topic(
            self, "AlarmTopic", key=self.encryption_key, display_name="Spot Insights ingest alarms"
        )
        self.alarms = self._alarms(timeout)
        _suppress_reviewed_findings(self.function)

    def _alarms(self, timeout: cdk.Duration) -> list[cloudwatch.Alarm]:
        five_minutes = cdk.Duration.minutes(5)
        specs = [
            AlarmSpec(
                "DeadLetterQueueDepth",
                "Records are waiting in the ingest dead-letter queue",
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=five_minutes, statistic="Maximum"
                ),
                threshold=1,
            ),
            AlarmSpec(
                "FunctionErrors",
                "The ingest function failed whole invocations",
                self.function.metric_errors(period=five_minutes, statistic="Sum"),
                threshold=1,
            ),
            AlarmSpec(
                "QueueBacklog",
                "The oldest queued event has waited over 15 minutes",
                self.queue.metric_approximate_age_of_oldest_message(
                    period=five_minutes, statistic="Maximum"
                ),
                threshold=max(900, int(timeout.to_seconds()) * VISIBILITY_TIMEOUT_FACTOR),
            ),
            AlarmSpec(
                "BurstAlarm",
                "Interruption warnings came in a burst (one AZ ID or capacity group); the "
                "Spot Interruption Burst event on the bus names it",
                cloudwatch.Metric(
                    namespace=METRICS_NAMESPACE,
                    metric_name=BURST_METRIC,
                    # Powertools Metrics adds the service as the default dimension.
                    dimensions_map={"service": INGEST_SERVICE_NAME},
                    period=cdk.Duration.minutes(1),
                    statistic="Sum",
                ),
                threshold=1,
            ),
        ]
        return create_alarms(self, specs, self.alarm_topic)


def _suppress_reviewed_findings(function: lambda_.Function) -> None:
    explain_shared_asset_findings(
        function,
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=f"{DESCRIBE_ANY_RESOURCE} The KMS wildcards are CDK's grant on the one queue "
            "key.",
            applies_to=[
                "Resource::*",
                "Action::kms:ReEncrypt*",
                "Action::kms:GenerateDataKey*",
            ],
        ),
    )


def _burst_minutes(threshold: int, window: cdk.Duration) -> int:
    if not 2 <= threshold <= 100_000:
        raise ValueError(f"burst_threshold must be between 2 and 100000 warnings, got {threshold}")
    if window.is_unresolved():
        raise ValueError("burst_window must be a fixed duration, not a token")
    seconds = window.to_seconds()
    if seconds % 60 or not 1 <= seconds // 60 <= 1440:
        raise ValueError(
            f"burst_window must be whole minutes between 1 and 1440, got {seconds:g} seconds"
        )
    return int(seconds // 60)


def _validate(
    *,
    detail_types: Sequence[str],
    max_receive_count: int,
    batch_size: int,
    max_concurrency: int,
    index_prefix: str,
) -> None:
    if not detail_types:
        raise ValueError("detail_types must name at least one EC2 event detail-type")
    if not 1 <= max_receive_count <= 1000:
        raise ValueError("max_receive_count must be between 1 and 1000")
    if not 1 <= batch_size <= 10000:
        raise ValueError("batch_size must be between 1 and 10000")
    if not 2 <= max_concurrency <= 1000:
        raise ValueError("max_concurrency must be between 2 and 1000 (SQS event source limits)")
    index_prefix_prop(index_prefix)
