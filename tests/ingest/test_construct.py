"""IngestPipeline alone in a throwaway stack: secure defaults, storm-ready event source, alarms,
and the caller's own bus, queue, topic, VPC and domain honoured."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions

from lambda_src.contract import ACCEPTED_DETAIL_TYPES
from lambda_src.ingest.events import registered_detail_types
from spot_insights.ingest_pipeline import HANDLER, IngestPipeline
from tests.support.cdk_app import synth_app
from tests.support.event_patterns import assert_spot_event_patterns

ENDPOINT = "https://vpc-spot-abc.us-east-1.es.amazonaws.com"


def _stack() -> cdk.Stack:
    return cdk.Stack(synth_app(), "Throwaway")


@pytest.fixture(scope="module")
def default_pipeline() -> tuple[IngestPipeline, Template]:
    stack = _stack()
    pipeline = IngestPipeline(stack, "Ingest", opensearch_endpoint=ENDPOINT)
    return pipeline, Template.from_stack(stack)


def _resolve(pipeline: IngestPipeline, value: object) -> object:
    return cdk.Stack.of(pipeline).resolve(value)


def test_queues_are_encrypted_tls_only_with_a_14_day_dlq(default_pipeline):
    _, template = default_pipeline
    template.resource_count_is("AWS::SQS::Queue", 2)
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "KmsMasterKeyId": Match.any_value(),
            "VisibilityTimeout": 540,  # 6 x the 90 s function timeout
            "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 5},
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"KmsMasterKeyId": Match.any_value(), "MessageRetentionPeriod": 1209600},
    )
    policies = template.find_resources("AWS::SQS::QueuePolicy")
    assert len(policies) == 2
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_key_policy_lets_eventbridge_and_cloudwatch_encrypt(default_pipeline):
    _, template = default_pipeline
    [key] = template.find_resources("AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    services = [s for s in statements if "Service" in s["Principal"]]
    principals = {
        json.dumps(s["Principal"]["Service"])
        for s in services
        if "kms:GenerateDataKey*" in s["Action"] and "kms:Decrypt" in s["Action"]
    }
    assert {'"events.amazonaws.com"', '"cloudwatch.amazonaws.com"'} <= principals
    # Every service principal is held to this account's resources (issue 10, finding 7).
    for statement in services:
        assert set(statement["Condition"]) & {"StringEquals", "ArnLike"}, statement
        condition = json.dumps(statement["Condition"])
        assert "aws:SourceAccount" in condition or "aws:logs:arn" in condition
    [cloudwatch] = [s for s in services if s["Principal"]["Service"] == "cloudwatch.amazonaws.com"]
    assert ":alarm:*" in json.dumps(cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"])
    [events_scoped] = [s for s in services if s.get("Sid") == "EventBridgeRulesOfThisAccount"]
    assert ":rule/*" in json.dumps(events_scoped["Condition"]["ArnLike"]["aws:SourceArn"])


def test_own_alarm_topic_lets_this_accounts_alarms_publish(default_pipeline):
    # Issue 10, finding 3: enforce_ssl's topic policy replaces the default one.
    pipeline, template = default_pipeline
    [policy] = template.find_resources("AWS::SNS::TopicPolicy").values()
    [allow] = [
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"
    ]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == _resolve(pipeline, pipeline.alarm_topic.topic_arn)
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_callers_topic_means_no_cloudwatch_grant_on_the_key():
    stack = _stack()
    IngestPipeline(
        stack, "Ingest", opensearch_endpoint=ENDPOINT, alarm_topic=sns.Topic(stack, "Theirs")
    )
    [key] = Template.from_stack(stack).find_resources("AWS::KMS::Key").values()
    assert "cloudwatch.amazonaws.com" not in json.dumps(key["Properties"]["KeyPolicy"])


def test_one_rule_per_event_type_with_retries_and_a_dlq(default_pipeline):
    pipeline, template = default_pipeline
    rules = template.find_resources("AWS::Events::Rule")
    assert_spot_event_patterns(r["Properties"]["EventPattern"] for r in rules.values())
    for rule in rules.values():
        assert rule["Properties"]["EventPattern"]["source"] == ["aws.ec2"]
        assert "EventBusName" not in rule["Properties"]  # the default bus
        [target] = rule["Properties"]["Targets"]
        assert target["DeadLetterConfig"]["Arn"] == _resolve(
            pipeline, pipeline.dead_letter_queue.queue_arn
        )
        assert target["RetryPolicy"] == {
            "MaximumEventAgeInSeconds": 86400,
            "MaximumRetryAttempts": 185,
        }
    assert len(pipeline.rules) == 3


def test_function_is_arm64_python313_with_log_retention_and_environment(default_pipeline):
    pipeline, template = default_pipeline
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Handler": "lambda_src.ingest.handler.handler",
            "Timeout": 90,
            "LoggingConfig": {"LogGroup": Match.any_value()},
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "OPENSEARCH_ENDPOINT": ENDPOINT,
                        "INDEX_ALIAS": "spot-interruptions-write",
                        "DEAD_LETTER_QUEUE_URL": _resolve(
                            pipeline, pipeline.dead_letter_queue.queue_url
                        ),
                        "OPENSEARCH_TIMEOUT": "22",
                    }
                )
            },
        },
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    # Each grant on its resource ARN (issue 15), not only its actions.
    [policy] = template.find_resources("AWS::IAM::Policy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    by_resource = {json.dumps(st["Resource"], sort_keys=True): st["Action"] for st in statements}

    def arn(value: object) -> str:
        return json.dumps(_resolve(pipeline, value), sort_keys=True)

    assert by_resource == {
        # Neither EC2 action supports resource-level permissions.
        '"*"': ["ec2:DescribeAvailabilityZones", "ec2:DescribeInstances"],
        arn(pipeline.dead_letter_queue.queue_arn): [
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:SendMessage",
        ],
        arn(pipeline.encryption_key.key_arn): [
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey*",
            "kms:ReEncrypt*",
        ],
        arn(pipeline.queue.queue_arn): [
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ReceiveMessage",
        ],
        # Burst events (issue 14), on the pipeline's bus only.
        arn(pipeline.event_bus.event_bus_arn): "events:PutEvents",
    }
    policies = str(template.find_resources("AWS::IAM::Policy"))
    assert "autoscaling:" not in policies
    assert "sqs:SendMessage" in policies


def test_event_source_reports_partial_failures_and_is_bounded(default_pipeline):
    _, template = default_pipeline
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 1000,
            "MaximumBatchingWindowInSeconds": 5,
            "ScalingConfig": {"MaximumConcurrency": 5},
        },
    )


def test_alarms_on_dlq_depth_errors_and_backlog_notify_the_topic(default_pipeline):
    pipeline, template = default_pipeline
    topic_ref = _resolve(pipeline, pipeline.alarm_topic.topic_arn)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert set(by_metric) == {
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "ApproximateAgeOfOldestMessage",
        "InterruptionBursts",  # issue 14: tests/ingest/test_bursts.py
    }
    for alarm in by_metric.values():
        assert alarm["AlarmActions"] == [topic_ref]
    assert by_metric["ApproximateNumberOfMessagesVisible"]["Threshold"] == 1


def test_no_unsuppressed_aws_solutions_findings():
    stack = _stack()
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    # The bare test VPC has no flow log; with cdk.json's flags an unsuppressed error fails synth.
    NagSuppressions.add_resource_suppressions(
        vpc, [NagPackSuppression(id="AwsSolutions-VPC7", reason="bare VPC of this test only")]
    )
    IngestPipeline(stack, "Ingest", opensearch_endpoint=ENDPOINT, vpc=vpc)
    cdk.Aspects.of(stack).add(AwsSolutionsChecks())
    annotations = Annotations.from_stack(stack)
    findings = annotations.find_error("/Throwaway/Ingest/*", Match.string_like_regexp(".*"))
    findings += annotations.find_warning("/Throwaway/Ingest/*", Match.string_like_regexp(".*"))
    assert [f.entry.data for f in findings] == []


def test_callers_bus_queue_dlq_topic_and_vpc_are_used():
    stack = _stack()
    bus = events.EventBus(stack, "Bus")
    queue = sqs.Queue(stack, "TheirQueue", visibility_timeout=cdk.Duration.minutes(10))
    dlq = sqs.Queue(stack, "TheirDlq")
    topic = sns.Topic(stack, "TheirTopic")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    group = ec2.SecurityGroup(stack, "Group", vpc=vpc)
    pipeline = IngestPipeline(
        stack,
        "Ingest",
        opensearch_endpoint=ENDPOINT,
        index_prefix="team-spot",
        event_bus=bus,
        queue=queue,
        dead_letter_queue=dlq,
        alarm_topic=topic,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        security_groups=[group],
        batch_size=100,
        max_concurrency=2,
    )
    assert (pipeline.queue, pipeline.dead_letter_queue, pipeline.alarm_topic) == (queue, dlq, topic)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SQS::Queue", 2)  # only theirs
    template.resource_count_is("AWS::SNS::Topic", 1)
    for rule in template.find_resources("AWS::Events::Rule").values():
        assert rule["Properties"]["EventBusName"] == _resolve(pipeline, bus.event_bus_name)
    [function] = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}
    ).values()
    config = function["Properties"]["VpcConfig"]
    assert config["SecurityGroupIds"] == [_resolve(pipeline, group.security_group_id)]
    assert len(config["SubnetIds"]) == 2
    assert function["Properties"]["Environment"]["Variables"]["INDEX_ALIAS"] == "team-spot-write"
    [(mapping_id, mapping)] = template.find_resources("AWS::Lambda::EventSourceMapping").items()
    assert mapping["Properties"]["EventSourceArn"] == _resolve(pipeline, queue.queue_arn)
    assert mapping["Properties"]["BatchSize"] == 100
    # The mapping it created is kept (callers order it after the index exists).
    assert isinstance(pipeline.event_source_mapping, lambda_.EventSourceMapping)
    cfn_mapping = pipeline.event_source_mapping.node.default_child
    assert cdk.Stack.of(pipeline).get_logical_id(cfn_mapping) == mapping_id
    # The pipeline grants nothing on OpenSearch itself: SearchDomain.connect_writer does that.
    policies = json.dumps(template.find_resources("AWS::IAM::Policy"))
    assert "es:" not in policies


def test_rules_cover_every_event_type_the_function_parses():
    assert set(ACCEPTED_DETAIL_TYPES) == set(registered_detail_types())


@pytest.mark.parametrize(
    "props",
    [
        {"batch_size": 0},
        {"max_concurrency": 1},
        {"detail_types": []},
        {"index_prefix": "Bad*"},
        {"max_batching_window": cdk.Duration.minutes(6)},
    ],
)
def test_invalid_props_are_refused(props):
    with pytest.raises(ValueError):
        IngestPipeline(_stack(), "Ingest", opensearch_endpoint=ENDPOINT, **props)


def test_callers_key_encrypts_both_queues_and_no_key_is_created():
    stack = _stack()
    key = kms.Key.from_key_arn(
        stack, "Key", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    IngestPipeline(stack, "Ingest", opensearch_endpoint=ENDPOINT, encryption_key=key)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::KMS::Key", 0)
    queues = template.find_resources("AWS::SQS::Queue").values()
    assert [q["Properties"]["KmsMasterKeyId"] for q in queues] == [key.key_arn] * 2


def test_rules_wait_for_the_code_that_parses_them(default_pipeline):
    """On an update that adds an event type, a rule that existed before the new code would send
    the old code events it parks as unsupported: every rule depends on the function."""
    pipeline, template = default_pipeline
    function_id = cdk.Stack.of(pipeline).get_logical_id(pipeline.function.node.default_child)
    rules = template.find_resources("AWS::Events::Rule")
    assert len(rules) == 3
    for logical_id, rule in rules.items():
        assert function_id in rule.get("DependsOn", []), logical_id
