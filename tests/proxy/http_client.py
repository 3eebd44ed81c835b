"""Plain HTTP requests to the test nginx, without following redirects."""

import http.client
import json
from dataclasses import dataclass
from email.message import Message
from typing import Any


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    host: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
) -> Reply:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.msg, response.read())
    finally:
        conn.close()


def announce_body(port: int, path: str, length: int) -> Reply:
    """Send only the headers of a request whose body would be `length` bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/ndjson")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        response = conn.getresponse()
        return Reply(response.status, response.msg, response.read())
    finally:
        conn.close()
