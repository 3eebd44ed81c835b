"""A local HTTP(S) server that records every request and answers from a script.

Stands in for OpenSearch Dashboards (absent locally) and for the ISM API (no plugin locally),
so the provisioner's real HTTP requests can be inspected: method, path, query, headers, body."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def multipart(self) -> dict[str, Part]:
        """The parts of a multipart/form-data body by field name, parsed by the stdlib."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=default).parsebytes(head + self.body)
        if not message.is_multipart():
            raise AssertionError(f"not a multipart body: {self.headers['content-type']}")
        parts: dict[str, Part] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            parts[str(name)] = Part(
                filename=part.get_filename(),
                content_type=part.get_content_type(),
                data=part.get_payload(decode=True),
            )
        return parts


@dataclass(frozen=True)
class Part:
    filename: str | None
    content_type: str
    data: bytes


Answer = tuple[int, Any]
Responder = Callable[[Recorded], Answer]


@dataclass
class RecordingServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)


def scripted(*answers: Answer) -> Responder:
    """Answer in order; the last answer repeats once the script runs out."""
    queue = list(answers)

    def respond(_request: Recorded) -> Answer:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


@contextmanager
def recording_server(
    respond: Responder, *, tls: ssl.SSLContext | None = None
) -> Iterator[RecordingServer]:
    state = RecordingServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            state.requests.append(request)
            status, body = respond(request)
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    state.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
