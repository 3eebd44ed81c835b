"""Retries while the domain comes up are bounded by attempts and by the deadline."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.http_client import HttpClient, RetryPolicy
from tests.domain.recording_server import recording_server, scripted
from tests.support.ports import free_port


def test_refused_connections_then_an_answer() -> None:
    """Nothing listens at first (connection refused); the server comes up during backoff."""
    port = free_port()
    client = HttpClient(
        f"http://127.0.0.1:{port}",
        auth=("u", "p"),
        retry=RetryPolicy(max_attempts=40, base_delay=0.05, max_delay=0.1),
    )
    started = threading.Event()

    def late_server() -> None:
        time.sleep(0.3)
        listener = socket.create_server(("127.0.0.1", port))
        started.set()
        conn, _ = listener.accept()
        conn.recv(65536)
        body = b'{"status":"green"}'
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        conn.close()
        listener.close()

    thread = threading.Thread(target=late_server, daemon=True)
    thread.start()
    assert client.json("GET", "/_cluster/health") == {"status": "green"}
    assert started.is_set()
    thread.join(5)


def test_503_then_200_is_retried_with_growing_delays() -> None:
    sleeps: list[float] = []
    script = scripted((503, {"message": "starting"}), (502, "bad gateway"), (200, {"ok": True}))
    with recording_server(script) as server:
        client = HttpClient(
            server.url,
            auth=("u", "p"),
            retry=RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0),
            sleep=sleeps.append,
        )
        assert client.json("GET", "/") == {"ok": True}
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0
    assert 1.0 <= sleeps[1] <= 2.0


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    sleeps: list[float] = []
    with recording_server(scripted((503, {"message": "still starting"}))) as server:
        client = HttpClient(
            server.url,
            auth=("u", "p"),
            retry=RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=2.0),
            sleep=sleeps.append,
        )
        with pytest.raises(ProvisioningError) as info:
            client.request("GET", "/_cluster/health")
    assert len(server.requests) == 4
    assert max(sleeps) <= 2.0
    reason = str(info.value)
    assert "gave up after 4 attempt(s), attempts exhausted" in reason
    assert "HTTP 503: still starting" in reason


def test_deadline_stops_retrying_before_attempts_run_out() -> None:
    now = [100.0]
    with recording_server(scripted((503, {"message": "starting"}))) as server:
        client = HttpClient(
            server.url,
            auth=("u", "p"),
            retry=RetryPolicy(max_attempts=100, base_delay=10.0, max_delay=10.0, deadline=125.0),
            sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
            clock=lambda: now[0],
        )
        with pytest.raises(ProvisioningError, match="deadline reached"):
            client.request("GET", "/")
    # Waits of 5-10 s (jittered, capped) inside a 25 s budget, never sleeping past it.
    assert 3 <= len(server.requests) <= 6
    assert now[0] <= 125.0


def test_client_errors_are_not_retried() -> None:
    body = {
        "error": {
            "root_cause": [{"type": "x", "reason": "no permissions"}],
            "type": "security_exception",
            "reason": "no permissions for [indices:admin/create]",
        },
        "status": 403,
    }
    with recording_server(scripted((403, body))) as server:
        client = HttpClient(server.url, auth=("u", "p"), retry=RetryPolicy(base_delay=0.01))
        with pytest.raises(
            ProvisioningError,
            match=r"PUT /x -> HTTP 403: no permissions for \[indices:admin/create\]",
        ):
            client.request("PUT", "/x", json_body={})
    assert len(server.requests) == 1


def _fake_time() -> tuple[list[float], dict[str, object]]:
    now = [100.0]
    return now, {
        "sleep": lambda seconds: now.__setitem__(0, now[0] + seconds),
        "clock": lambda: now[0],
    }


def test_auth_refusals_are_retried_only_within_the_grace_period() -> None:
    """401/403 while fine-grained access control initialises; still refused after the grace
    period means the credentials or mapping are wrong, and that is said at once."""
    now, fake = _fake_time()
    refused = {"error": {"type": "security_exception", "reason": "no permissions"}}
    with recording_server(scripted((401, "Unauthorized"), (403, refused))) as server:
        client = HttpClient(
            server.url,
            auth=("u", "p"),
            retry=RetryPolicy(max_attempts=None, max_delay=5.0, deadline=1000.0, auth_grace=60.0),
            **fake,  # type: ignore[arg-type]
        )
        with pytest.raises(ProvisioningError) as info:
            client.request("GET", "/_cluster/health")
    assert str(info.value).startswith("GET /_cluster/health -> HTTP 403 (still after 60 s)")
    assert len(server.requests) > 10
    assert 160.0 <= now[0] < 1000.0  # gave up at the grace period, long before the deadline


def test_requests_never_wait_on_the_network_past_the_deadline() -> None:
    timeouts: list[float] = []

    class Session:
        auth: object = None

        def request(self, *_args: object, timeout: float, **_kwargs: object) -> object:
            timeouts.append(timeout)
            raise requests.exceptions.ConnectTimeout("slow")

    _now, fake = _fake_time()
    client = HttpClient(
        "https://search.example",
        auth=("u", "p"),
        retry=RetryPolicy(max_attempts=None, base_delay=4.0, max_delay=4.0, deadline=110.0),
        timeout=60.0,
        session=Session(),  # type: ignore[arg-type]
        **fake,  # type: ignore[arg-type]
    )
    with pytest.raises(ProvisioningError, match="deadline reached"):
        client.request("GET", "/")
    assert timeouts[0] == 10.0  # not the usual 60 s: only 10 s are left
    assert all(t <= 10.0 for t in timeouts)


def test_a_policy_without_any_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts or a deadline"):
        RetryPolicy(max_attempts=None)
