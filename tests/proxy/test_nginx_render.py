"""Rendering the proxy's nginx.conf, and `nginx -t` with Debian's nginx on the result."""

import dataclasses
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spot_insights._nginx_config import (
    AL2023_CA_BUNDLE,
    VPC_DNS_RESOLVER,
    ProxySettings,
    normalize_host,
    render,
)
from tests.proxy.nginx_runner import check_config

ENDPOINT = "vpc-spot-insights-abc123.us-east-1.es.amazonaws.com"
DEBIAN_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def _as_deployed_but_local(directory: Path, **overrides: object) -> ProxySettings:
    """The construct's settings, with only what Debian lacks changed (the AL2023 CA bundle path,
    the `nginx` user) and the files nginx writes moved into `directory`."""
    return dataclasses.replace(
        ProxySettings(upstream_host=ENDPOINT),
        ca_file=DEBIAN_CA_BUNDLE,
        user=None,
        pid_file=str(directory / "nginx.pid"),
        error_log=str(directory / "error.log"),
        access_log=str(directory / "access.log"),
        temp_dir=str(directory / "tmp"),
        **overrides,
    )


@pytest.fixture
def nginx_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="spot-proxy-render-"))
    (directory / "tmp").mkdir()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_production_defaults() -> None:
    config = render(ProxySettings(upstream_host=ENDPOINT))
    assert f"resolver {VPC_DNS_RESOLVER} valid=10s ipv6=off;" in config
    assert f"proxy_ssl_trusted_certificate {AL2023_CA_BUNDLE};" in config
    assert "user nginx;" in config
    assert "listen 0.0.0.0:80;" in config
    assert "listen [::]:80 ipv6only=on;" in config
    assert "{{" not in config


def test_the_upstream_is_a_variable_so_it_is_resolved_per_request() -> None:
    config = render(ProxySettings(upstream_host=ENDPOINT))
    proxy_passes = re.findall(r"^\s*proxy_pass\s+(\S+);", config, flags=re.MULTILINE)
    # The URI part is the raw target the map checked, sent as is.
    assert proxy_passes == ["$dashboards_upstream$request_uri"]
    assert f"set $dashboards_upstream https://{ENDPOINT}:443;" in config
    for directive in (
        "proxy_ssl_verify on;",
        "proxy_ssl_server_name on;",
        f"proxy_ssl_name {ENDPOINT};",
        f"proxy_set_header Host {ENDPOINT};",
        "server_tokens off;",
    ):
        assert directive in config


def test_nginx_accepts_the_rendered_config(nginx_dir: Path) -> None:
    # `nginx -t` parses everything and loads the CA bundle but binds no socket, so the
    # production listeners (0.0.0.0:80 and [::]:80) are checked as rendered.
    checked = check_config(nginx_dir, render(_as_deployed_but_local(nginx_dir)))
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    "overrides",
    [
        {"listen_ipv6": None, "hsts": False},
        {"resolver": "127.0.0.1:5353 [fd00:ec2::253]", "resolver_ipv6": True},
        {"listen_port": 8080, "upstream_port": 9200, "client_max_body_size": "100m"},
        {"load_balancer_cidrs": ["10.0.0.0/24", "10.0.1.0/24", "2001:db8::/64"]},
        {"console_proxy": True},
    ],
)
def test_nginx_accepts_the_variants(nginx_dir: Path, overrides: dict[str, object]) -> None:
    config = render(_as_deployed_but_local(nginx_dir, **overrides))
    checked = check_config(nginx_dir, config)
    assert checked.returncode == 0, checked.stderr


def test_nginx_rejects_a_missing_ca_bundle(nginx_dir: Path) -> None:
    # Evidence that `nginx -t` above really checks the trusted-CA file it is given.
    settings = _as_deployed_but_local(nginx_dir)
    config = render(dataclasses.replace(settings, ca_file=str(nginx_dir / "absent.pem")))
    checked = check_config(nginx_dir, config)
    assert checked.returncode != 0
    assert "absent.pem" in checked.stderr


def test_optional_parts_can_be_left_out() -> None:
    config = render(ProxySettings(upstream_host=ENDPOINT, listen_ipv6=None, hsts=False, user=None))
    assert "ipv6only" not in config
    assert "Strict-Transport-Security" not in config.split("proxy_hide_header", 1)[0]
    assert not re.search(r"^user ", config, flags=re.MULTILINE)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (f"https://{ENDPOINT}/", ENDPOINT),
        (f"  {ENDPOINT.upper()} ", ENDPOINT),
        ("localhost", "localhost"),
    ],
)
def test_endpoint_forms_accepted(given: str, expected: str) -> None:
    assert normalize_host(given) == expected


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("upstream_host", "", "DNS name"),
        ("upstream_host", "evil.example; include /etc/passwd", "DNS name"),
        ("upstream_host", "http://plain.example", "DNS name"),
        ("upstream_host", "a..b", "DNS name"),
        ("upstream_host", "-lead.example", "DNS name"),
        ("upstream_port", 0, "upstream_port"),
        ("listen_port", 70000, "listen_port"),
        ("resolver", "", "at least one"),
        ("resolver", "dns.internal", "IP address"),
        ("resolver", "10.0.0.2:99999", "resolver port"),
        ("listen_ipv4", "::1", "IPv4"),
        ("listen_ipv6", "127.0.0.1", "IPv6"),
        ("resolver_valid_seconds", 0, "resolver_valid_seconds"),
        ("upstream_timeout_seconds", True, "upstream_timeout_seconds"),
        ("client_max_body_size", "1g; return 200", "client_max_body_size"),
        ("ca_file", "relative/ca.pem", "ca_file"),
        ("error_log", "/var/log/x.log; user root", "error_log"),
        ("user", "root;", "user"),
        ("load_balancer_cidrs", "10.0.0.0/24", "list of CIDR strings"),
        ("load_balancer_cidrs", ["10.0.0.1/24"], "load_balancer_cidrs"),
        ("load_balancer_cidrs", ["10.0.0.0/24; set_real_ip_from 0.0.0.0/0"], "load_balancer"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_error(
    field: str, value: object, message: str
) -> None:
    settings = dataclasses.replace(ProxySettings(upstream_host=ENDPOINT), **{field: value})
    with pytest.raises(ValueError, match=message):
        render(settings)


def test_a_template_placeholder_without_a_value_fails_the_render() -> None:
    with pytest.raises(ValueError, match="no_such_value"):
        render(ProxySettings(upstream_host=ENDPOINT), template="x {{ no_such_value }};")


def test_by_default_no_peer_names_the_client_and_the_console_proxy_is_refused() -> None:
    config = render(ProxySettings(upstream_host=ENDPOINT))
    assert "set_real_ip_from" not in config
    assert "location ~* ^/_dashboards/api/console(?:/|$) {" in config


def test_the_load_balancer_subnets_are_the_only_trusted_peers() -> None:
    config = render(
        ProxySettings(upstream_host=ENDPOINT, load_balancer_cidrs=["10.0.0.0/24", "10.0.1.0/24"])
    )
    assert re.findall(r"set_real_ip_from (\S+);", config) == ["10.0.0.0/24", "10.0.1.0/24"]
    assert "real_ip_recursive off;" in config
    geo = config.split("geo $realip_remote_addr $from_load_balancer {", 1)[1].split("}", 1)[0]
    assert re.findall(r"(\S+) 1;", geo) == ["10.0.0.0/24", "10.0.1.0/24"]
