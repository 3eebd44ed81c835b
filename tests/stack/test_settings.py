"""Configuration errors fail synth with one line naming the key and the expected form."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spot_insights.settings import Settings, SettingsError, deployment_environment, parse_settings

ROOT = Path(__file__).resolve().parents[2]
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def test_defaults_when_nothing_is_set() -> None:
    assert parse_settings({}) == Settings()
    assert Settings().profile == "small"
    assert Settings().retention_days == 365
    assert Settings().index_prefix == "spot-interruptions"


def test_values_from_cdk_json_and_from_the_command_line_agree() -> None:
    from_json = parse_settings(
        {
            "allowedCidrs": ["203.0.113.0/24", "2001:DB8::/48", "198.51.100.7/32"],
            "certificateArn": CERT,
            "profile": "production",
            "retentionDays": 30,
            "internetFacing": False,
            "alarmEmail": "oncall@example.com",
            "indexPrefix": "spot",
            "vpcId": "vpc-0abc12345def67890",
            "readerUsers": ["analyst", "oncall"],
            "simulationRule": True,
        }
    )
    from_cli = parse_settings(
        {
            "allowedCidrs": "203.0.113.0/24, 2001:db8::/48,198.51.100.7/32",
            "certificateArn": CERT,
            "profile": "production",
            "retentionDays": "30",
            "internetFacing": "false",
            "alarmEmail": "oncall@example.com",
            "indexPrefix": "spot",
            "vpcId": "vpc-0abc12345def67890",
            "readerUsers": "analyst,oncall",
            "simulationRule": "true",
        }
    )
    assert from_json == from_cli
    assert from_json.reader_users == ("analyst", "oncall")
    assert from_json.simulation_rule is True
    assert from_json.allowed_cidrs == ("203.0.113.0/24", "2001:db8::/48", "198.51.100.7/32")
    assert from_json.retention_days == 30


def test_cdk_internal_context_keys_are_not_settings() -> None:
    context = {
        "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
        "aws:cdk:bundling-stacks": [],
        "acknowledged-issue-numbers": [1234],
        "availability-zones:account=123456789012:region=us-east-1": ["us-east-1a"],
    }
    assert parse_settings(context) == Settings()


@pytest.mark.parametrize(
    ("context", "key", "expected"),
    [
        ({"allowedCidrs": "10.0.0.0/33"}, "allowedCidrs", "list of CIDRs"),
        ({"allowedCidrs": ["10.0.0.1/8"]}, "allowedCidrs", "host bits zero (10.0.0.0/8)"),
        ({"allowedCidrs": "[not json"}, "allowedCidrs", "list of CIDRs"),
        (
            {"certificateArn": "arn:aws:acm:us-east-1:123:certificate/x"},
            "certificateArn",
            "ACM certificate ARN",
        ),
        ({"certificateArn": CERT}, "allowedCidrs", "at least one CIDR when certificateArn is set"),
        ({"profile": "huge"}, "profile", "small or production"),
        ({"retentionDays": 0}, "retentionDays", "whole number of days >= 1"),
        ({"retentionDays": "-3"}, "retentionDays", "whole number of days >= 1"),
        ({"retentionDays": "a year"}, "retentionDays", "whole number of days >= 1"),
        ({"retentionDays": True}, "retentionDays", "whole number of days >= 1"),
        ({"internetFacing": "yes"}, "internetFacing", "true or false"),
        ({"simulationRule": "on"}, "simulationRule", "true or false"),
        ({"readerUsers": "ok, bad name"}, "readerUsers", "list of user names"),
        ({"vpcId": "vpc-123"}, "vpcId", "VPC id"),
        ({"alarmEmail": "nobody"}, "alarmEmail", "e-mail address"),
        ({"indexPrefix": "Spot Events"}, "indexPrefix", "1-100 characters of a-z"),
        ({"retentionDay": 30}, "retentionDay", "one of vpcId, allowedCidrs"),
        ({"vpc-id": "vpc-0abc12345def67890"}, "vpc-id", "one of vpcId"),
    ],
)
def test_invalid_values_name_the_key_and_the_expected_form(context, key, expected) -> None:
    refused_in_one_line(context, key, expected)


def refused_in_one_line(context: dict, key: str, expected: str) -> str:
    """The context is refused with one line naming `key` and the form (`expected` in it)."""
    with pytest.raises(SettingsError) as caught:
        parse_settings(context)
    message = str(caught.value)
    assert caught.value.key == key
    assert message.startswith(f"context key '{key}': expected ")
    assert expected in message
    assert "\n" not in message
    return message


def test_existing_vpc_needs_account_and_region() -> None:
    settings = parse_settings({"vpcId": "vpc-0abc12345def67890"})
    with pytest.raises(SettingsError, match="context key 'vpcId': expected an account and region"):
        deployment_environment(settings, None, "us-east-1")
    assert deployment_environment(settings, "123456789012", "eu-west-1") == {
        "account": "123456789012",
        "region": "eu-west-1",
    }
    assert deployment_environment(Settings(), None, None) is None


def test_synth_fails_with_one_line_before_building_anything(tmp_path: Path) -> None:
    env = dict(
        os.environ, CDK_CONTEXT_JSON='{"allowedCidrs": "10.0.0.0/40"}', CDK_OUTDIR=str(tmp_path)
    )
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "spot-insights: context key 'allowedCidrs': expected a list of CIDRs such as "
        '["203.0.113.0/24", "2001:db8::/48"] or a comma-separated string, got \'10.0.0.0/40\''
    ]
    assert not any(tmp_path.iterdir()), "nothing may be synthesized"


def _app_py(context: dict, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, CDK_CONTEXT_JSON=json.dumps(context), **env)
    for name in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_without_account_and_region_is_refused_in_one_line(tmp_path: Path) -> None:
    # Finding 5: an environment-agnostic stack gets two AZs, so production needs both.
    with pytest.raises(SettingsError) as caught:
        deployment_environment(Settings(profile="production"), "123456789012", None)
    assert caught.value.key == "profile"
    result = _app_py({"profile": "production"}, CDK_OUTDIR=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "spot-insights: context key 'profile': expected an account and region for 'production' "
        "(its three AZs are looked up there): set AWS credentials, or CDK_DEFAULT_ACCOUNT and "
        "CDK_DEFAULT_REGION, got 'production'"
    ]
    assert deployment_environment(Settings(profile="production"), "123456789012", "eu-west-1") == {
        "account": "123456789012",
        "region": "eu-west-1",
    }


def test_certificate_from_another_region_is_refused_in_one_line(tmp_path: Path) -> None:
    # Finding 6: a listener only accepts a certificate from its own region.
    settings = parse_settings({"certificateArn": CERT, "allowedCidrs": "203.0.113.0/24"})
    assert deployment_environment(settings, None, "us-east-1") is None
    assert deployment_environment(settings, None, None) is None  # region unknown: nothing to check
    with pytest.raises(SettingsError) as caught:
        deployment_environment(settings, None, "eu-west-1")
    assert caught.value.key == "certificateArn"
    result = _app_py(
        {"certificateArn": CERT, "allowedCidrs": "203.0.113.0/24"},
        CDK_DEFAULT_REGION="eu-west-1",
        CDK_OUTDIR=str(tmp_path),
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "spot-insights: context key 'certificateArn': expected a certificate in the deploy region "
        f"eu-west-1 (this one is in us-east-1), got '{CERT}'"
    ]
    assert not any(tmp_path.iterdir())
