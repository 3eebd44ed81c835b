"""A small HTTP client for the OpenSearch and Dashboards REST APIs with bounded retries.

The domain answers 502/503 or refuses connections for a while after CloudFormation reports it
created; the client retries those with capped exponential backoff, but never past a deadline
(the Lambda timeout minus a margin), so a failure reaches CloudFormation as a reason instead of
a timeout."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from lambda_src.provisioning.errors import ProvisioningError

# 429: throttled; 502/503/504: the domain or Dashboards is still starting behind its endpoint.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff; `deadline` is a time.monotonic() value no attempt may start after."""

    max_attempts: int = 10
    base_delay: float = 1.0
    max_delay: float = 20.0
    deadline: float | None = None

    def delay(self, attempt: int) -> float:
        """Full jitter: spreads retries of parallel deployments over the window."""
        cap = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(cap / 2, cap)


class HttpClient:
    """JSON over HTTPS with basic auth against one base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: tuple[str, str],
        verify: bool | str = True,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._session = session or requests.Session()
        self._session.auth = auth
        # Per request, not on the session: requests lets REQUESTS_CA_BUNDLE override a
        # session-level value, which would drop the private CA of local nodes.
        self._verify = verify
        self._sleep = sleep
        self._clock = clock

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        expected: Collection[int] = (200, 201),
    ) -> requests.Response:
        """Send with retries; a status outside `expected` raises a one-line ProvisioningError."""
        url = f"{self.base_url}{path}"
        what = f"{method} {path}"
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    json=json_body,
                    params=params,
                    headers=dict(headers or {}),
                    files=files,
                    timeout=self.timeout,
                    verify=self._verify,
                )
            except requests.exceptions.SSLError as exc:
                # A certificate problem does not heal by waiting.
                raise ProvisioningError(f"{what}: TLS verification failed: {exc}") from exc
            except requests.exceptions.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in expected:
                    return response
                if response.status_code not in RETRYABLE_STATUS:
                    raise ProvisioningError(
                        f"{what} -> HTTP {response.status_code}: {error_reason(response)}"
                    )
                last = f"HTTP {response.status_code}: {error_reason(response)}"
            self._wait_or_give_up(attempt, what, last)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ProvisioningError(
                f"{method} {path}: answer is not JSON: {response.text[:MAX_REASON_CHARS]}"
            ) from exc

    def _wait_or_give_up(self, attempt: int, what: str, last: str) -> None:
        delay = self.retry.delay(attempt)
        out_of_time = (
            self.retry.deadline is not None and self._clock() + delay > self.retry.deadline
        )
        if attempt >= self.retry.max_attempts or out_of_time:
            reason = "deadline reached" if out_of_time else "attempts exhausted"
            raise ProvisioningError(
                f"{what}: gave up after {attempt} attempt(s), {reason}; last error: "
                f"{last[:MAX_REASON_CHARS]}"
            )
        self._sleep(delay)


def error_reason(response: requests.Response) -> str:
    """The most useful short text of an OpenSearch/Dashboards error answer."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:MAX_REASON_CHARS] or response.reason
    reason: Any = body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            root = error.get("root_cause") or [{}]
            reason = error.get("reason") or root[0].get("reason") or error.get("type") or error
        else:
            reason = body.get("message") or error or body
    return str(reason)[:MAX_REASON_CHARS]
