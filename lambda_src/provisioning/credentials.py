"""Credentials from Secrets Manager: the master user and the read-only users."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.provisioning.errors import ProvisioningError

# A VPC without a route to Secrets Manager should fail in about a minute, not at the timeout.
_BOUNDED = Config(
    connect_timeout=10, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"}
)


def read_user_secret(secret_id: str, client: Any = None) -> tuple[str, str]:
    """(username, password) from a JSON secret with those two keys."""
    client = client or boto3.client("secretsmanager", config=_BOUNDED)
    try:
        raw = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ProvisioningError(
            f"reading secret {secret_id} failed: {error.get('Code')}: {error.get('Message')}"
        ) from exc
    except BotoCoreError as exc:  # no network path to Secrets Manager, no credentials, ...
        raise ProvisioningError(f"reading secret {secret_id} failed: {exc}") from exc
    except KeyError:
        raise ProvisioningError(f"secret {secret_id} has no SecretString") from None
    try:
        value = json.loads(raw)
        username, password = str(value["username"]), str(value["password"])
    except (ValueError, KeyError, TypeError):
        # Never echo the secret value itself.
        raise ProvisioningError(
            f"secret {secret_id} must be JSON with 'username' and 'password'"
        ) from None
    if not username or not password:
        raise ProvisioningError(f"secret {secret_id} has an empty username or password")
    return username, password
