"""Requests an attacker (or a confused client) sends to the Dashboards proxy, as raw bytes.

Each probe says what must happen: either nothing reaches the upstream, or exactly one request
reaches it with exactly the given target. Independently of that, every request line the
upstream receives is judged by `inside_dashboards`, which interprets a target the way the most
lenient server might (decoding repeatedly, overlong UTF-8, backslashes as slashes, `;`
parameters dropped, dot segments resolved): a target counts as inside only if every reading
of it stays under `/_dashboards`.

    .venv/bin/python -m tests.proxy.probes

starts Debian's nginx with the rendered config in front of the recording TLS upstream, sends
every probe and prints "N probes, M reached the upstream outside /_dashboards".
"""

import contextlib
import posixpath
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_to_bytes

from tests.proxy.conftest import UPSTREAM_NAME
from tests.proxy.dns_stub import DnsStub
from tests.proxy.nginx_runner import RunningNginx, run_nginx
from tests.proxy.raw_http import exchange
from tests.proxy.tls_upstream import SeenRequest, TlsUpstream
from tests.support.pki import TestCA

HOST = b"dashboards.example.test"
HOME = b"/_dashboards/app/home"

# What every forwarded request must carry, whatever the client sent: the probes connect from
# 127.0.0.1, which is not a load balancer address, so the client's own claims are ignored.
FORWARDING_HEADERS: dict[str, list[str]] = {
    "host": [UPSTREAM_NAME],
    "x-forwarded-for": ["127.0.0.1"],
    "x-real-ip": ["127.0.0.1"],
    "x-forwarded-proto": ["http"],
    "x-forwarded-host": [HOST.decode()],
}
CLEARED_HEADERS = (
    "forwarded",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-client-ip",
    "true-client-ip",
    "x-proxy-user",
    "x-proxy-roles",
    "x_proxy_user",
    "x_proxy_roles",
)


@dataclass(frozen=True)
class Probe:
    family: str
    name: str
    data: bytes
    # The exact target the upstream must receive, or None: nothing may reach it.
    forwarded: bytes | None = None
    # Further header values the upstream must see for this probe (name -> all values).
    headers: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    probe: Probe
    statuses: list[int]
    seen: list[SeenRequest]
    lines: list[bytes]

    def problems(self) -> list[str]:
        """What went wrong for this probe; empty when it behaved as specified."""
        found = []
        targets = [_target(line) for line in self.lines]
        for target in targets:
            if not inside_dashboards(target):
                found.append(f"reached the upstream outside /_dashboards: {target!r}")
        expected = [] if self.probe.forwarded is None else [self.probe.forwarded]
        if targets != expected:
            found.append(f"upstream received {targets!r}, expected {expected!r}")
        # nginx's own answers only: 4xx/5xx, or its redirect of a path that normalises to "/".
        if self.probe.forwarded is None and any(200 <= s < 300 for s in self.statuses):
            found.append(f"refused probe answered {self.statuses}")
        for seen in self.seen:
            wanted = {**FORWARDING_HEADERS, **{name: [] for name in CLEARED_HEADERS}}
            wanted.update(self.probe.headers)
            for name, values in wanted.items():
                got = [v for k, v in seen.header_lines if k == name]
                if got != values:
                    found.append(f"upstream header {name}: {got!r}, expected {values!r}")
        return found


def _target(request_line: bytes) -> bytes:
    parts = request_line.rstrip(b"\r\n").split(b" ")
    return parts[1] if len(parts) >= 2 else request_line


_OVERLONG = {
    b"\xc0\xae": b".",
    b"\xe0\x80\xae": b".",
    b"\xf0\x80\x80\xae": b".",
    b"\xc0\xaf": b"/",
    b"\xe0\x80\xaf": b"/",
    b"\xf0\x80\x80\xaf": b"/",
    b"\xc1\x9c": b"\\",
    b"\xe0\x81\x9c": b"\\",
}


def _readings(target: bytes) -> Iterator[bytes]:
    """The paths different servers could read from `target` (before dot-segment removal).

    The raw "?" ends the path for everyone. Anything else is read every way: a "#" or a
    decoded "?" as a delimiter or as data, escapes decoded up to three times, overlong UTF-8
    as ASCII, backslashes as slashes, ";" parameters dropped.
    """
    path = target.split(b"?", 1)[0]
    for _depth in range(4):
        for candidate in (path, path.split(b"#", 1)[0], path.split(b"?", 1)[0]):
            yield candidate
            lenient = candidate
            for overlong, plain in _OVERLONG.items():
                lenient = lenient.replace(overlong, plain)
            lenient = lenient.replace(b"\\", b"/")
            yield re.sub(rb";[^/]*", b"", lenient)  # matrix parameters, Tomcat style
        path = unquote_to_bytes(path)


def inside_dashboards(target: bytes) -> bool:
    """True if every reading of `target` is `/_dashboards` or below it."""
    if not re.match(rb"^/_dashboards(?:[/?]|$)", target):
        return False
    for reading in _readings(target):
        path = reading.decode("latin-1")
        if not path.startswith("/"):
            return False
        normal = posixpath.normpath(re.sub("/+", "/", path))
        if normal != "/_dashboards" and not normal.startswith("/_dashboards/"):
            return False
    return True


def get(target: bytes, *headers: bytes, method: bytes = b"GET", close: bool = True) -> bytes:
    """A request with the given raw target and extra raw header lines."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + HOST, *headers]
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _refused(family: str, *targets: bytes) -> list[Probe]:
    return [Probe(family, t.decode("latin-1"), get(t)) for t in targets]


def _passed(family: str, *targets: bytes) -> list[Probe]:
    return [Probe(family, t.decode("latin-1"), get(t), forwarded=t) for t in targets]


ISSUE_EXAMPLES = _refused(
    "issue 17 examples",
    b"/_cat/../_dashboards/",
    b"//_dashboards/app/home",
    b"/_dashboards\\..\\_cat\\indices",
    b"/*,x%2f..%2f_dashboards/_search",
    b"/idx/_doc/..%2f..%2f_dashboards",
    b"/_plugins/_security/api/internalusers/..%2f..%2f_dashboards",
    b"/_dashboardsfoo",
    b"/_dashboards,*/_search",
)

LEGITIMATE = _passed(
    "Dashboards' own requests (forwarded byte for byte)",
    b"/_dashboards",
    b"/_dashboards/",
    b"/_dashboards?x=1",
    HOME,
    b"/_dashboards/api/saved_objects/_find?type=index-pattern&search=a%2Fb",
    b"/_dashboards/api/saved_objects/dashboard/spot-interruptions-overview",
    b"/_dashboards/internal/search/opensearch-with-long-numerals",
    b"/_dashboards/9007199254740991/bundles/plugin/data/data.plugin.js",
    b"/_dashboards/app/discover?_g=(filters:!(),time:(from:now-15m,to:now))&_a=(q:'x%20y')",
    b"/_dashboards/api/saved_objects/index-pattern/a%20b",
    b"/_dashboards/ui/favicons/favicon.png",
    b"/_dashboards/translations/en.json",
    b"/_dashboards/api/status?v8format=true",
    b"/_dashboards/a/.../b",
    b"/_dashboards/.well-known/x",
    b"/_dashboards/app/home?next=/../_cat/indices",
    b"/_dashboards?/../../_cat/indices",
)

DOT_SEGMENTS = _refused(
    "dot segments, raw",
    b"/_dashboards/../_cat/indices",
    b"/_dashboards/..",
    b"/_dashboards/../",
    b"/_dashboards/.",
    b"/_dashboards/./app/home",
    b"/_dashboards/app/../../_cat/indices",
    b"/_dashboards/app/..",
    b"/_dashboards/..?x=1",
    b"/_dashboards/app/./../../_search",
    b"/_dashboards/../_dashboards/app/home",
    b"/_dashboards/../../../../etc/passwd",
    b"/../_dashboards/app/home",
    b"/./_dashboards/app/home",
)

ENCODED = _refused(
    "dot segments and separators, %-encoded",
    b"/_dashboards/%2e%2e/_cat/indices",
    b"/_dashboards/%2E%2E/_cat/indices",
    b"/_dashboards/.%2e/_cat/indices",
    b"/_dashboards/%2e./_cat/indices",
    b"/_dashboards/%2e/app/home",
    b"/_dashboards/..%2f_cat/indices",
    b"/_dashboards/..%2F_cat%2Findices",
    b"/_dashboards/%2e%2e%2f_cat%2findices",
    b"/_dashboards%2f..%2f_cat/indices",
    b"/_dashboards%2F..%2F_search",
    b"/_dashboards/app%2f..%2f..%2f_cat",
    b"/_dashboards/..%5c_cat%5cindices",
    b"/_dashboards%5c..%5c_cat%5cindices",
    b"/_dashboards/%5c..%5c..%5c_search",
    b"/_dashboards/%2e%2e%5c_search",
    b"/%5f%64ashboards/app/home",
    b"/_dashboards/..%3b/_cat/indices",
    b"/_dashboards/app%3f/../../_cat",
    b"/_dashboards/app%23/../../_cat",
    b"/_dashboards/%00/../_cat",
    b"/_dashboards/%0d%0aX-Proxy-User:%20admin",
    b"/_dashboards/app%7f",
)

DOUBLE_ENCODED = _refused(
    "double encoding",
    b"/_dashboards/%252e%252e/_cat/indices",
    b"/_dashboards/%252e%252e%252f_cat%252findices",
    b"/_dashboards/..%252f_cat/indices",
    b"/_dashboards/..%255c_cat",
    b"/_dashboards%252f..%252f_search",
    b"/_dashboards/%25%32%65%25%32%65/_cat/indices",
    b"/_dashboards/%25252e%25252e/_cat",
    b"/_dashboards/%%32%65%%32%65/_cat",
    b"/_dashboards/%u002e%u002e/_cat",
)

OVERLONG_UTF8 = _refused(
    "overlong UTF-8 and non-ASCII bytes",
    b"/_dashboards/%c0%ae%c0%ae/_cat/indices",
    b"/_dashboards/..%c0%af_cat/indices",
    b"/_dashboards/%c0%ae%c0%ae%c0%af_search",
    b"/_dashboards/%e0%80%ae%e0%80%ae/_cat",
    b"/_dashboards/..%e0%80%af_search",
    b"/_dashboards/%f0%80%80%ae%f0%80%80%ae/_cat",
    b"/_dashboards/..%c1%9c_cat",
    b"/_dashboards/%c0%2e%c0%2e/_cat",
    b"/_dashboards/%ef%bc%8f..%ef%bc%8f_cat",
    b"/_dashboards/\xc0\xae\xc0\xae/_cat/indices",
    b"/_dashboards/..\xc0\xaf_cat",
    b"/_dashboards/\xef\xbc\x8e\xef\xbc\x8e/_cat",
)

BACKSLASHES = _refused(
    "backslashes",
    b"/_dashboards\\..\\_search",
    b"/_dashboards/..\\_cat\\indices",
    b"/_dashboards/app\\..\\..\\_cat",
    b"/_dashboards\\",
    b"\\_dashboards\\app\\home",
    b"/_dashboards/\\/_cat",
)

SEMICOLONS = _refused(
    "semicolons",
    b"/_dashboards;/../_cat/indices",
    b"/_dashboards/..;/_cat/indices",
    b"/_dashboards;foo/app/home",
    b"/_dashboards/app;jsessionid=1",
    b"/_cat/indices;/_dashboards",
    b"/_dashboards/.;/_search",
)

DOUBLE_SLASHES = _refused(
    "double slashes",
    b"///_dashboards/app/home",
    b"/_dashboards//_cat/indices",
    b"/_dashboards//../_cat",
    b"/_dashboards/app//home",
    b"/_dashboards//",
    b"//_dashboards",
    b"//evil.test/_dashboards/app/home",
)

PREFIX_LOOKALIKES = _refused(
    "prefix look-alikes",
    b"/_dashboards-x/_search",
    b"/_dashboards.kibana/_search",
    b"/_dashboards*/_search",
    b"/_dashboards%2c*/_search",
    b"/_dashboards%20/_search",
    b"/_dashboards%00",
    b"/_dashboards%2f",
    b"/_dashboards.",
    b"/_Dashboards/app/home",
    b"/_DASHBOARDS/",
    b"/_dashboards_/_search",
    b"/_dashboards#/../_cat/indices",
    b"/_dashboards\t/_search",
    b"/dashboards/app/home",
    b"/_cat/indices?x=/_dashboards/",
    b"/_search?q=_dashboards",
)

ABSOLUTE_FORM = [
    *_refused(
        "absolute-form targets",
        b"http://127.0.0.1/_cat/indices",
        b"http://dashboards.example.test/_search",
        b"http://evil.test/_dashboards/../_cat/indices",
        b"http://evil.test//_dashboards/app/home",
        b"http://evil.test/_dashboardsfoo",
        b"https://evil.test/_dashboards%2f..%2f_cat",
        b"http://evil.test@127.0.0.1/_cat/indices",
        b"http://evil.test:9200/_search",
        b"*",
        b"_dashboards/app/home",
        b"evil.test:443",
    ),
    Probe(
        "absolute-form targets",
        "absolute-form inside Dashboards goes upstream in origin form",
        get(b"http://evil.test/_dashboards/app/home"),
        forwarded=HOME,
        # The absolute-form authority replaces Host (RFC 9112 3.2.2): a client claim as
        # much as Host itself, and it never reaches the upstream's Host.
        headers={"x-forwarded-host": ["evil.test"]},
    ),
    Probe(
        "absolute-form targets",
        "CONNECT",
        get(b"vpc-spot-insights.proxy.test:443", method=b"CONNECT"),
    ),
    Probe(
        "absolute-form targets",
        "OPTIONS *",
        get(b"*", method=b"OPTIONS"),
    ),
]

_SMUGGLED = b"GET /_cat/indices HTTP/1.1\r\nHost: x\r\n\r\n"
_SMUGGLED_POST = (
    b"POST /_plugins/_security/api/internalusers/eve HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)


def _post(*headers: bytes, body: bytes, target: bytes = b"/_dashboards/api/x") -> bytes:
    lines = [b"POST " + target + b" HTTP/1.1", b"Host: " + HOST, *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


SMUGGLING = [
    Probe(
        "smuggling",
        "Content-Length and Transfer-Encoding",
        _post(b"Content-Length: 4", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n" + _SMUGGLED),
    ),
    Probe(
        "smuggling",
        "Transfer-Encoding then Content-Length",
        _post(b"Transfer-Encoding: chunked", b"Content-Length: 4", body=b"0\r\n\r\n" + _SMUGGLED),
    ),
    Probe(
        "smuggling",
        "duplicated Content-Length, different values",
        _post(b"Content-Length: 0", b"Content-Length: 40", body=_SMUGGLED),
    ),
    Probe(
        "smuggling",
        "duplicated Content-Length, same value",
        _post(b"Content-Length: 2", b"Content-Length: 2", body=b"{}" + _SMUGGLED),
    ),
    Probe(
        "smuggling",
        "Content-Length list",
        _post(b"Content-Length: 0, 40", body=_SMUGGLED),
    ),
    Probe("smuggling", "Content-Length with a sign", _post(b"Content-Length: +2", body=b"{}")),
    Probe(
        "smuggling",
        "Content-Length overflow",
        _post(b"Content-Length: 18446744073709551617", body=b"{}"),
    ),
    Probe(
        "smuggling",
        "Transfer-Encoding: xchunked",
        _post(b"Transfer-Encoding: xchunked", b"Content-Length: 4", body=b"0\r\n\r\n"),
    ),
    Probe(
        "smuggling",
        "Transfer-Encoding: chunked, identity",
        _post(b"Transfer-Encoding: chunked, identity", body=b"0\r\n\r\n" + _SMUGGLED),
    ),
    Probe(
        "smuggling",
        "Transfer-Encoding twice",
        _post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: identity", body=b"0\r\n\r\n"),
    ),
    Probe(
        "smuggling",
        "space before the colon",
        _post(b"Transfer-Encoding : chunked", b"Content-Length: 4", body=b"0\r\n\r\n"),
    ),
    Probe(
        "smuggling",
        "obsolete line folding",
        _post(b"X-Pad: a", b" Transfer-Encoding: chunked", b"Content-Length: 4", body=b"0\r\n\r\n"),
    ),
    Probe(
        "smuggling",
        "chunk size overflow",
        _post(
            b"Transfer-Encoding: chunked",
            body=b"10000000000000000\r\nx\r\n0\r\n\r\n",
        ),
    ),
    Probe(
        "smuggling",
        "chunked with a bare-LF line, then a pipelined REST request",
        _post(b"Transfer-Encoding: chunked", body=b"2\n{}\r\n0\r\n\r\n" + _SMUGGLED),
        forwarded=b"/_dashboards/api/x",
        headers={"content-length": ["2"], "transfer-encoding": []},
    ),
    Probe(
        "smuggling",
        "chunked on HTTP/1.0",
        b"POST /_dashboards/api/x HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 4\r\n\r\n0\r\n\r\n" + _SMUGGLED,
    ),
    # Valid framing with a request after the body: nginx reads it as a second request of its
    # own (and refuses it); upstream, the body is re-framed with its own Content-Length.
    Probe(
        "smuggling",
        "chunked body, then a pipelined REST request",
        _post(b"Transfer-Encoding: chunked", body=b"2\r\n{}\r\n0\r\n\r\n" + _SMUGGLED),
        forwarded=b"/_dashboards/api/x",
        headers={"content-length": ["2"], "transfer-encoding": []},
    ),
    Probe(
        "smuggling",
        "Content-Length body, then a pipelined security API write",
        _post(b"Content-Length: 2", body=b"{}" + _SMUGGLED_POST),
        forwarded=b"/_dashboards/api/x",
        headers={"content-length": ["2"]},
    ),
    Probe(
        "smuggling",
        "a request inside the body stays body",
        _post(b"Content-Length: %d" % len(_SMUGGLED), body=_SMUGGLED),
        forwarded=b"/_dashboards/api/x",
        headers={"content-length": [str(len(_SMUGGLED))]},
    ),
    Probe(
        "smuggling",
        "Expect: 100-continue with a request as body",
        _post(b"Expect: 100-continue", b"Content-Length: 0", body=_SMUGGLED),
        forwarded=b"/_dashboards/api/x",
        headers={"content-length": ["0"]},
    ),
    Probe(
        "smuggling",
        "HTTP/0.9 request line",
        b"GET /_cat/indices\r\n\r\n",
    ),
    Probe(
        "smuggling",
        "request line with bare LF and a second target",
        b"GET /_dashboards/app/home /_cat/indices HTTP/1.1\nHost: h\n\n",
    ),
]


def _headers(name: str, *lines: bytes, **expected: list[str]) -> Probe:
    return Probe(
        "header injection",
        name,
        get(HOME, *lines),
        forwarded=HOME,
        headers={k.replace("_", "-"): v for k, v in expected.items()},
    )


HEADER_INJECTION = [
    _headers("X-Forwarded-For from the client", b"X-Forwarded-For: 6.6.6.6"),
    _headers("X-Forwarded-For twice", b"X-Forwarded-For: 6.6.6.6", b"X-Forwarded-For: 7.7.7.7"),
    _headers("X-Real-IP from the client", b"X-Real-IP: 6.6.6.6"),
    _headers("X-Forwarded-Proto from the client", b"X-Forwarded-Proto: https"),
    _headers("X-Forwarded-Host from the client", b"X-Forwarded-Host: evil.test"),
    _headers("X-Forwarded-Port from the client", b"X-Forwarded-Port: 9200"),
    _headers("Forwarded from the client", b"Forwarded: for=6.6.6.6;host=evil.test;proto=https"),
    _headers("x-proxy-user and x-proxy-roles", b"x-proxy-user: admin", b"x-proxy-roles: admin"),
    _headers("X-Proxy-User, mixed case, twice", b"X-Proxy-User: admin", b"X-PROXY-USER: root"),
    _headers("x_proxy_user with underscores", b"x_proxy_user: admin", b"x_proxy_roles: admin"),
    _headers("X-Original-URL", b"X-Original-URL: /_cat/indices"),
    _headers("X-Rewrite-URL", b"X-Rewrite-URL: /_cat/indices"),
    _headers("X-Forwarded-Prefix", b"X-Forwarded-Prefix: /_cat"),
    _headers("X-HTTP-Method-Override", b"X-HTTP-Method-Override: DELETE"),
    _headers("True-Client-IP and X-Client-IP", b"True-Client-IP: 6.6.6.6", b"X-Client-IP: 6.6.6.6"),
    _headers("Host from the client", b"X-Pad: 1"),
    # A client naming headers in Connection asks a proxy to strip them as hop-by-hop: the
    # proxy's own forwarding headers must survive that.
    _headers(
        "Connection naming the forwarding headers",
        b"X-Forwarded-For: 6.6.6.6",
        b"Connection: keep-alive, X-Forwarded-For, X-Real-IP, X-Forwarded-Proto",
    ),
    _headers(
        "h2c upgrade",
        b"Upgrade: h2c",
        b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
        b"Connection: Upgrade, HTTP2-Settings",
        upgrade=[],
        connection=[],
    ),
    Probe("header injection", "Host twice", get(HOME, b"Host: evil.test")),
    Probe(
        "header injection", "CR inside a header value", get(HOME, b"X-A: a\rx-proxy-user: admin")
    ),
    Probe("header injection", "NUL inside a header value", get(HOME, b"X-A: a\x00b")),
    Probe("header injection", "header name with a space", get(HOME, b"X Proxy User: admin")),
    # nginx reads "GET /_dashboards/" as an HTTP/0.9 request: no headers at all, so no Host.
    Probe(
        "header injection",
        "CRLF in the target",
        get(b"/_dashboards/\r\nX-Proxy-User: admin"),
        forwarded=b"/_dashboards/",
        headers={"x-forwarded-host": ["_"]},
    ),
    Probe("header injection", "Host with a path", get(HOME).replace(HOST, b"evil.test/_cat")),
]

CONSOLE_PROXY = _refused(
    "Dev Tools console proxy (refused by default)",
    b"/_dashboards/api/console/proxy?path=_cat%2Findices&method=GET",
    b"/_dashboards/api/console/proxy?path=_plugins/_security/api/internalusers/eve&method=PUT",
    b"/_dashboards/api/console/proxy/",
    b"/_dashboards/API/Console/Proxy?path=_search&method=GET",
    b"/_dashboards/api/%63onsole/proxy?path=_search&method=GET",
    b"/_dashboards/api/console/api_server",
    b"/_dashboards/api/console",
)

PROBES: list[Probe] = [
    *ISSUE_EXAMPLES,
    *LEGITIMATE,
    *DOT_SEGMENTS,
    *ENCODED,
    *DOUBLE_ENCODED,
    *OVERLONG_UTF8,
    *BACKSLASHES,
    *SEMICOLONS,
    *DOUBLE_SLASHES,
    *PREFIX_LOOKALIKES,
    *ABSOLUTE_FORM,
    *SMUGGLING,
    *HEADER_INJECTION,
    *CONSOLE_PROXY,
]


def send(probe: Probe, port: int, upstream: TlsUpstream) -> Outcome:
    with upstream.lock:
        before_lines, before_seen = len(upstream.request_lines), len(upstream.requests)
    reply = exchange(port, probe.data)
    with upstream.lock:
        lines = upstream.request_lines[before_lines:]
        seen = upstream.requests[before_seen:]
    return Outcome(probe, reply.statuses, seen, lines)


def outside(lines: list[bytes]) -> list[bytes]:
    """The targets among `lines` (request lines the upstream received) outside Dashboards."""
    return [_target(line) for line in lines if not inside_dashboards(_target(line))]


def figure(count: int, outside_count: int) -> str:
    return f"{count} probes, {outside_count} reached the upstream outside /_dashboards"


@contextlib.contextmanager
def proxied_upstream(**settings: object) -> Iterator[tuple[RunningNginx, TlsUpstream]]:
    """The rendered config under Debian's nginx in front of the recording upstream."""
    directory = Path(tempfile.mkdtemp(prefix="spot-proxy-probes-"))
    try:
        ca = TestCA(directory, "probes")
        with (
            DnsStub({UPSTREAM_NAME: "127.0.0.1"}) as dns,
            TlsUpstream(
                UPSTREAM_NAME, ca.issue(UPSTREAM_NAME), label="probes", host="127.0.0.1"
            ) as upstream,
            run_nginx(
                upstream_host=UPSTREAM_NAME,
                upstream_port=upstream.port,
                resolver=dns.address,
                ca_file=str(ca.ca_file),
                **settings,
            ) as nginx,
        ):
            yield nginx, upstream
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    with proxied_upstream() as (nginx, upstream):
        outcomes = [send(probe, nginx.port, upstream) for probe in PROBES]
        all_lines = list(upstream.request_lines)
    failed = [o for o in outcomes if o.problems()]
    for outcome in failed:
        print(f"FAIL [{outcome.probe.family}] {outcome.probe.name!r}: {outcome.problems()}")
    forwarded = sum(1 for o in outcomes if o.lines)
    print(f"{len(outcomes) - forwarded} refused, {forwarded} forwarded as specified")
    print(figure(len(PROBES), len(outside(all_lines))))
    return 1 if failed or outside(all_lines) else 0


if __name__ == "__main__":
    sys.exit(main())
