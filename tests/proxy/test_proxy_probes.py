"""Raw-socket probes against Debian's nginx running the rendered config, in front of the
recording TLS upstream: only what was checked reaches the domain, with the proxy's own
forwarding headers. The probes themselves live in tests/proxy/probes.py."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proxy.http_client import request
from tests.proxy.nginx_runner import RunningNginx
from tests.proxy.probes import (
    HOME,
    PROBES,
    Probe,
    figure,
    get,
    inside_dashboards,
    outside,
    proxied_upstream,
    send,
)
from tests.proxy.raw_http import exchange
from tests.proxy.tls_upstream import TlsUpstream

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def probed() -> Iterator[tuple[RunningNginx, TlsUpstream]]:
    with proxied_upstream() as running:
        yield running


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: f"{p.family}: {p.name}"[:90])
def test_probe(probed: tuple[RunningNginx, TlsUpstream], probe: Probe) -> None:
    nginx, upstream = probed
    outcome = send(probe, nginx.port, upstream)
    assert outcome.problems() == [], (outcome.statuses, nginx.error_log[-2000:])


def test_no_probe_reached_the_upstream_outside_dashboards(
    probed: tuple[RunningNginx, TlsUpstream],
) -> None:
    """Every request line the upstream received during this module, including any that
    arrived after its probe's answer (a smuggled request would)."""
    nginx, upstream = probed
    for probe in PROBES:  # run again here so this test stands alone (-k, random order)
        send(probe, nginx.port, upstream)
    with upstream.lock:
        lines = list(upstream.request_lines)
    assert lines, "no probe reached the upstream at all: the harness is not measuring"
    assert outside(lines) == []


def test_the_docs_carry_the_current_figure() -> None:
    assert figure(len(PROBES), 0) in (ROOT / "docs" / "proxy.md").read_text()
    assert f"of {len(PROBES)} raw-socket probes, 0 reached" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    ("target", "inside"),
    [
        (b"/_dashboards/app/home?next=/../_cat", True),
        (b"/_dashboards", True),
        (b"/_dashboardsfoo", False),
        (b"/_dashboards/..%2f_cat", False),
        (b"/_dashboards/%252e%252e/_cat", False),
        (b"/_dashboards/%c0%ae%c0%ae/_cat", False),
        (b"/_dashboards\\..\\_cat", False),
        (b"/_dashboards/..;/_cat", False),
        (b"/_dashboards#/../_cat", False),
        (b"/_dashboards/app%3f/../../_cat", False),
    ],
)
def test_the_oracle_reads_targets_leniently(target: bytes, inside: bool) -> None:
    """The judge of "outside /_dashboards" must itself catch every trick the probes use."""
    assert inside_dashboards(target) is inside


# The load balancer's side: nginx trusts X-Forwarded-For and X-Forwarded-Proto from its
# subnets only. 127.0.0.1 stands in for the load balancer; 127.0.0.2 (also loopback) for
# anyone else who can open a connection to the host.
@pytest.fixture(scope="module")
def behind_load_balancer() -> Iterator[tuple[RunningNginx, TlsUpstream]]:
    with proxied_upstream(load_balancer_cidrs=["127.0.0.1/32"]) as running:
        yield running


def _seen_headers(upstream: TlsUpstream, name: str) -> list[str]:
    return [v for k, v in upstream.requests[-1].header_lines if k == name]


def test_the_load_balancer_names_the_client(
    behind_load_balancer: tuple[RunningNginx, TlsUpstream],
) -> None:
    nginx, upstream = behind_load_balancer
    # What an ALB sends: the client's own X-Forwarded-For claim, then the address it saw.
    reply = exchange(
        nginx.port,
        get(HOME, b"X-Forwarded-For: 6.6.6.6, 203.0.113.9", b"X-Forwarded-Proto: https"),
    )
    assert reply.status == 200
    assert _seen_headers(upstream, "x-forwarded-for") == ["203.0.113.9"]
    assert _seen_headers(upstream, "x-real-ip") == ["203.0.113.9"]
    assert _seen_headers(upstream, "x-forwarded-proto") == ["https"]


def test_only_the_last_entry_counts(
    behind_load_balancer: tuple[RunningNginx, TlsUpstream],
) -> None:
    """A client whose own address is inside the load balancer's subnets (an internal caller)
    must not reach past the entry the load balancer appended to a forged one."""
    nginx, upstream = behind_load_balancer
    reply = exchange(nginx.port, get(HOME, b"X-Forwarded-For: 6.6.6.6, 127.0.0.1"))
    assert reply.status == 200
    assert _seen_headers(upstream, "x-forwarded-for") == ["127.0.0.1"]


def test_other_peers_cannot_name_the_client(
    behind_load_balancer: tuple[RunningNginx, TlsUpstream],
) -> None:
    nginx, upstream = behind_load_balancer
    reply = exchange(
        nginx.port,
        get(HOME, b"X-Forwarded-For: 203.0.113.9", b"X-Forwarded-Proto: https"),
        source="127.0.0.2",
    )
    assert reply.status == 200
    assert _seen_headers(upstream, "x-forwarded-for") == ["127.0.0.2"]
    assert _seen_headers(upstream, "x-real-ip") == ["127.0.0.2"]
    assert _seen_headers(upstream, "x-forwarded-proto") == ["http"]


def test_the_load_balancer_still_cannot_send_proxy_auth_headers(
    behind_load_balancer: tuple[RunningNginx, TlsUpstream],
) -> None:
    """An ALB passes client headers on: being trusted for the address trusts nothing else."""
    nginx, upstream = behind_load_balancer
    reply = exchange(nginx.port, get(HOME, b"x-proxy-user: admin", b"Forwarded: for=1.2.3.4"))
    assert reply.status == 200
    assert _seen_headers(upstream, "x-proxy-user") == []
    assert _seen_headers(upstream, "forwarded") == []


def test_access_log_has_no_user_names_or_query_strings(
    probed: tuple[RunningNginx, TlsUpstream],
) -> None:
    nginx, _upstream = probed
    log_file = nginx.directory / "access.log"
    before = log_file.stat().st_size if log_file.exists() else 0
    reply = request(
        nginx.port,
        "/_dashboards/api/saved_objects/_find?search=secret-term&type=dashboard",
        # user "audit-user", password "pw"
        headers={"Authorization": "Basic YXVkaXQtdXNlcjpwdw=="},
    )
    assert reply.status == 200
    # nginx writes the line after the response has gone out: wait for it (bounded).
    deadline = time.monotonic() + 10
    log = ""
    while "\n" not in log and time.monotonic() < deadline:
        time.sleep(0.05)
        log = log_file.read_bytes()[before:].decode()
    [line] = log.splitlines()
    assert re.match(
        r'^127\.0\.0\.1 \[[^]]+\] "GET /_dashboards/api/saved_objects/_find HTTP/1\.1" 200 ', line
    ), line
    assert "audit-user" not in log
    assert "secret-term" not in log


def test_the_console_proxy_can_be_opted_in() -> None:
    target = b"/_dashboards/api/console/proxy?path=_cat%2Findices&method=GET"
    with proxied_upstream(console_proxy=True) as (nginx, upstream):
        reply = exchange(nginx.port, get(target, method=b"POST", close=True))
        assert reply.status == 200
        assert [r.path for r in upstream.requests] == [target.decode()]
