"""A local node provisioned for a run: the deploy-time custom resource's own code
(`lambda_src/provisioning/local.py`) with basic auth, plus the local stand-in for the ingest
function's IAM role.

Deployed, the function signs with its IAM role, which the provisioner maps as a backend role of
`spot_insights_writer`. Locally an internal user carries such a backend role instead, and the
handler writes as that user, so a run proves the writer role alone is enough to ingest. The
local node has no ISM plugin, so the retention policy step is skipped with a logged warning
(the managed domain requires it)."""

from __future__ import annotations

import secrets

from spot_cli.errors import CliError
from spot_cli.opensearch_client import OpenSearchSettings, connect

INGEST_USER = "spot-insights-local-ingest"
# Shaped like the function's role ARN; it only has to match between the user and the mapping.
INGEST_BACKEND_ROLE = "arn:aws:iam::000000000000:role/spot-insights-local-ingest"
# The exposure sampler's stand-in (spot_cli/local/sampler.py): mapped to the exposure writer.
SAMPLER_BACKEND_ROLE = "arn:aws:iam::000000000000:role/spot-insights-local-sampler"


def provision_local(settings: OpenSearchSettings, prefix: str) -> OpenSearchSettings:
    """Provision `prefix` and return the credentials the ingest handler should write with."""
    from lambda_src.provisioning.errors import ProvisioningError  # noqa: PLC0415 - start-up time
    from lambda_src.provisioning.local import provision  # noqa: PLC0415

    if not (settings.user and settings.password):
        raise CliError("provisioning a local node needs a user and password (basic auth)")
    password = secrets.token_urlsafe(24)
    connect(settings).transport.perform_request(
        "PUT",
        f"/_plugins/_security/api/internalusers/{INGEST_USER}",
        body={
            "password": password,
            "backend_roles": [INGEST_BACKEND_ROLE],
            "description": "Local stand-in for the ingest function's IAM role",
        },
    )
    try:
        provision(
            settings.endpoint,
            (settings.user, settings.password),
            ca_certs=settings.ca_certs,
            prefix=prefix,
            writer_backend_roles=[INGEST_BACKEND_ROLE],
            exposure_writer_backend_roles=[SAMPLER_BACKEND_ROLE],
        )
    except ProvisioningError as exc:
        raise CliError(f"provisioning {settings.endpoint} failed: {exc}") from exc
    return OpenSearchSettings(
        endpoint=settings.endpoint,
        auth="basic",
        user=INGEST_USER,
        password=password,
        ca_certs=settings.ca_certs,
    )
