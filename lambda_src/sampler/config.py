"""The sampler function's configuration, read from its environment once per container.

The OpenSearch, EC2-retry and spoke variables are the ingest function's own (`IngestEnv`),
parsed by `IngestConfig.from_env`, so both functions accept and refuse the same values; the
sampler adds where to look (`SamplerEnv.REGIONS`, `SamplerEnv.ACCOUNTS`, and with
`SamplerEnv.DISCOVERY_DAYS` the accounts and regions found in `SamplerEnv.EVENTS_INDEX`) and how
long one tick stands for (`SamplerEnv.INTERVAL_SECONDS`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lambda_src.contract import (
    DEFAULT_ADVISOR_URL,
    DEFAULT_INDEX_PREFIX,
    EXPOSURE_SERVICE_NAME,
    IngestEnv,
    MarketEnv,
    SamplerEnv,
    exposure_write_alias,
    market_write_alias,
)
from lambda_src.ingest.config import IngestConfig
from lambda_src.ingest.search_client import ConfigurationError, SearchSettings

_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2,5}(?:-[a-z]+)+-\d{1,2}")
DEFAULT_INTERVAL_SECONDS = 600
MAX_DISCOVERY_DAYS = 365


@dataclass(frozen=True)
class SamplerConfig:
    search: SearchSettings
    regions: tuple[str, ...]
    index_alias: str = exposure_write_alias(DEFAULT_INDEX_PREFIX)
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    # Accounts sampled through their spoke role, besides the function's own (`home_account`).
    accounts: tuple[str, ...] = ()
    spoke_role_name: str | None = None
    home_account: str | None = None
    # Also count accounts and regions with an event in this many days (0: off), read from
    # `events_index` (account_discovery.py).
    discovery_days: int = 0
    events_index: str | None = None
    ec2_retry_mode: str = "standard"
    ec2_max_attempts: int = 4
    service_name: str = EXPOSURE_SERVICE_NAME
    # For local runs: a log level (None: Powertools' own). Not read by `from_env`.
    log_level: str | None = None
    # The daily market run (lambda_src/sampler/market.py).
    market_alias: str = market_write_alias(DEFAULT_INDEX_PREFIX)
    advisor_url: str = DEFAULT_ADVISOR_URL
    advisor_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SamplerConfig:
        """Parse and check every variable; a bad one raises ConfigurationError naming it."""
        shared = IngestConfig.from_env(env)
        regions = _listed(env, SamplerEnv.REGIONS, _REGION, "region names such as us-east-1")
        if not regions:
            default = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if not default:
                raise ConfigurationError(f"{SamplerEnv.REGIONS} is not set")
            regions = (default,)
        accounts = _listed(env, SamplerEnv.ACCOUNTS, _ACCOUNT, "12-digit account ids")
        if accounts and not shared.spoke_role_name:
            raise ConfigurationError(
                f"{SamplerEnv.ACCOUNTS} needs {IngestEnv.SPOKE_ROLE_NAME} (the role to assume)"
            )
        days, events_index = _discovery(env, shared.spoke_role_name)
        raw = env.get(SamplerEnv.INTERVAL_SECONDS, "").strip() or str(DEFAULT_INTERVAL_SECONDS)
        if not raw.isdigit() or not 60 <= int(raw) <= 86400:
            raise ConfigurationError(
                f"{SamplerEnv.INTERVAL_SECONDS} must be whole seconds from 60 to 86400, got {raw!r}"
            )
        return cls(
            search=shared.search,
            regions=regions,
            index_alias=env.get(IngestEnv.INDEX_ALIAS) or cls.index_alias,
            interval_seconds=int(raw),
            accounts=accounts,
            spoke_role_name=shared.spoke_role_name,
            home_account=shared.home_account,
            discovery_days=days,
            events_index=events_index,
            ec2_retry_mode=shared.ec2_retry_mode,
            ec2_max_attempts=shared.ec2_max_attempts,
            service_name=env.get(IngestEnv.SERVICE_NAME) or cls.service_name,
            market_alias=env.get(MarketEnv.INDEX_ALIAS) or cls.market_alias,
            advisor_url=_advisor_url(env),
            advisor_timeout_seconds=_advisor_timeout(env),
        )


def _discovery(env: Mapping[str, str], spoke_role_name: str | None) -> tuple[int, str | None]:
    raw = env.get(SamplerEnv.DISCOVERY_DAYS, "").strip() or "0"
    if not raw.isdigit() or int(raw) > MAX_DISCOVERY_DAYS:
        raise ConfigurationError(
            f"{SamplerEnv.DISCOVERY_DAYS} must be whole days from 0 to {MAX_DISCOVERY_DAYS}, "
            f"got {raw!r}"
        )
    days = int(raw)
    if not days:
        return 0, None
    if not spoke_role_name:
        raise ConfigurationError(
            f"{SamplerEnv.DISCOVERY_DAYS} needs {IngestEnv.SPOKE_ROLE_NAME} (the role to assume)"
        )
    index = env.get(SamplerEnv.EVENTS_INDEX, "").strip()
    if not index:
        raise ConfigurationError(
            f"{SamplerEnv.DISCOVERY_DAYS} needs {SamplerEnv.EVENTS_INDEX} (the events' pattern)"
        )
    return days, index


def _advisor_url(env: Mapping[str, str]) -> str:
    url = env.get(MarketEnv.ADVISOR_URL, "").strip() or DEFAULT_ADVISOR_URL
    if not url.startswith(("https://", "http://")):
        raise ConfigurationError(f"{MarketEnv.ADVISOR_URL} must be an http(s) URL, got {url!r}")
    return url


def _advisor_timeout(env: Mapping[str, str]) -> float:
    raw = env.get(MarketEnv.ADVISOR_TIMEOUT_SECONDS, "").strip() or "10"
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 60:
        raise ConfigurationError(
            f"{MarketEnv.ADVISOR_TIMEOUT_SECONDS} must be seconds from 1 to 60, got {raw!r}"
        )
    return value


def _listed(
    env: Mapping[str, str], name: str, pattern: re.Pattern[str], items: str
) -> tuple[str, ...]:
    values = [v.strip() for v in env.get(name, "").split(",") if v.strip()]
    for value in values:
        if not pattern.fullmatch(value):
            raise ConfigurationError(f"{name} must be comma-separated {items}, got {value!r}")
    return tuple(dict.fromkeys(values))
