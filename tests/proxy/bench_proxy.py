"""Benchmark: latency through the real nginx proxy to a local TLS upstream (prints numbers).

    .venv/bin/python -m tests.proxy.bench_proxy [requests]

Not a test: the machine is shared, so the numbers are for the docs, not for assertions.
"""

import http.client
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.proxy.conftest import UPSTREAM_NAME
from tests.proxy.dns_stub import DnsStub
from tests.proxy.nginx_runner import run_nginx
from tests.proxy.tls_upstream import TlsUpstream
from tests.support.pki import TestCA


def _timings(port: int, path: str, count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # one keep-alive connection
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        timings.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status}")
    conn.close()
    return timings


def _report(label: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(
        f"{label:<28} n={len(ordered):<5} median={statistics.median(ordered):6.2f} ms  "
        f"p95={p95:6.2f} ms  max={ordered[-1]:6.2f} ms"
    )


def main(count: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="spot-proxy-bench-"))
    ca = TestCA(directory, "bench")
    cert = ca.issue(UPSTREAM_NAME)
    with (
        DnsStub({UPSTREAM_NAME: "127.0.0.1"}) as dns,
        TlsUpstream(UPSTREAM_NAME, cert, label="bench", host="127.0.0.1") as upstream,
    ):
        start = time.perf_counter()
        with run_nginx(
            upstream_host=UPSTREAM_NAME,
            upstream_port=upstream.port,
            resolver=dns.address,
            ca_file=str(ca.ca_file),
        ) as nginx:
            print(
                f"nginx -t + start until listening: {(time.perf_counter() - start) * 1000:.0f} ms"
            )
            _report("/health (local answer)", _timings(nginx.port, "/health", count))
            _report("/_dashboards/ (proxied)", _timings(nginx.port, "/_dashboards/app/home", count))
            print(f"DNS queries for the upstream name: {dns.query_count(UPSTREAM_NAME)}")
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
