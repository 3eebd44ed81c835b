"""A real HTTP server in front of the real OpenSearch node that can fail on purpose.

It forwards requests (plain HTTP in, verified TLS out) and can, per test: answer every request
with a status (429, 503...), fail the n-th request, drop the connection, hang past the client's
timeout, or reject chosen documents inside a `_bulk` with a per-item 429, as a node under
indexing pressure does. It also counts requests, which the benchmark reports."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import requests

from tests.support.loopback import LoopbackServer

_HOP_HEADERS = {
    "authorization",
    "host",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
}


@dataclass
class Faults:
    status_for_all: int | None = None
    status_for_request: dict[int, int] = field(default_factory=dict)  # n-th request (1-based)
    throttle_ids: set[str] = field(default_factory=set)
    hang_seconds: float = 0
    drop_connection: bool = False


class FaultProxy(LoopbackServer):
    def __init__(self, upstream: str, auth: tuple[str, str], ca_certs: str | None) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.bulk_bodies: list[int] = []
        self.bulk_ids: list[str] = []  # every `_id` sent in a `_bulk`, in order
        self._count = 0
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.auth = auth
        self._session.verify = ca_certs or True
        self._session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
        super().__init__(self._handler_class())

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy._serve(self)

            do_POST = do_PUT = do_HEAD = do_DELETE = do_GET

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if handler.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        path = handler.path.split("?")[0]
        with self._lock:
            self._count += 1
            number = self._count
            self.requests[f"{handler.command} {path.rsplit('/', 1)[-1] or '/'}"] += 1
            if path.endswith("/_bulk"):
                self.bulk_bodies.append(len(body))
                self.bulk_ids.extend(_bulk_ids(body))
        faults = self.faults
        if faults.drop_connection:
            handler.close_connection = True
            handler.connection.close()
            return
        if faults.hang_seconds:
            time.sleep(faults.hang_seconds)
        status = faults.status_for_request.get(number) or faults.status_for_all
        if status:
            self._reply(handler, status, {"error": {"type": "injected", "reason": "fault proxy"}})
            return
        throttled: list[int] = []
        if path.endswith("/_bulk") and faults.throttle_ids:
            body, throttled = _drop_throttled(body, faults.throttle_ids)
            if not body:
                self._reply(handler, 200, _merge_throttled({"items": []}, throttled))
                return
        upstream = self._session.request(
            handler.command,
            self.upstream + handler.path,
            data=body or None,
            headers={k: v for k, v in handler.headers.items() if k.lower() not in _HOP_HEADERS},
            timeout=60,
        )
        if path.endswith("/_bulk") and throttled:
            self._reply(handler, upstream.status_code, _merge_throttled(upstream.json(), throttled))
            return
        handler.send_response(upstream.status_code)
        handler.send_header(
            "Content-Type", upstream.headers.get("Content-Type", "application/json")
        )
        handler.send_header("Content-Length", str(len(upstream.content)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(upstream.content)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _bulk_ids(body: bytes) -> list[str]:
    lines = body.decode().splitlines()
    return [next(iter(json.loads(line).values()))["_id"] for line in lines[0::2]]


def _drop_throttled(body: bytes, ids: set[str]) -> tuple[bytes, list[int]]:
    lines = body.decode().splitlines()
    kept: list[str] = []
    throttled: list[int] = []
    for position, start in enumerate(range(0, len(lines), 2)):
        action, source = lines[start], lines[start + 1]
        if next(iter(json.loads(action).values()))["_id"] in ids:  # index or update
            throttled.append(position)
        else:
            kept.extend((action, source))
    return ("\n".join(kept) + "\n").encode() if kept else b"", throttled


def _merge_throttled(response: dict[str, Any], throttled: list[int]) -> dict[str, Any]:
    upstream_items = iter(response.get("items", []))
    total = len(response.get("items", [])) + len(throttled)
    items = []
    for position in range(total):
        if position in throttled:
            items.append(
                {
                    "index": {
                        "status": 429,
                        "error": {
                            "type": "es_rejected_execution_exception",
                            "reason": "rejected execution (injected)",
                        },
                    }
                }
            )
        else:
            items.append(next(upstream_items))
    return {"took": response.get("took", 0), "errors": True, "items": items}
