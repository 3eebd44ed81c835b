"""Debian's nginx, really started on loopback with the rendered config, in front of a local
HTTPS upstream whose certificate comes from a CA the test creates."""

import time

import pytest

from tests.proxy.conftest import UPSTREAM_NAME, Pki
from tests.proxy.dns_stub import DnsStub
from tests.proxy.http_client import announce_body, request
from tests.proxy.nginx_runner import RunningNginx, run_nginx
from tests.proxy.tls_upstream import TlsUpstream

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
}


def test_root_redirects_to_dashboards(proxy: RunningNginx, upstream: TlsUpstream) -> None:
    reply = request(proxy.port, "/")
    assert reply.status == 302
    # Relative, so it stays on https:// and the load balancer's host name in the browser.
    assert reply.headers["Location"] == "/_dashboards/"
    assert upstream.requests == []


def test_health_is_answered_locally(
    proxy: RunningNginx, upstream: TlsUpstream, dns: DnsStub
) -> None:
    reply = request(proxy.port, "/health")
    assert (reply.status, reply.body) == (200, b"ok\n")
    assert upstream.requests == []
    assert dns.query_count(UPSTREAM_NAME) == 0


def test_dashboards_requests_reach_the_domain_with_its_host_and_sni(
    proxy: RunningNginx, upstream: TlsUpstream
) -> None:
    path = "/_dashboards/api/saved_objects/_find?type=index-pattern&search=a%2Fb"
    reply = request(proxy.port, path, headers={"X-Forwarded-Proto": "https"})
    assert reply.status == 200, proxy.error_log
    assert reply.json()["upstream"] == "a"
    [seen] = upstream.requests
    assert seen.path == path  # the encoded query survives untouched
    assert seen.host == UPSTREAM_NAME  # not the client's 127.0.0.1:<port>
    assert seen.sni == UPSTREAM_NAME
    # Not from a load balancer address (none is configured here): the claim is ignored.
    assert seen.headers["x-forwarded-proto"] == "http"
    assert seen.headers["x-forwarded-for"] == "127.0.0.1"


def test_without_forwarded_proto_the_connection_scheme_is_sent(
    proxy: RunningNginx, upstream: TlsUpstream
) -> None:
    assert request(proxy.port, "/_dashboards/app/home").status == 200
    assert upstream.requests[0].headers["x-forwarded-proto"] == "http"


@pytest.mark.parametrize("status", [401, 403, 404, 500, 503])
def test_upstream_status_codes_pass_through(
    proxy: RunningNginx, upstream: TlsUpstream, status: int
) -> None:
    reply = request(proxy.port, f"/_dashboards/status/{status}")
    assert reply.status == status
    assert reply.json()["upstream"] == "a"  # the domain's body, not an nginx error page
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/_cat/indices", "/_search", "/spot-interruptions-write/_doc"])
def test_the_domain_rest_api_is_not_exposed(
    proxy: RunningNginx, upstream: TlsUpstream, path: str
) -> None:
    assert request(proxy.port, path).status == 404
    assert upstream.requests == []


@pytest.mark.parametrize("path", ["/", "/health", "/_dashboards/app/home", "/nope"])
def test_security_headers_once_on_every_response(proxy: RunningNginx, path: str) -> None:
    reply = request(proxy.port, path)
    for name, value in SECURITY_HEADERS.items():
        assert reply.all(name) == [value], name  # the upstream's X-Frame-Options: DENY is replaced
    assert reply.headers["Server"] == "nginx"  # server_tokens off: no version


def test_upstream_redirects_are_rewritten_to_the_proxy(proxy: RunningNginx) -> None:
    reply = request(proxy.port, "/_dashboards/moved")
    assert reply.status == 302
    assert reply.headers["Location"] == "/_dashboards/app/home"


def test_saved_object_import_bodies_fit(proxy: RunningNginx, upstream: TlsUpstream) -> None:
    # 25 MiB: Dashboards' own default limit for saved-object imports.
    body = b"x" * (25 * 1024 * 1024)
    reply = request(proxy.port, "/_dashboards/api/saved_objects/_import", method="POST", body=body)
    assert reply.status == 200, proxy.error_log
    assert upstream.requests[0].body_length == len(body)


def test_oversized_bodies_are_refused_before_the_domain(
    proxy: RunningNginx, upstream: TlsUpstream
) -> None:
    reply = announce_body(proxy.port, "/_dashboards/api/saved_objects/_import", 33 * 1024 * 1024)
    assert reply.status == 413
    assert upstream.requests == []


def test_ipv6_listener_serves_the_same_site(proxy: RunningNginx, upstream: TlsUpstream) -> None:
    assert request(proxy.port, "/health", host="::1").status == 200
    reply = request(proxy.port, "/_dashboards/app/home", host="::1")
    assert reply.status == 200
    assert upstream.requests[0].host == UPSTREAM_NAME


def test_untrusted_upstream_certificate_is_refused(pki: Pki, dns: DnsStub) -> None:
    forged = pki.untrusted.issue(UPSTREAM_NAME)  # right name, wrong CA
    with (
        TlsUpstream(UPSTREAM_NAME, forged, label="forged", host="127.0.0.1") as impostor,
        run_nginx(
            upstream_host=UPSTREAM_NAME,
            upstream_port=impostor.port,
            resolver=dns.address,
            ca_file=str(pki.trusted.ca_file),
        ) as nginx,
    ):
        reply = request(nginx.port, "/_dashboards/app/home")
        assert reply.status == 502
        assert b"forged" not in reply.body
        assert impostor.requests == []
        assert "certificate verify" in nginx.error_log


def test_certificate_for_another_name_is_refused(pki: Pki, dns: DnsStub) -> None:
    wrong_name = pki.trusted.issue("other-domain.proxy.test")  # right CA, wrong name
    with (
        TlsUpstream(UPSTREAM_NAME, wrong_name, label="other", host="127.0.0.1") as other,
        run_nginx(
            upstream_host=UPSTREAM_NAME,
            upstream_port=other.port,
            resolver=dns.address,
            ca_file=str(pki.trusted.ca_file),
        ) as nginx,
    ):
        assert request(nginx.port, "/_dashboards/app/home").status == 502
        assert other.requests == []


def test_unresolvable_domain_gives_502_and_health_stays_up(pki: Pki, upstream: TlsUpstream) -> None:
    with (
        DnsStub({}) as empty_dns,
        run_nginx(
            upstream_host=UPSTREAM_NAME,
            upstream_port=upstream.port,
            resolver=empty_dns.address,
            ca_file=str(pki.trusted.ca_file),
        ) as nginx,
    ):
        assert request(nginx.port, "/_dashboards/app/home").status == 502
        assert empty_dns.query_count(UPSTREAM_NAME) >= 1
        assert request(nginx.port, "/health").status == 200
    assert upstream.requests == []


def test_domain_address_change_is_followed_without_reload(pki: Pki, dns: DnsStub) -> None:
    """The blue/green case: the name moves to another address while nginx keeps running."""
    cert = pki.trusted.issue(UPSTREAM_NAME)
    # 127.0.0.2 is loopback too; same port, so only the DNS answer tells them apart.
    with (
        TlsUpstream(UPSTREAM_NAME, cert, label="blue", host="127.0.0.1") as blue,
        TlsUpstream(UPSTREAM_NAME, cert, label="green", host="127.0.0.2", port=blue.port),
        run_nginx(
            upstream_host=UPSTREAM_NAME,
            upstream_port=blue.port,
            resolver=dns.address,
            resolver_valid_seconds=1,
            ca_file=str(pki.trusted.ca_file),
        ) as nginx,
    ):
        assert request(nginx.port, "/_dashboards/app/home").json()["upstream"] == "blue"
        dns.set_record(UPSTREAM_NAME, "127.0.0.2")
        served_by = "blue"
        deadline = time.monotonic() + 60  # a bound for a hang, not a speed check
        while served_by == "blue" and time.monotonic() < deadline:
            time.sleep(0.5)
            served_by = request(nginx.port, "/_dashboards/app/home").json()["upstream"]
        assert served_by == "green"
        assert dns.query_count(UPSTREAM_NAME) >= 2
