"""Secrets come from Secrets Manager (the moto server over HTTP); bad ones fail readably
without ever echoing the secret value."""

from __future__ import annotations

import json

import boto3
import pytest

from lambda_src.provisioning.credentials import read_user_secret
from lambda_src.provisioning.errors import ProvisioningError

pytestmark = pytest.mark.aws


def _create(name: str, value: str) -> str:
    return boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]


def test_reads_username_and_password(aws: str) -> None:
    arn = _create("ok", json.dumps({"username": "spot-insights-admin", "password": "S3cret!x"}))
    assert read_user_secret(arn) == ("spot-insights-admin", "S3cret!x")


def test_missing_secret_names_it(aws: str) -> None:
    with pytest.raises(
        ProvisioningError, match="reading secret does-not-exist failed: ResourceNotFound"
    ):
        read_user_secret("does-not-exist")


@pytest.mark.parametrize(
    "value",
    ["not json TopSecretValue", json.dumps({"username": "u"}), json.dumps(["TopSecretValue"])],
)
def test_malformed_secret_is_reported_without_its_value(aws: str, value: str) -> None:
    arn = _create("bad", value)
    with pytest.raises(ProvisioningError) as info:
        read_user_secret(arn)
    assert "must be JSON with 'username' and 'password'" in str(info.value)
    assert "TopSecretValue" not in str(info.value)


def test_empty_password_is_refused(aws: str) -> None:
    arn = _create("empty", json.dumps({"username": "u", "password": ""}))
    with pytest.raises(ProvisioningError, match="empty username or password"):
        read_user_secret(arn)
