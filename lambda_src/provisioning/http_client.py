"""A small HTTP client for the OpenSearch and Dashboards REST APIs with bounded retries.

The domain answers 502/503 or refuses connections for a while after CloudFormation reports it
created, and 401/403 while fine-grained access control initialises its security index. The
client retries those with capped, jittered exponential backoff for as long as the deadline (the
Lambda's remaining time minus a margin) allows, so a slow domain gets all the time the
invocation has, and a failure still reaches CloudFormation as a reason instead of a timeout."""

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
# Refusals that are transient only while fine-grained access control initialises; retried for
# RetryPolicy.auth_grace seconds, after which they are the real answer (a wrong role mapping).
AUTH_STATUS = frozenset({401, 403})
MAX_REASON_CHARS = 300
# A request never waits on the network for less than this, even right before the deadline.
MIN_REQUEST_TIMEOUT = 1.0

# Says why a 2xx answer is not good enough yet (e.g. Dashboards status red), or None when it is.
Readiness = Callable[[requests.Response], str | None]


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff and its bounds.

    `deadline` (a time.monotonic() value) governs: no wait ends after it, so on Lambda the
    retries last as long as the invocation can afford. `max_attempts` bounds callers without a
    deadline (local runs); None leaves the deadline alone in charge. `auth_grace` is how long a
    request keeps retrying 401/403, counted from its first such answer (0: not retried)."""

    max_attempts: int | None = 10
    base_delay: float = 1.0
    max_delay: float = 20.0
    deadline: float | None = None
    auth_grace: float = 0.0

    def __post_init__(self) -> None:
        if self.max_attempts is None and self.deadline is None:
            raise ValueError("RetryPolicy needs max_attempts or a deadline, or it never ends")

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
        ready: Readiness | None = None,
    ) -> requests.Response:
        """Send with retries; a status outside `expected` raises a one-line ProvisioningError.

        With `ready`, an expected answer it finds wanting is retried like a 503."""
        url = f"{self.base_url}{path}"
        what = f"{method} {path}"
        attempt = 0
        refused_since: float | None = None
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
                    timeout=self._request_timeout(what),
                    verify=self._verify,
                )
            except requests.exceptions.SSLError as exc:
                # A certificate problem does not heal by waiting.
                raise ProvisioningError(f"{what}: TLS verification failed: {exc}") from exc
            except requests.exceptions.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status in expected:
                    not_ready = ready(response) if ready else None
                    if not_ready is None:
                        return response
                    last = not_ready
                elif status in AUTH_STATUS:
                    refused_since = self._clock() if refused_since is None else refused_since
                    if self._clock() - refused_since >= self.retry.auth_grace:
                        grace = self.retry.auth_grace
                        still = f" (still after {grace:.0f} s)" if grace else ""
                        raise ProvisioningError(
                            f"{what} -> HTTP {status}{still}: {error_reason(response)}"
                        )
                    last = f"HTTP {status}: {error_reason(response)}"
                elif status in RETRYABLE_STATUS:
                    last = f"HTTP {status}: {error_reason(response)}"
                else:
                    raise ProvisioningError(f"{what} -> HTTP {status}: {error_reason(response)}")
            self._wait_or_give_up(attempt, what, last)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ProvisioningError(
                f"{method} {path}: answer is not JSON: {response.text[:MAX_REASON_CHARS]}"
            ) from exc

    def _request_timeout(self, what: str) -> float:
        """The socket timeout, shortened so a hanging request cannot outlive the deadline."""
        if self.retry.deadline is None:
            return self.timeout
        left = self.retry.deadline - self._clock()
        if left <= 0:
            raise ProvisioningError(f"{what}: deadline reached before the request was sent")
        return max(MIN_REQUEST_TIMEOUT, min(self.timeout, left))

    def _wait_or_give_up(self, attempt: int, what: str, last: str) -> None:
        delay = self.retry.delay(attempt)
        out_of_time = (
            self.retry.deadline is not None and self._clock() + delay > self.retry.deadline
        )
        exhausted = self.retry.max_attempts is not None and attempt >= self.retry.max_attempts
        if exhausted or out_of_time:
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
