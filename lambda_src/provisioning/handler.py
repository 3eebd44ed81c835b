"""CDK Provider framework on_event handler: thin; the steps live in provisioner.py.

Create and Update provision (idempotently); Delete leaves the domain's data and security
configuration alone, since the domain itself is retained by default."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_src.contract import PROVISIONING_SERVICE_NAME
from lambda_src.provisioning.credentials import read_user_secret
from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.http_client import HttpClient, RetryPolicy
from lambda_src.provisioning.provisioner import Provisioner
from lambda_src.provisioning.settings import ProvisioningSettings

logger = Logger(service=PROVISIONING_SERVICE_NAME)
# Left for the failure answer to reach CloudFormation before the function is cut off.
SAFETY_MARGIN_SECONDS = 30.0
# Retries wait at most this long each: the deadline, not an attempt count, ends them.
MAX_RETRY_DELAY_SECONDS = 30.0
# A fresh domain answers 401/403 for a few minutes while fine-grained access control creates its
# security index; after this long a refusal is taken as meant (a wrong mapping, a bad password).
AUTH_GRACE_SECONDS = 300.0


@logger.inject_lambda_context(log_event=False)
def on_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_type = event.get("RequestType")
    if request_type == "Delete":
        logger.info("Delete: leaving indices, roles and saved objects in place")
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    if request_type not in {"Create", "Update"}:
        raise ProvisioningError(f"unknown RequestType {request_type!r}")
    try:
        settings = ProvisioningSettings.from_properties(event.get("ResourceProperties", {}))
        deadline = (
            time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
        )
        data = provision(settings, deadline=deadline)
    except ProvisioningError as exc:
        logger.error("provisioning failed", extra={"reason": str(exc)})
        raise
    except Exception as exc:
        logger.exception("provisioning failed unexpectedly")
        raise ProvisioningError(f"unexpected {type(exc).__name__}: {exc}") from exc
    logger.info("provisioned", extra={"summary": data})
    return {"PhysicalResourceId": f"search-setup:{settings.index_prefix}", "Data": data}


def provision(settings: ProvisioningSettings, *, deadline: float) -> dict[str, str]:
    user, password = read_user_secret(settings.master_secret_arn)
    # Local nodes use a private CA; on AWS the default trust store verifies the domain.
    verify: bool | str = os.environ.get("OPENSEARCH_CA_CERTS") or True
    retry = RetryPolicy(
        max_attempts=None,
        max_delay=MAX_RETRY_DELAY_SECONDS,
        deadline=deadline,
        auth_grace=AUTH_GRACE_SECONDS,
    )
    opensearch = HttpClient(settings.endpoint, auth=(user, password), verify=verify, retry=retry)
    dashboards = HttpClient(
        settings.dashboards_url, auth=(user, password), verify=verify, retry=retry
    )
    readers = dict(read_user_secret(arn) for arn in settings.reader_user_secret_arns)
    return Provisioner(settings, opensearch, dashboards, readers).run()
