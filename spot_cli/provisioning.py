"""The demo's provisioner: the deploy-time custom resource's own code, with basic auth.

The local node has no ISM plugin, so the retention policy step is skipped with a logged
warning (the managed domain requires it); everything else runs exactly as at deploy time."""

from __future__ import annotations

from spot_cli.errors import CliError
from spot_cli.opensearch_client import OpenSearchSettings


def provision_local(settings: OpenSearchSettings, prefix: str) -> None:
    from lambda_src.provisioning.errors import ProvisioningError  # noqa: PLC0415 - start-up time
    from lambda_src.provisioning.local import provision  # noqa: PLC0415

    if not (settings.user and settings.password):
        raise CliError("provisioning a local node needs a user and password (basic auth)")
    try:
        provision(
            settings.endpoint,
            (settings.user, settings.password),
            ca_certs=settings.ca_certs,
            prefix=prefix,
        )
    except ProvisioningError as exc:
        raise CliError(f"provisioning {settings.endpoint} failed: {exc}") from exc
