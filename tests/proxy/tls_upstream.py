"""A small HTTPS server standing in for the OpenSearch domain behind the proxy.

It reports what it saw (path, Host, SNI, body size) as JSON so the tests can check what nginx
sent upstream, and answers `/_dashboards/status/<code>` with that status code. Every request
line that arrives is recorded before it is parsed (`request_lines`), so a request this server
would refuse as malformed still counts as having reached the upstream.
"""

import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.pki import IssuedCert


@dataclass
class SeenRequest:
    method: str
    path: str
    host: str | None
    sni: str | None
    body_length: int
    headers: dict[str, str] = field(default_factory=dict)
    # Every header line as received, repeats included, names lower-cased.
    header_lines: list[tuple[str, str]] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: "TlsUpstream"

    def finish_request(self, request: socket.socket, client_address: object) -> None:
        # The handshake runs in the request's own thread: a client that rejects our certificate
        # (the point of one test) must not stall the accept loop.
        holder: dict[str, str | None] = {"sni": None}

        def remember_sni(_sock: object, server_name: str | None, _ctx: object) -> None:
            holder["sni"] = server_name

        # Headers and body go out in separate writes; without this, Nagle plus delayed ACKs add
        # ~40 ms to every response and the benchmark would measure that instead of nginx.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = self.upstream.context_with_callback(remember_sni)
        try:
            tls = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.upstream.failed_handshakes += 1
            return
        tls.sni = holder["sni"]  # type: ignore[attr-defined]
        self.RequestHandlerClass(tls, client_address, self)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *_args: object) -> None:  # keep pytest output quiet
        pass

    def parse_request(self) -> bool:
        upstream = self.server.upstream
        with upstream.lock:
            upstream.request_lines.append(self.raw_requestline)
        return super().parse_request()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
        seen = SeenRequest(
            method=self.command,
            path=self.path,
            host=self.headers.get("Host"),
            sni=getattr(self.connection, "sni", None),
            body_length=length - remaining,
            headers={k.lower(): v for k, v in self.headers.items()},
            header_lines=[(k.lower(), v) for k, v in self.headers.items()],
        )
        upstream = self.server.upstream
        with upstream.lock:
            upstream.requests.append(seen)
        status = 200
        extra: dict[str, str] = {}
        if self.path.startswith("/_dashboards/status/"):
            status = int(self.path.rsplit("/", 1)[1])
        elif self.path == "/_dashboards/moved":
            status = 302
            extra["Location"] = f"https://{upstream.name}/_dashboards/app/home"
        body = json.dumps(
            {"upstream": upstream.label, "path": seen.path, "host": seen.host, "sni": seen.sni}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        # Headers the proxy must replace with its own single copy.
        self.send_header("X-Frame-Options", "DENY")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _handle


class TlsUpstream:
    """HTTPS on (host, port) with a certificate for `name`; use as a context manager."""

    def __init__(self, name: str, cert: IssuedCert, label: str, host: str, port: int = 0) -> None:
        self.name = name
        self.label = label
        self._cert = cert
        self.lock = threading.Lock()
        self.requests: list[SeenRequest] = []
        self.request_lines: list[bytes] = []
        self.failed_handshakes = 0
        self._server = _Server((host, port), _Handler)
        self._server.upstream = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def context_with_callback(self, callback: object) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._cert.cert_file, self._cert.key_file)
        context.sni_callback = callback  # type: ignore[assignment]
        return context

    def __enter__(self) -> "TlsUpstream":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
