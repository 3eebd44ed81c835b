"""Lambda entry point of the exposure sampler, invoked by an EventBridge Scheduler schedule.

The schedule's input is `{"scheduled_time": "<aws.scheduler.scheduled-time>"}`: the tick's
scheduled time, identical on every retry, names the tick's documents. A tick that could not
count a region, or store a document, raises after storing what it could: Lambda's asynchronous
retries run it again (overwriting, never adding), then it lands in the dead-letter queue.

`handler` is what Lambda calls (configuration read from the environment on the first call and
kept); `build_handler(config, session)` gives the same function for local runs and tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from lambda_src.contract import MARKET_MODE, MODE_KEY, SCHEDULED_TIME_KEY
from lambda_src.ingest.bulk import SEARCHABLE, BulkIndexer, Verdict
from lambda_src.ingest.cross_account import AccountDirectories, SpokeAccess
from lambda_src.ingest.instances import InstanceDirectory
from lambda_src.ingest.search_client import build_client
from lambda_src.sampler.account_discovery import Discovered, DiscoveryFailed, discover
from lambda_src.sampler.config import SamplerConfig
from lambda_src.sampler.fleet_count import exposure_documents, sample
from lambda_src.sampler.market import MarketSettings, market_run

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class TickFailed(RuntimeError):
    """Some of the tick was not counted or not stored; raised so that the tick is retried."""


def scheduled_time(event: Any) -> datetime:
    """The tick's time from the schedule's input; a clear error for anything else."""
    raw = event.get(SCHEDULED_TIME_KEY) if isinstance(event, dict) else None
    if not isinstance(raw, str):
        raise ValueError(f"not a sampler tick: the event has no {SCHEDULED_TIME_KEY!r} string")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{SCHEDULED_TIME_KEY} {raw!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{SCHEDULED_TIME_KEY} {raw!r} has no time zone")
    return parsed.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True, eq=False)
class Sampler:
    config: SamplerConfig
    directories: AccountDirectories
    indexer: BulkIndexer
    logger: Logger
    # The market family's writer (the daily run, `{"mode": "market"}`).
    market_indexer: BulkIndexer | None = None

    @classmethod
    def from_config(
        cls, config: SamplerConfig, session: boto3.session.Session | None = None
    ) -> Sampler:
        session = session or boto3.session.Session()
        client = build_client(config.search, session)
        options = {"retry_mode": config.ec2_retry_mode, "max_attempts": config.ec2_max_attempts}
        home = InstanceDirectory(session, **options)  # type: ignore[arg-type]
        access = (
            SpokeAccess(config.spoke_role_name, config.home_account)
            if config.spoke_role_name
            else None
        )
        client = build_client(config.search, session)
        return cls(
            config,
            AccountDirectories(home, access, directory_options=options),
            BulkIndexer(client, config.index_alias, id_field="sample_id"),
            Logger(service=config.service_name, level=config.log_level),
            BulkIndexer(client, config.market_alias, id_field="market_id"),
        )

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        at = scheduled_time(event)
        mode = event.get(MODE_KEY)
        if mode == MARKET_MODE:
            return self.run_market(at)
        if mode is not None:
            raise ValueError(f"unknown sampler {MODE_KEY} {mode!r} (only {MARKET_MODE!r})")
        found, discovery_failure = self._discover(at)
        accounts, regions = self._targets(found)
        tick = sample(self.directories, accounts, regions)
        documents = exposure_documents(tick, at, self.config.interval_seconds)
        # A run ends once its tick is searchable: a report, a panel or the next discovery read
        # right after it counts the tick (costs at most one refresh interval every 10 minutes).
        results = self.indexer.index(documents, refresh=SEARCHABLE) if documents else []
        unstored = [r.reason for r in results if r.verdict is not Verdict.STORED]
        summary = {
            "scheduled_time": at.isoformat(),
            "documents": len(documents),
            "instances": sum(tick.counts.values()),
            "describe_pages": tick.pages,
            "accounts": len(accounts),
            "regions": list(regions),
            "discovered_accounts": len(found.accounts),
            "no_access": sorted(tick.no_access),
            "regions_not_enabled": sorted(f"{a}/{r}" for a, r in tick.not_enabled),
        }
        self.logger.info("tick sampled", extra=summary)
        for account, reason in tick.no_access.items():
            self.logger.warning("account not sampled", extra={"account": account, "reason": reason})
        if discovery_failure:
            # Counted what it could; the retry (same scheduled time) overwrites and completes.
            raise TickFailed(f"tick {at.isoformat()}: {discovery_failure}")
        if tick.failures or unstored:
            failed = [f"{a}/{r}: {why}" for (a, r), why in sorted(tick.failures.items())]
            raise TickFailed(
                f"tick {at.isoformat()}: {len(failed)} account-regions not counted "
                f"({'; '.join(failed)[:500]}), {len(unstored)} documents not stored "
                f"({'; '.join(unstored[:3])[:500]})"
            )
        return summary

    def _targets(self, found: Discovered) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The listed accounts and regions, then the discovered ones, each once."""
        accounts = tuple(dict.fromkeys((*self.config.accounts, *found.accounts)))
        regions = tuple(dict.fromkeys((*self.config.regions, *found.regions)))
        return accounts, regions

    def _discover(self, at: datetime) -> tuple[Discovered, str | None]:
        config = self.config
        if not config.discovery_days or not config.events_index:
            return Discovered(), None
        try:
            return discover(
                self.indexer.client, config.events_index, config.discovery_days, at
            ), None
        except DiscoveryFailed as exc:
            self.logger.error("account discovery failed", extra={"reason": str(exc)})
            return Discovered(), str(exc)

    def run_market(self, at: datetime) -> dict[str, Any]:
        """The daily market run (lambda_src/sampler/market.py): an advisor failure is logged
        and stored, not raised; a pricing or storing failure raises so the run is retried."""
        settings = MarketSettings(self.config.advisor_url, self.config.advisor_timeout_seconds)
        # Pools in use across every counted account; a failed discovery prices what is listed
        # (market context is best-effort, the tick's retry is what completes discovery).
        accounts, regions = self._targets(self._discover(at)[0])
        run = market_run(self.directories, accounts, regions, settings, at)
        if self.market_indexer is None:
            raise RuntimeError("this sampler has no market indexer (build it with from_config)")
        results = self.market_indexer.index(run.documents(at), refresh=SEARCHABLE)
        unstored = [r.reason for r in results if r.verdict is not Verdict.STORED]
        summary = {"scheduled_time": at.isoformat(), **run.summary()}
        self.logger.info("market sampled", extra=summary)
        if run.advisor_error:
            self.logger.warning("advisor data not read", extra={"reason": run.advisor_error})
        if run.failures or unstored:
            failed = [f"{a}/{r}: {why}" for (a, r), why in sorted(run.failures.items())]
            raise TickFailed(
                f"market run {at.isoformat()}: {len(failed)} account-regions not read "
                f"({'; '.join(failed)[:500]}), {len(unstored)} documents not stored "
                f"({'; '.join(unstored[:3])[:500]})"
            )
        return summary


def build_handler(config: SamplerConfig, session: boto3.session.Session | None = None) -> Handler:
    """The sampler function for `config`; its clients are built now and kept."""
    sampler = Sampler.from_config(config, session)
    return sampler.logger.inject_lambda_context(lambda event, _context: sampler.run(event))


@cache
def _container_handler() -> Handler:
    return build_handler(SamplerConfig.from_env())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The deployed function (`lambda_src.sampler.handler.handler`)."""
    return _container_handler()(event, context)
