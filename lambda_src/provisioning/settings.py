"""What the custom resource was asked to provision, parsed from its CloudFormation properties.

CloudFormation hands every property over as a string (numbers and booleans too), so each one
is parsed and checked here, and a bad value fails the deployment with the property's name."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from lambda_src.contract import (
    DEFAULT_INDEX_PREFIX,
    INDEX_PREFIX_FORM,
    index_pattern,
    validate_index_prefix,
    write_alias,
)
from lambda_src.provisioning.errors import ProvisioningError

_AGE = re.compile(r"^[1-9][0-9]*[dh]$")
_SIZE = re.compile(r"^[1-9][0-9]*(mb|gb)$")


class IsmMode(StrEnum):
    """What to do when the Index State Management plugin is missing.

    The managed service always ships it, so `required` (the default) makes its absence a
    deployment failure; `skip-if-unavailable` exists for plugin-less local nodes and logs a
    warning (the index lifecycle is then not managed)."""

    REQUIRED = "required"
    SKIP_IF_UNAVAILABLE = "skip-if-unavailable"


@dataclass(frozen=True)
class ProvisioningSettings:
    endpoint: str
    master_secret_arn: str
    index_prefix: str = DEFAULT_INDEX_PREFIX
    shards: int = 1
    replicas: int = 1
    retention_days: int = 365
    rollover_age: str = "30d"
    rollover_size: str = "20gb"
    writer_backend_roles: tuple[str, ...] = ()
    # Roles that write the fleet exposure family (the sampler), and nothing else.
    exposure_writer_backend_roles: tuple[str, ...] = ()
    reader_backend_roles: tuple[str, ...] = ()
    reader_user_secret_arns: tuple[str, ...] = ()
    ism_mode: IsmMode = IsmMode.REQUIRED
    dashboards_url: str = ""
    import_saved_objects: bool = True

    @property
    def write_alias(self) -> str:
        return write_alias(self.index_prefix)

    @property
    def index_pattern(self) -> str:
        return index_pattern(self.index_prefix)

    @property
    def first_index(self) -> str:
        return f"{self.index_prefix}-000001"

    @property
    def ism_policy_id(self) -> str:
        return f"{self.index_prefix}-lifecycle"

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> ProvisioningSettings:
        endpoint = _url(props, "Endpoint")
        prefix = str(props.get("IndexPrefix") or DEFAULT_INDEX_PREFIX)
        try:
            validate_index_prefix(prefix)
        except ValueError:
            raise ProvisioningError(f"IndexPrefix {prefix!r} is not {INDEX_PREFIX_FORM}") from None
        secret = str(props.get("MasterSecretArn") or "")
        if not secret:
            raise ProvisioningError("MasterSecretArn is required")
        return cls(
            endpoint=endpoint,
            master_secret_arn=secret,
            index_prefix=prefix,
            shards=_int(props, "Shards", 1, minimum=1),
            replicas=_int(props, "Replicas", 1, minimum=0),
            retention_days=_int(props, "RetentionDays", 365, minimum=1),
            rollover_age=_match(props, "RolloverAge", "30d", _AGE, "like '30d' or '12h'"),
            rollover_size=_match(props, "RolloverSize", "20gb", _SIZE, "like '20gb' or '500mb'"),
            writer_backend_roles=_strings(props, "WriterBackendRoles"),
            exposure_writer_backend_roles=_strings(props, "ExposureWriterBackendRoles"),
            reader_backend_roles=_strings(props, "ReaderBackendRoles"),
            reader_user_secret_arns=_strings(props, "ReaderUserSecretArns"),
            ism_mode=_ism_mode(props),
            dashboards_url=(_url(props, "DashboardsUrl") if props.get("DashboardsUrl") else "")
            or f"{endpoint}/_dashboards",
            import_saved_objects=_bool(props, "ImportSavedObjects", default=True),
        )


def _url(props: Mapping[str, Any], key: str) -> str:
    value = str(props.get(key) or "").rstrip("/")
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.netloc:
        raise ProvisioningError(f"{key} must be an https:// URL, got {value!r}")
    return value


def _int(props: Mapping[str, Any], key: str, default: int, *, minimum: int) -> int:
    raw = props.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise ProvisioningError(f"{key} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ProvisioningError(f"{key} must be >= {minimum}, got {value}")
    return value


def _match(
    props: Mapping[str, Any], key: str, default: str, pattern: re.Pattern[str], hint: str
) -> str:
    value = str(props.get(key) or default)
    if not pattern.match(value):
        raise ProvisioningError(f"{key} must be {hint}, got {value!r}")
    return value


def _strings(props: Mapping[str, Any], key: str) -> tuple[str, ...]:
    raw = props.get(key) or ()
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise ProvisioningError(f"{key} must be a list of strings, got {raw!r}")
    values = tuple(str(item) for item in raw)
    if any(not item for item in values):
        raise ProvisioningError(f"{key} must not contain empty strings")
    return values


def _bool(props: Mapping[str, Any], key: str, *, default: bool) -> bool:
    raw = props.get(key)
    if raw is None or raw == "":
        return default
    text = str(raw).lower()
    if text not in {"true", "false"}:
        raise ProvisioningError(f"{key} must be true or false, got {raw!r}")
    return text == "true"


def _ism_mode(props: Mapping[str, Any]) -> IsmMode:
    raw = str(props.get("IsmMode") or IsmMode.REQUIRED.value)
    try:
        return IsmMode(raw)
    except ValueError:
        allowed = ", ".join(mode.value for mode in IsmMode)
        raise ProvisioningError(f"IsmMode must be one of {allowed}, got {raw!r}") from None
