"""A throwaway CA and a 127.0.0.1 server certificate for the TLS recording server."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from tests.support.pki import TestCA


@dataclass(frozen=True)
class TestCertificates:
    ca_pem: Path
    server_context: ssl.SSLContext


def make_certificates(directory: Path) -> TestCertificates:
    ca = TestCA(directory, "spot-insights")
    issued = ca.issue("localhost", ip="127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_file, issued.key_file)
    return TestCertificates(ca_pem=ca.ca_file, server_context=context)
