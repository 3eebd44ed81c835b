"""Deployment settings, read once from CDK context and validated before any construct is built.

Values come from `cdk.json` or `-c key=value` (always strings on the command line), so every
parser accepts both the JSON type and its string form. A bad value raises `SettingsError`, whose
message is one line naming the key and the expected form.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The one module outside the standard library this file may import: spot_cli's preflight loads
# this file on its own, without the CDK (the contract imports neither aws_cdk nor boto3).
from lambda_src.contract import (
    DEFAULT_BURST_THRESHOLD,
    DEFAULT_BURST_WINDOW_MINUTES,
    DEFAULT_INDEX_PREFIX,
    INDEX_PREFIX_FORM,
    validate_index_prefix,
)

PROFILES = ("small", "production")


class SettingsError(ValueError):
    """A context value that does not fit; str() is the one-line message for `cdk synth`."""

    def __init__(self, key: str, expected: str, got: object) -> None:
        super().__init__(f"context key '{key}': expected {expected}, got {got!r}")
        self.key = key


@dataclass(frozen=True)
class Settings:
    """What a deployment can change. Defaults are the ones documented in the README."""

    vpc_id: str | None = None
    """An existing VPC to deploy into; None creates a new one."""
    allowed_cidrs: tuple[str, ...] = ()
    """Networks (IPv4 or IPv6, any prefix length) admitted to the Dashboards load balancer."""
    certificate_arn: str | None = None
    """ACM certificate for the HTTPS listener; None: no load balancer, Session Manager only."""
    internet_facing: bool = True
    """Whether the load balancer (when there is one) is internet-facing or internal."""
    organization_id: str | None = None
    """Hub: every account of this organisation may forward Spot events to the hub bus."""
    source_accounts: tuple[str, ...] = ()
    """Hub: these accounts may forward Spot events to the hub bus."""
    hub_account: str | None = None
    """Spokes: the hub's account; with it the app also synthesizes the spoke stack."""
    hub_region: str | None = None
    """Spokes: the hub's region (its bus and its ingest role's name)."""
    spoke_organizational_units: tuple[str, ...] = ()
    """Spokes: OUs (or the root) the spoke StackSet deploys to; with it the StackSet stack."""
    spoke_regions: tuple[str, ...] = ()
    """Spokes: regions of the StackSet; the first one holds each account's enrichment role."""
    stack_set_call_as: str = "SELF"
    """Spokes: SELF (management account) or DELEGATED_ADMIN (a delegated StackSets admin)."""
    profile: str = "small"
    """Domain sizing: `small` (one node, one AZ) or `production` (multi-AZ, dedicated masters)."""
    retention_days: int = 365
    """Days an interruption document is kept before the retention policy deletes its index."""
    alarm_email: str | None = None
    """Address subscribed to the alarm topic; None leaves the topic without subscribers."""
    index_prefix: str = DEFAULT_INDEX_PREFIX
    """Prefix of the indices, the write alias (`<prefix>-write`) and the index pattern."""
    reader_users: tuple[str, ...] = ()
    """Internal read-only Dashboards users; their passwords are generated in Secrets Manager."""
    simulation_rule: bool = False
    """Also capture `spot-insights simulate` events (source `contract.SIMULATION_SOURCE`)."""
    exposure_interval_minutes: int = 10
    """Minutes between the fleet exposure sampler's ticks (1-1440; the rates' denominator)."""
    burst_threshold: int = DEFAULT_BURST_THRESHOLD
    """Burst alerts: warnings in one AZ ID or capacity group within the window that fire."""
    burst_window_minutes: int = DEFAULT_BURST_WINDOW_MINUTES
    """Burst alerts: the window, in whole minutes."""


def _text(pattern: str, expected: str) -> Callable[[str, Any], str]:
    regex = re.compile(pattern)

    def parse(key: str, value: Any) -> str:
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise SettingsError(key, expected, value)
        return value

    return parse


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class HostBitsSet(ValueError):
    """A CIDR whose address has host bits set; `network` is the network it lies in."""

    def __init__(self, text: str, network: Network) -> None:
        super().__init__(f"{text!r} has host bits set (the network is {network})")
        self.network = network


def parse_network(text: str) -> Network:
    """One IPv4 or IPv6 network in CIDR form, any prefix length, host bits zero (the one CIDR
    rule: context `allowedCidrs` and DashboardProxy's `allowed_cidrs` both use it)."""
    text = text.strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not an IPv4 or IPv6 network in CIDR form") from exc
        raise HostBitsSet(text, loose) from exc


def _cidrs(key: str, value: Any) -> tuple[str, ...]:
    expected = (
        'a list of CIDRs such as ["203.0.113.0/24", "2001:db8::/48"] or a comma-separated string'
    )
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise SettingsError(key, expected, value) from exc
        else:
            value = [part.strip() for part in stripped.split(",") if part.strip()]
    if not isinstance(value, list):
        raise SettingsError(key, expected, value)
    networks: list[str] = []
    for item in value:
        try:
            networks.append(str(parse_network(str(item))))
        except HostBitsSet as exc:
            expected_network = f"a network address with host bits zero ({exc.network})"
            raise SettingsError(key, expected_network, item) from exc
        except ValueError as exc:
            raise SettingsError(key, expected, item) from exc
    return tuple(dict.fromkeys(networks))


def _listed(pattern: str, items: str) -> Callable[[str, Any], tuple[str, ...]]:
    """A list of `items` matching `pattern`: a JSON list, or a JSON list or comma-separated
    string (the command line's form); duplicates dropped, order kept."""
    regex = re.compile(pattern)
    expected = f"a list of {items} or a comma-separated string"

    def parse(key: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise SettingsError(key, expected, value) from exc
        elif isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise SettingsError(key, expected, value)
        for item in value:
            if not isinstance(item, str) or not regex.fullmatch(item):
                raise SettingsError(key, expected, item)
        return tuple(dict.fromkeys(value))

    return parse


_names = _listed(
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "user names (letters, digits, '.', '_', '-'; max 64)"
)
# AWS's own forms: 12-digit accounts, o-/ou-/r- ids (Organizations API patterns), region names.
_ACCOUNT = r"\d{12}"
_REGION = r"[a-z]{2,5}(?:-[a-z]+)+-\d{1,2}"
_ACCOUNTS = "12-digit account ids such as 111122223333"


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise SettingsError(key, "true or false", value)


def _retention(key: str, value: Any) -> int:
    expected = "a whole number of days >= 1"
    if isinstance(value, bool):
        raise SettingsError(key, expected, value)
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        value = int(value)
    if not isinstance(value, int) or value < 1:
        raise SettingsError(key, expected, value)
    return value


def _whole(low: int, high: int, unit: str) -> Callable[[str, Any], int]:
    expected = f"a whole number of {unit} from {low} to {high}"

    def parse(key: str, value: Any) -> int:
        # [0-9], not str.isdigit: that accepts '²', which int() then refuses with a traceback.
        number = (
            int(value)
            if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip())
            else value
        )
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            raise SettingsError(key, expected, value)
        return number

    return parse


def _index_prefix(key: str, value: Any) -> str:
    try:
        return validate_index_prefix(value)
    except ValueError as exc:
        raise SettingsError(key, INDEX_PREFIX_FORM, value) from exc


def _profile(key: str, value: Any) -> str:
    if value not in PROFILES:
        raise SettingsError(key, " or ".join(PROFILES), value)
    return value


_PARSERS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "vpcId": (
        "vpc_id",
        _text(r"vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?", "a VPC id such as vpc-0abc12345def67890"),
    ),
    "allowedCidrs": ("allowed_cidrs", _cidrs),
    "certificateArn": (
        "certificate_arn",
        _text(
            r"arn:aws(?:-[a-z]+)*:acm:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:certificate/[0-9a-f-]{36}",
            "an ACM certificate ARN such as arn:aws:acm:us-east-1:123456789012:certificate/<uuid>",
        ),
    ),
    "internetFacing": ("internet_facing", _bool),
    "profile": ("profile", _profile),
    "retentionDays": ("retention_days", _retention),
    "alarmEmail": ("alarm_email", _text(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", "an e-mail address")),
    "indexPrefix": ("index_prefix", _index_prefix),
    "readerUsers": ("reader_users", _names),
    "simulationRule": ("simulation_rule", _bool),
    "exposureIntervalMinutes": ("exposure_interval_minutes", _whole(1, 1440, "minutes")),
    "burstThreshold": ("burst_threshold", _whole(2, 100_000, "warnings")),
    "burstWindowMinutes": ("burst_window_minutes", _whole(1, 1440, "minutes")),
    "organizationId": (
        "organization_id",
        _text(r"o-[a-z0-9]{10,32}", "an organization id such as o-a1b2c3d4e5"),
    ),
    "sourceAccounts": ("source_accounts", _listed(_ACCOUNT, _ACCOUNTS)),
    "hubAccount": ("hub_account", _text(_ACCOUNT, "a 12-digit account id such as 111122223333")),
    "hubRegion": ("hub_region", _text(_REGION, "a region name such as us-east-1")),
    "spokeOrganizationalUnits": (
        "spoke_organizational_units",
        _listed(
            r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32}",
            "organizational unit ids (ou-ab12-cd34ef56) or the root id (r-ab12)",
        ),
    ),
    "spokeRegions": ("spoke_regions", _listed(_REGION, "region names such as us-east-1")),
    "stackSetCallAs": (
        "stack_set_call_as",
        _text("SELF|DELEGATED_ADMIN", "SELF or DELEGATED_ADMIN"),
    ),
}
SETTING_KEYS = tuple(_PARSERS)
# Keys the CDK toolkit itself writes into context; everything else without ':' or '@' is ours.
_TOOLKIT_KEYS = {"acknowledged-issue-numbers"}


def _is_ours(key: str) -> bool:
    return not (key.startswith("@") or ":" in key or key in _TOOLKIT_KEYS)


def parse_settings(context: Mapping[str, Any]) -> Settings:
    """Validate every setting in `context`; unknown keys are errors so typos never pass silently."""
    for key in context:
        if _is_ours(key) and key not in _PARSERS:
            raise SettingsError(key, "one of " + ", ".join(SETTING_KEYS), "an unknown key")
    values: dict[str, Any] = {}
    for key, (attribute, parse) in _PARSERS.items():
        raw = context.get(key)
        if raw is None or raw == "":
            continue  # unset (or `-c key=`) means the documented default
        values[attribute] = parse(key, raw)
    settings = Settings(**values)
    if settings.certificate_arn and not settings.allowed_cidrs:
        raise SettingsError(
            "allowedCidrs",
            "at least one CIDR when certificateArn is set",
            list(settings.allowed_cidrs),
        )
    _check_spokes(settings)
    return settings


def _check_spokes(settings: Settings) -> None:
    """Spoke settings come as sets: a spoke names its hub by account and region, a StackSet
    needs the hub, its OUs and its regions."""
    if bool(settings.hub_account) != bool(settings.hub_region):
        missing = "hubRegion" if settings.hub_account else "hubAccount"
        given = settings.hub_account or settings.hub_region
        raise SettingsError(missing, "a value when hubAccount or hubRegion is set", given)
    units, regions = settings.spoke_organizational_units, settings.spoke_regions
    if bool(units) != bool(regions):
        key, other = (
            ("spokeRegions", "spokeOrganizationalUnits")
            if units
            else ("spokeOrganizationalUnits", "spokeRegions")
        )
        raise SettingsError(key, f"at least one entry when {other} is set", [])
    if units and not settings.hub_account:
        raise SettingsError("hubAccount", "the hub's account when spokeRegions is set", None)


_CREDENTIALS = "AWS credentials, or CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION"


def certificate_region(certificate_arn: str) -> str:
    """The region field of an ACM certificate ARN (`arn:<partition>:acm:<region>:...`)."""
    return certificate_arn.split(":")[3]


def deployment_environment(
    settings: Settings, account: str | None, region: str | None
) -> dict[str, str] | None:
    """The stack's env, or None (environment-agnostic, the default).

    An existing VPC must be looked up and `production` needs three real AZs (an agnostic stack
    gets two), so both need the account and region. `region` is where `cdk deploy` will deploy
    (the CLI's default region) even when the stack stays agnostic: a load balancer listener only
    accepts a certificate from its own region, so a mismatch fails here rather than at deploy.
    """
    if settings.certificate_arn and region:
        cert_region = certificate_region(settings.certificate_arn)
        if cert_region != region:
            raise SettingsError(
                "certificateArn",
                f"a certificate in the deploy region {region} (this one is in {cert_region})",
                settings.certificate_arn,
            )
    needs = None
    if settings.vpc_id is not None:
        needs = ("vpcId", "an account and region to look the VPC up in", settings.vpc_id)
    elif settings.profile == "production":
        needs = (
            "profile",
            "an account and region for 'production' (its three AZs are looked up there)",
            settings.profile,
        )
    if needs is None:
        return None
    key, expected, value = needs
    if not (account and region):
        raise SettingsError(key, f"{expected}: set {_CREDENTIALS}", value)
    return {"account": account, "region": region}
