"""Fixtures for the live proxy tests: a test CA, a DNS stub, a TLS upstream and nginx."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.proxy.dns_stub import DnsStub
from tests.proxy.nginx_runner import RunningNginx, run_nginx
from tests.proxy.tls_upstream import TlsUpstream
from tests.support.pki import TestCA

# A name only the DNS stub knows (RFC 6761 reserves .test), so a passing test cannot be an
# accident of /etc/hosts or of nginx falling back to the client's Host.
UPSTREAM_NAME = "vpc-spot-insights.proxy.test"


@dataclass(frozen=True)
class Pki:
    trusted: TestCA
    untrusted: TestCA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory: Path = tmp_path_factory.mktemp("pki")
    return Pki(trusted=TestCA(directory, "trusted"), untrusted=TestCA(directory, "untrusted"))


@pytest.fixture
def dns() -> Iterator[DnsStub]:
    with DnsStub({UPSTREAM_NAME: "127.0.0.1"}) as stub:
        yield stub


@pytest.fixture
def upstream(pki: Pki) -> Iterator[TlsUpstream]:
    cert = pki.trusted.issue(UPSTREAM_NAME)
    with TlsUpstream(UPSTREAM_NAME, cert, label="a", host="127.0.0.1") as server:
        yield server


@pytest.fixture
def proxy(pki: Pki, dns: DnsStub, upstream: TlsUpstream) -> Iterator[RunningNginx]:
    with run_nginx(
        upstream_host=UPSTREAM_NAME,
        upstream_port=upstream.port,
        resolver=dns.address,
        resolver_valid_seconds=1,
        ca_file=str(pki.trusted.ca_file),
    ) as nginx:
        yield nginx
