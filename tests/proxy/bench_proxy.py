"""Benchmark: latency through the real nginx proxy to a local TLS upstream (prints numbers).

    .venv/bin/python -m tests.proxy.bench_proxy [requests] [--results PATH]

Not a test: the machine is shared, so the numbers are for the docs, not for assertions. The
figures also go to docs/results/bench_proxy.json (or --results), which docs/proxy.md quotes.
"""

import argparse
import http.client
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.proxy.dns_stub import DnsStub
from tests.proxy.nginx_runner import run_nginx
from tests.proxy.tls_upstream import TlsUpstream
from tests.support.bench_results import default_path, write_results
from tests.support.pki import TestCA

# A name only the DNS stub knows (RFC 6761 reserves .test).
UPSTREAM_NAME = "vpc-spot-insights.bench.test"


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


def _summary(label: str, timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    figures = {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(p95, 3),
        "max_ms": round(ordered[-1], 3),
    }
    print(
        f"{label:<28} n={len(ordered):<5} median={figures['median_ms']:6.2f} ms  "
        f"p95={figures['p95_ms']:6.2f} ms  max={figures['max_ms']:6.2f} ms"
    )
    return figures


def measure(count: int) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="spot-proxy-bench-"))
    try:
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
                start_ms = (time.perf_counter() - start) * 1000
                print(f"nginx -t + start until listening: {start_ms:.0f} ms")
                health = _summary("/health (local answer)", _timings(nginx.port, "/health", count))
                proxied = _summary(
                    "/_dashboards/ (proxied)", _timings(nginx.port, "/_dashboards/app/home", count)
                )
                queries = dns.query_count(UPSTREAM_NAME)
                print(f"DNS queries for the upstream name: {queries}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "requests": count,
        "start_ms": round(start_ms, 1),
        "health": health,
        "proxied": proxied,
        "dns_queries": queries,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", type=int, nargs="?", default=500)
    parser.add_argument("--results", type=Path, default=default_path("bench_proxy"))
    args = parser.parse_args(argv)
    write_results(
        args.results,
        command=shlex.join([".venv/bin/python", "-m", "tests.proxy.bench_proxy", *argv]),
        figures=measure(args.requests),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
