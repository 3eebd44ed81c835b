"""EC2 lookups in each event's own account: the hub assumes the spoke account's read-only role.

One `InstanceDirectory` per account (EC2 clients per region, and AZ ids per region: the same AZ
name is a different AZ in another account). Credentials are cached per account and refreshed by
botocore before they expire (15 minutes ahead; a lookup never signs with expired ones). An
account whose role cannot be assumed (AccessDenied: no role there, or one that trusts another
principal) raises `NoAccess`, and is remembered for a while so that a storm from it does not
call STS once per batch; its events are indexed with `enrichment: missing`, reason `no_access`.
Any other STS failure (throttling, a timeout) is transient: the caller retries as it does for a
failed DescribeInstances.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials
from botocore.exceptions import ClientError

from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.instances import InstanceDirectory

SESSION_NAME = "spot-insights-ingest"
# What STS answers when the role does not exist or its trust policy does not admit the caller.
DENIED = frozenset({"AccessDenied", "AccessDeniedException"})


class NoAccess(Exception):
    """The account holds no enrichment role this function may assume."""


@dataclass(frozen=True)
class SpokeAccess:
    """Which role to assume in an event's account, and which account needs none."""

    role_name: str
    home_account: str | None = None
    session_seconds: int = 3600
    # How long an account that refused the role is not asked again.
    denied_seconds: float = 300.0

    @classmethod
    def from_config(cls, config: IngestConfig) -> SpokeAccess | None:
        """None when the deployment has no spokes (no spoke role name): every event is then
        looked up in the function's own account, as before hub and spokes."""
        if not config.spoke_role_name:
            return None
        return cls(config.spoke_role_name, config.home_account)


class _Fixed(CredentialProvider):
    METHOD = "spot-insights-assume-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials


class AccountDirectories:
    """The `InstanceDirectory` for an event's account: `home` for the function's own account
    (and for every account when `access` is None), an assumed-role one for any other."""

    def __init__(
        self,
        home: InstanceDirectory,
        access: SpokeAccess | None = None,
        *,
        directory_options: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.home = home
        self.access = access
        self._options = dict(directory_options or {})
        self._clock = clock
        self._directories: dict[str, InstanceDirectory] = {}
        self._denied: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._sts: Any = None
        self.assume_role_calls = 0

    def for_account(self, account: str) -> InstanceDirectory:
        """Raises NoAccess, or ClientError/BotoCoreError when STS fails for another reason."""
        access = self.access
        if access is None or account == access.home_account:
            return self.home
        with self._lock:
            known = self._directories.get(account)
            if known is not None:
                return known
            denied = self._denied.get(account)
            if denied and self._clock() - denied[0] < access.denied_seconds:
                raise NoAccess(denied[1])
        refresh = self._assume(account, access)
        try:
            metadata = refresh()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in DENIED:
                raise
            reason = f"cannot assume {access.role_name} in {account}: {exc}"
            with self._lock:
                self._denied[account] = (self._clock(), reason)
            raise NoAccess(reason) from exc
        credentials = RefreshableCredentials.create_from_metadata(
            metadata, refresh_using=refresh, method=_Fixed.METHOD
        )
        core = botocore.session.Session()
        core.register_component("credential_provider", CredentialResolver([_Fixed(credentials)]))
        # The home session's own class: a local run's session, which points every client at
        # its endpoint (moto), keeps doing so for the assumed role; deployed it is boto3's.
        session_class = type(self.home.session)
        session = session_class(botocore_session=core, region_name=self.home.session.region_name)
        directory = InstanceDirectory(session, **self._options)
        with self._lock:
            self._denied.pop(account, None)
            return self._directories.setdefault(account, directory)

    def _assume(self, account: str, access: SpokeAccess) -> Callable[[], dict[str, str]]:
        home = self.home.session
        partition = home.get_partition_for_region(home.region_name or "us-east-1")
        role_arn = f"arn:{partition}:iam::{account}:role/{access.role_name}"

        def refresh() -> dict[str, str]:
            with self._lock:
                if self._sts is None:
                    self._sts = home.client("sts")
                self.assume_role_calls += 1
            response = self._sts.assume_role(
                RoleArn=role_arn,
                RoleSessionName=SESSION_NAME,
                DurationSeconds=access.session_seconds,
            )
            credentials = response["Credentials"]
            return {
                "access_key": credentials["AccessKeyId"],
                "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"],
                "expiry_time": credentials["Expiration"].isoformat(),
            }

        return refresh
