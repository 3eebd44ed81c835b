"""The one way the constructs create their CloudWatch alarms: a table of `AlarmSpec` rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
AT_MOST = cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD
BELOW = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: `metric` compared with `threshold` over `evaluation_periods` periods."""

    construct_id: str
    description: str
    metric: cloudwatch.IMetric
    threshold: float
    evaluation_periods: int = 1
    comparison: cloudwatch.ComparisonOperator = AT_LEAST
    # Missing data means nothing happened for most metrics here; a health count that stops
    # reporting is itself the failure (treat it as breaching).
    missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING
    notify_ok: bool = False
    """Also notify when the alarm clears (for state, not event, alarms)."""


def create_alarms(
    scope: Construct, specs: Sequence[AlarmSpec], topic: sns.ITopic | None
) -> list[cloudwatch.Alarm]:
    """The alarms in `specs`, notifying `topic` (None: the alarms exist but notify nobody)."""
    alarms = []
    for spec in specs:
        alarm = spec.metric.create_alarm(
            scope,
            spec.construct_id,
            alarm_description=spec.description,
            threshold=spec.threshold,
            evaluation_periods=spec.evaluation_periods,
            comparison_operator=spec.comparison,
            treat_missing_data=spec.missing_data,
        )
        if topic is not None:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
            if spec.notify_ok:
                alarm.add_ok_action(cloudwatch_actions.SnsAction(topic))
        alarms.append(alarm)
    return alarms
