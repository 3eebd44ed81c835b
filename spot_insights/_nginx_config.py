"""Renders the Dashboards proxy's nginx.conf from nginx/dashboards-proxy.conf.template.

Pure Python (no aws_cdk) so the tests render exactly what the construct ships and run it under
a real nginx. Every value is validated before it lands in the file: a stray ';' or '{' in a
prop would otherwise rewrite the proxy's configuration.
"""

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from spot_insights._assets import NGINX

TEMPLATE_PATH = NGINX / "dashboards-proxy.conf.template"

# Amazon-provided DNS, reachable at this link-local address from every VPC subnet (the VPC
# base + 2 address needs the CIDR, which is a token at synth time).
VPC_DNS_RESOLVER = "169.254.169.253"
# Amazon Linux 2023's system trust store (ca-certificates), which holds the public CAs that sign
# OpenSearch Service endpoints.
AL2023_CA_BUNDLE = "/etc/pki/tls/certs/ca-bundle.crt"

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
_SIZE = re.compile(r"^[1-9][0-9]*[km]?$")
# Paths go into the file unquoted: keep them to characters nginx reads as one plain token.
_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")


@dataclass(frozen=True)
class ProxySettings:
    """What the rendered nginx.conf depends on; the defaults are for an Amazon Linux 2023 host.

    upstream_host: the domain endpoint's host name (an `https://` prefix and a trailing `/` are
        tolerated and stripped).
    resolver: DNS server(s) for the upstream name, `address` or `address:port`, space separated.
    resolver_valid_seconds: how long nginx keeps an answer before asking again.
    listen_ipv4 / listen_ipv6: addresses nginx listens on; `listen_ipv6=None` drops the IPv6
        listener.
    ca_file: the CA bundle that must have signed the upstream's certificate.
    user / temp_dir: `None` leaves nginx's compiled-in defaults.
    hsts: send Strict-Transport-Security (only meaningful when clients arrive over HTTPS).
    load_balancer_cidrs: the load balancer's subnets (IPv4/IPv6 CIDRs). Only peers in them may
        name the client's address (X-Forwarded-For) and scheme (X-Forwarded-Proto); empty (no
        load balancer) trusts nobody.
    console_proxy: leave Dev Tools' console proxy (`/_dashboards/api/console/...`) reachable.
        Off by default: it turns Dashboards into a generic REST client for the domain.
    """

    upstream_host: str
    upstream_port: int = 443
    resolver: str = VPC_DNS_RESOLVER
    resolver_valid_seconds: int = 10
    resolver_ipv6: bool = False
    listen_port: int = 80
    listen_ipv4: str = "0.0.0.0"
    listen_ipv6: str | None = "::"
    ca_file: str = AL2023_CA_BUNDLE
    client_max_body_size: str = "32m"
    upstream_timeout_seconds: int = 300
    hsts: bool = True
    user: str | None = "nginx"
    pid_file: str = "/run/nginx.pid"
    error_log: str = "/var/log/nginx/error.log"
    access_log: str = "/var/log/nginx/access.log"
    temp_dir: str | None = None
    load_balancer_cidrs: Sequence[str] = ()
    console_proxy: bool = False


def normalize_host(value: str) -> str:
    """The bare host name of a domain endpoint, or ValueError saying what is wrong with it."""
    host = value.strip().lower()
    host = host.removeprefix("https://").rstrip("/")
    if not host or len(host) > 253:
        raise ValueError(f"upstream host must be a DNS name of 1-253 characters, got {value!r}")
    labels = host.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError(
            f"upstream host must be a DNS name (letters, digits, '-', dots), got {value!r}"
        )
    return host


def render(settings: ProxySettings, template: str | None = None) -> str:
    """The nginx.conf text for `settings`."""
    text = TEMPLATE_PATH.read_text() if template is None else template
    values = _values(settings)
    names = set(_PLACEHOLDER.findall(text))
    missing = names - values.keys()
    if missing:
        raise ValueError(f"template placeholders without a value: {sorted(missing)}")
    rendered = _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    if "{{" in rendered or "}}" in rendered:
        raise ValueError("template has a malformed placeholder (unbalanced double braces)")
    return rendered


def _values(s: ProxySettings) -> dict[str, str]:
    host = normalize_host(s.upstream_host)
    _check_port("upstream_port", s.upstream_port)
    _check_port("listen_port", s.listen_port)
    _check_range("resolver_valid_seconds", s.resolver_valid_seconds, 1, 3600)
    _check_range("upstream_timeout_seconds", s.upstream_timeout_seconds, 1, 3600)
    if not _SIZE.match(s.client_max_body_size):
        raise ValueError(f"client_max_body_size must look like 32m, got {s.client_max_body_size!r}")
    for name in ("ca_file", "pid_file", "error_log", "access_log", "temp_dir"):
        value = getattr(s, name)
        if value is not None and not _PATH.match(value):
            raise ValueError(f"{name} must be an absolute path of plain characters, got {value!r}")
    if s.user is not None and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", s.user):
        raise ValueError(f"user must be a system user name, got {s.user!r}")

    listens = [f"        listen {_ip(s.listen_ipv4, 4)}:{s.listen_port};"]
    if s.listen_ipv6 is not None:
        # ipv6only=on keeps the two sockets separate: with "off" the [::] socket also claims
        # IPv4 and the 0.0.0.0 listener fails to bind.
        listens.append(f"        listen [{_ip(s.listen_ipv6, 6)}]:{s.listen_port} ipv6only=on;")

    temp_paths = ""
    if s.temp_dir is not None:
        temp_paths = "\n".join(
            f"    {kind}_temp_path {s.temp_dir}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )

    networks = _networks("load_balancer_cidrs", s.load_balancer_cidrs)
    real_ip = [f"    set_real_ip_from {network};" for network in networks]
    if real_ip:
        # Not recursive: the last X-Forwarded-For entry is the one the load balancer appended.
        real_ip += ["    real_ip_header X-Forwarded-For;", "    real_ip_recursive off;"]

    return {
        "upstream_host": host,
        "upstream_port": str(s.upstream_port),
        "resolver": _resolver(s.resolver),
        "resolver_valid": str(s.resolver_valid_seconds),
        "resolver_ipv6": "on" if s.resolver_ipv6 else "off",
        "listen_directives": "\n".join(listens),
        "ca_file": s.ca_file,
        "client_max_body_size": s.client_max_body_size,
        "upstream_timeout": str(s.upstream_timeout_seconds),
        "hsts_directive": (
            '        add_header Strict-Transport-Security "max-age=31536000" always;'
            if s.hsts
            else ""
        ),
        "user_directive": f"user {s.user};" if s.user else "",
        "pid_file": s.pid_file,
        "error_log": s.error_log,
        "access_log": s.access_log,
        "temp_path_directives": temp_paths,
        "real_ip_directives": "\n".join(real_ip) or "    # No load balancer: no peer is trusted.",
        "load_balancer_networks": "\n".join(f"        {network} 1;" for network in networks)
        or "        # none",
        "console_proxy_location": "" if s.console_proxy else _CONSOLE_PROXY_BLOCK,
    }


# Dev Tools' console proxy forwards any method and path to the domain's REST API with the
# user's credentials. Matched on the normalised path, case-insensitively, so escaped or
# upper-case spellings are refused too.
_CONSOLE_PROXY_BLOCK = """\
        # Dev Tools' console proxy would make the REST API reachable through Dashboards
        # (ProxySettings.console_proxy turns it back on).
        location ~* ^/_dashboards/api/console(?:/|$) {
            return 404;
        }
"""


def _networks(name: str, values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        raise ValueError(f"{name} must be a list of CIDR strings, not one string")
    networks = []
    for value in values:
        try:
            networks.append(str(ipaddress.ip_network(str(value).strip(), strict=True)))
        except ValueError:
            raise ValueError(
                f"{name} entries must be networks such as 10.0.0.0/24, got {value!r}"
            ) from None
    return networks


def _resolver(value: str) -> str:
    servers = value.split()
    if not servers:
        raise ValueError("resolver must name at least one DNS server")
    rendered = []
    for server in servers:
        address, port = server, None
        bracketed = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?", server)
        if bracketed:
            address, port = bracketed.group(1), bracketed.group(2)
        elif server.count(":") == 1:
            address, port = server.split(":")
        ip = ipaddress.ip_address(_parse_ip(address, "resolver"))
        text = f"[{ip}]" if ip.version == 6 else str(ip)
        if port is not None:
            _check_port("resolver port", int(port))
            text += f":{port}"
        rendered.append(text)
    return " ".join(rendered)


def _ip(value: str, version: int) -> str:
    ip = ipaddress.ip_address(_parse_ip(value, f"IPv{version} listen address"))
    if ip.version != version:
        raise ValueError(f"expected an IPv{version} listen address, got {value!r}")
    return str(ip)


def _parse_ip(value: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{what} must be an IP address, got {value!r}") from None


def _check_port(name: str, value: int) -> None:
    _check_range(name, value, 1, 65535)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
