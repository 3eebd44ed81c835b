"""The exposure sampler run locally: the deployed handler (`lambda_src.sampler.handler`) over the
moto fleet, writing to the local node as a user that holds only the exposure writer's backend
role, once per tick of a window.

Deployed, Scheduler invokes the function every interval with the tick's scheduled time; here
the ticks of a past window are replayed at once (`ticks`), each with its own scheduled time, so
a demo's storm has the instance-hours behind it. The moto fleet does not change between ticks,
so every tick counts the same instances: the ground truth of a replay is the fleet's group
sizes times the number of ticks times the interval."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lambda_src.contract import SCHEDULED_TIME_KEY, exposure_write_alias
from lambda_src.ingest.bulk import SEARCHABLE, Verdict
from lambda_src.ingest.search_client import SearchSettings
from lambda_src.sampler.config import DEFAULT_INTERVAL_SECONDS, SamplerConfig
from lambda_src.sampler.fleet_count import exposure_documents, sample
from lambda_src.sampler.handler import Sampler, build_handler
from spot_cli.local.lambda_context import LambdaContext
from spot_cli.local.moto_lifecycle import teach_moto_instance_lifecycle
from spot_cli.local.provisioning import SAMPLER_BACKEND_ROLE
from spot_cli.opensearch_client import OpenSearchSettings, connect

SAMPLER_USER = "spot-insights-local-sampler"


@dataclass(frozen=True)
class SamplerRun:
    ticks: int
    documents: int
    instances_per_tick: int
    describe_pages: int


def sampler_user(admin: OpenSearchSettings) -> OpenSearchSettings:
    """An internal user carrying only the sampler's backend role (the provisioning must have
    mapped `SAMPLER_BACKEND_ROLE` to the exposure writer role)."""
    password = secrets.token_urlsafe(24)
    connect(admin).transport.perform_request(
        "PUT",
        f"/_plugins/_security/api/internalusers/{SAMPLER_USER}",
        body={
            "password": password,
            "backend_roles": [SAMPLER_BACKEND_ROLE],
            "description": "Local stand-in for the sampler function's IAM role",
        },
    )
    return OpenSearchSettings(
        endpoint=admin.endpoint,
        auth="basic",
        user=SAMPLER_USER,
        password=password,
        ca_certs=admin.ca_certs,
    )


def ticks(since: datetime, until: datetime, interval_seconds: int) -> list[datetime]:
    """The scheduled times of a schedule running from `since` up to (not including) `until`."""
    step = timedelta(seconds=interval_seconds)
    count = max(0, int((until - since) / step))
    return [since + step * n for n in range(count)]


def run_sampler(
    writer: OpenSearchSettings,
    session: Any,
    *,
    prefix: str,
    regions: Sequence[str],
    scheduled: Sequence[datetime],
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
    accounts: Sequence[str] = (),
    spoke_role_name: str | None = None,
    home_account: str | None = None,
) -> SamplerRun:
    """Invoke the sampler handler once per scheduled time; raises what the handler raises."""
    teach_moto_instance_lifecycle()
    config = _config(
        writer, prefix, regions, interval_seconds, accounts, spoke_role_name, home_account
    )
    handle = build_handler(config, session)
    documents = pages = instances = 0
    for at in scheduled:
        context = LambdaContext("spot-insights-sampler", regions[0])
        summary = handle({SCHEDULED_TIME_KEY: at.isoformat()}, context)
        documents += summary["documents"]
        pages += summary["describe_pages"]
        instances = summary["instances"]
    return SamplerRun(len(scheduled), documents, instances, pages)


def _config(  # noqa: PLR0917 (run_sampler's and replay_sampler's options, passed once)
    writer: OpenSearchSettings,
    prefix: str,
    regions: Sequence[str],
    interval_seconds: int,
    accounts: Sequence[str],
    spoke_role_name: str | None,
    home_account: str | None,
) -> SamplerConfig:
    return SamplerConfig(
        search=SearchSettings(
            endpoint=writer.endpoint,
            user=writer.user,
            password=writer.password,
            ca_certs=writer.ca_certs,
        ),
        regions=tuple(regions),
        index_alias=exposure_write_alias(prefix),
        interval_seconds=interval_seconds,
        accounts=tuple(accounts),
        spoke_role_name=spoke_role_name,
        home_account=home_account,
        log_level="WARNING",
    )


def replay_sampler(
    writer: OpenSearchSettings,
    session: Any,
    *,
    prefix: str,
    regions: Sequence[str],
    scheduled: Sequence[datetime],
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
    accounts: Sequence[str] = (),
    spoke_role_name: str | None = None,
    home_account: str | None = None,
) -> SamplerRun:
    """The demo's replay of a past window. The moto fleet does not change between ticks, so the
    deployed handler's code (`Sampler.run`) samples the first tick and every later tick is the
    same count at its own scheduled time, written with the sampler's own document code and
    indexer: a 7-hour window is 45 ticks, and describing 3,600 moto instances in every account
    and region 45 times took most of ten minutes of the demo (`run_sampler` invokes the handler
    for every tick). One sampler (clients, indexer) serves the whole replay."""
    teach_moto_instance_lifecycle()
    config = _config(
        writer, prefix, regions, interval_seconds, accounts, spoke_role_name, home_account
    )
    sampler = Sampler.from_config(config, session)
    first = sampler.run({SCHEDULED_TIME_KEY: scheduled[0].isoformat()}) if scheduled else None
    documents = first["documents"] if first else 0
    later = scheduled[1:]
    tick = sample(sampler.directories, config.accounts, config.regions) if later else None
    if tick and tick.failures:
        raise RuntimeError(f"sampler replay: {tick.failures}")
    # Every later tick in one `index` call (chunked by size, not one request per tick), and,
    # as the handler, returning once they are searchable.
    batch = [doc for at in later for doc in exposure_documents(tick, at, interval_seconds)]
    results = sampler.indexer.index(batch, refresh=SEARCHABLE) if batch else []
    unstored = [r.reason for r in results if r.verdict is not Verdict.STORED]
    if unstored:
        raise RuntimeError(f"sampler replay: {len(unstored)} not stored: {unstored[:3]}")
    documents += len(batch)
    return SamplerRun(
        len(scheduled),
        documents,
        first["instances"] if first else 0,
        first["describe_pages"] if first else 0,
    )


def demo_rates(
    admin: OpenSearchSettings,
    session: Any,
    prefix: str,
    result: Any,
    *,
    accounts: Sequence[str] = (),
    spoke_role_name: str | None = None,
    home_account: str | None = None,
) -> Any:
    """The demo's rates: the sampler replayed over the storm's window (every default interval),
    then `report --rates` over exactly the ticks' span. `result` is the pipeline's RunResult."""
    from spot_cli.local.pipeline import window_of  # noqa: PLC0415
    from spot_cli.rates import RatesRequest, build_rates  # noqa: PLC0415

    since, until = window_of(result.storm, result.fleet)
    scheduled = ticks(since, until, DEFAULT_INTERVAL_SECONDS)
    replay_sampler(
        sampler_user(admin),
        session,
        prefix=prefix,
        regions=result.fleet.regions,
        scheduled=scheduled,
        accounts=accounts,
        spoke_role_name=spoke_role_name,
        home_account=home_account,
    )
    end = scheduled[-1] + timedelta(seconds=DEFAULT_INTERVAL_SECONDS)
    return build_rates(connect(admin), RatesRequest(since=since, until=end, index_prefix=prefix))
