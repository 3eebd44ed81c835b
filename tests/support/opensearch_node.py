"""The real OpenSearch node the tests talk to: one started by scripts/opensearch, or an
existing one named by OPENSEARCH_URL (+ OPENSEARCH_USER / OPENSEARCH_PASSWORD /
OPENSEARCH_CA_CERTS)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opensearchpy import OpenSearch

from spot_cli.errors import CliError
from spot_cli.local.servers import start_local_node
from spot_cli.opensearch_client import OpenSearchSettings
from tests.support.ports import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "opensearch"
TRANSPORT_OFFSET = 100  # scripts/opensearch puts the transport port at http port + 100


class OpenSearchUnavailable(RuntimeError):
    """The node could not be started or reached; tests needing it must fail, not skip."""


@dataclass(frozen=True)
class OpenSearchNode:
    url: str
    user: str
    password: str
    ca_certs: str | None

    def client(self, user: str | None = None, password: str | None = None) -> OpenSearch:
        """A client over TLS with certificate and host name verification, basic auth."""
        return OpenSearch(
            hosts=[self.url],
            http_auth=(user or self.user, password or self.password),
            use_ssl=self.url.startswith("https"),
            verify_certs=True,
            ca_certs=self.ca_certs,
            timeout=30,
        )

    def settings(self) -> OpenSearchSettings:
        """The node's admin credentials as the CLI and the local pipeline take them."""
        return OpenSearchSettings(
            endpoint=self.url,
            auth="basic",
            user=self.user,
            password=self.password,
            ca_certs=self.ca_certs,
        )


def _from_env() -> OpenSearchNode | None:
    url = os.environ.get("OPENSEARCH_URL")
    if not url:
        return None
    missing = [key for key in ("OPENSEARCH_USER", "OPENSEARCH_PASSWORD") if not os.environ.get(key)]
    if missing:
        raise OpenSearchUnavailable(f"OPENSEARCH_URL is set but {', '.join(missing)} is not")
    return OpenSearchNode(
        url=url.rstrip("/"),
        user=os.environ["OPENSEARCH_USER"],
        password=os.environ["OPENSEARCH_PASSWORD"],
        ca_certs=os.environ.get("OPENSEARCH_CA_CERTS"),
    )


@contextmanager
def running_node() -> Iterator[OpenSearchNode]:
    """Yield a reachable node; start (and afterwards stop and remove) a private one if needed."""
    existing = _from_env()
    if existing:
        yield existing
        return
    port = free_port(also_free_offset=TRANSPORT_OFFSET)
    try:
        try:
            settings = start_local_node(port)  # the demo's own start-up and env parsing
        except CliError as exc:
            raise OpenSearchUnavailable(str(exc)) from exc
        yield OpenSearchNode(
            url=settings.endpoint,
            user=settings.user or "",
            password=settings.password or "",
            ca_certs=settings.ca_certs,
        )
    finally:
        subprocess.run(
            [str(SCRIPT), "stop", "--port", str(port), "--purge"], capture_output=True, check=False
        )
