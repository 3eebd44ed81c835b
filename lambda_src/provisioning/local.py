"""Provision a local or test OpenSearch node the way the custom resource provisions the domain.

    python -m lambda_src.provisioning.local [--prefix P] [--replicas N] [--require-ism]

Connection from the environment that `scripts/opensearch env` prints: OPENSEARCH_URL,
OPENSEARCH_USER, OPENSEARCH_PASSWORD, OPENSEARCH_CA_CERTS. Local nodes have neither the ISM
plugin nor Dashboards, so ISM is skipped with a warning (unless --require-ism) and saved
objects are only imported when --dashboards-url is given."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from lambda_src.contract import DEFAULT_INDEX_PREFIX
from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.http_client import HttpClient, RetryPolicy
from lambda_src.provisioning.provisioner import Provisioner
from lambda_src.provisioning.settings import IsmMode, ProvisioningSettings


def provision(
    endpoint: str,
    auth: tuple[str, str],
    *,
    ca_certs: str | None = None,
    prefix: str = DEFAULT_INDEX_PREFIX,
    replicas: int = 0,
    retention_days: int = 365,
    writer_backend_roles: Sequence[str] = (),
    require_ism: bool = False,
    dashboards_url: str = "",
) -> dict[str, str]:
    """Run the custom resource's provisioning steps against `endpoint` with basic auth."""
    settings = ProvisioningSettings.from_properties(
        {
            "Endpoint": endpoint,
            "MasterSecretArn": "local",
            "IndexPrefix": prefix,
            "Replicas": str(replicas),
            "RetentionDays": str(retention_days),
            "WriterBackendRoles": list(writer_backend_roles),
            "IsmMode": (IsmMode.REQUIRED if require_ism else IsmMode.SKIP_IF_UNAVAILABLE),
            "DashboardsUrl": dashboards_url,
            "ImportSavedObjects": str(bool(dashboards_url)).lower(),
        }
    )
    verify: bool | str = ca_certs or True
    retry = RetryPolicy(max_attempts=5)
    opensearch = HttpClient(settings.endpoint, auth=auth, verify=verify, retry=retry)
    dashboards = HttpClient(settings.dashboards_url, auth=auth, verify=verify, retry=retry)
    return Provisioner(settings, opensearch, dashboards).run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default=DEFAULT_INDEX_PREFIX)
    parser.add_argument("--replicas", type=int, default=0)
    parser.add_argument("--retention-days", type=int, default=365)
    parser.add_argument("--writer-backend-role", action="append", default=[])
    parser.add_argument("--require-ism", action="store_true")
    parser.add_argument("--dashboards-url", default="")
    args = parser.parse_args(argv)
    missing = [
        k
        for k in ("OPENSEARCH_URL", "OPENSEARCH_USER", "OPENSEARCH_PASSWORD")
        if not os.environ.get(k)
    ]
    if missing:
        print(f"error: set {', '.join(missing)} (see scripts/opensearch env)", file=sys.stderr)
        return 2
    try:
        started = time.perf_counter()
        summary = provision(
            os.environ["OPENSEARCH_URL"],
            (os.environ["OPENSEARCH_USER"], os.environ["OPENSEARCH_PASSWORD"]),
            ca_certs=os.environ.get("OPENSEARCH_CA_CERTS"),
            prefix=args.prefix,
            replicas=args.replicas,
            retention_days=args.retention_days,
            writer_backend_roles=args.writer_backend_role,
            require_ism=args.require_ism,
            dashboards_url=args.dashboards_url,
        )
    except ProvisioningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary["ElapsedSeconds"] = f"{time.perf_counter() - started:.2f}"
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
