"""The provisioning steps in their required order, each idempotent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from aws_lambda_powertools import Logger

from lambda_src.contract import PROVISIONING_SERVICE_NAME
from lambda_src.provisioning.burst_ledger import ensure_burst_ledger
from lambda_src.provisioning.discovery_role import ensure_discovery_role
from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.index_setup import ensure_index_template, ensure_write_alias
from lambda_src.provisioning.ism import ensure_ism_policy, ism_available
from lambda_src.provisioning.sampler_families import EXPOSURE, MARKET, ensure_sampler_family
from lambda_src.provisioning.saved_objects import ensure_saved_objects, wait_for_dashboards
from lambda_src.provisioning.security_config import ensure_security
from lambda_src.provisioning.settings import IsmMode, ProvisioningSettings

# A child of the handler's logger: same structured output and Lambda context keys.
logger = Logger(service=PROVISIONING_SERVICE_NAME, child=True)


class Provisioner:
    def __init__(
        self,
        settings: ProvisioningSettings,
        opensearch: HttpClient,
        dashboards: HttpClient | None = None,
        reader_users: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.opensearch = opensearch
        self.dashboards = dashboards
        self.reader_users = dict(reader_users or {})

    def run(self) -> dict[str, str]:
        """Returns a summary (CloudFormation `Data`, so strings only).

        A failure names its step, so CloudFormation's one-line reason says where it stopped."""
        s = self.settings
        http = self.opensearch
        # Retried until the domain answers; everything after it meets a live cluster.
        with step("waiting for the domain"):
            http.request("GET", "/_cluster/health")
        with step("checking for the ISM plugin"):
            with_ism = self._ism_enabled()
        summary: dict[str, str] = {}
        with step("index template"):
            summary["IndexTemplate"] = ensure_index_template(http, s, with_ism=with_ism)
        # Before the first index exists, so its ism_template catches that index too.
        with step("ISM policy"):
            summary["IsmPolicy"] = ensure_ism_policy(http, s) if with_ism else "skipped"
        with step("write alias"):
            summary["WriteAlias"] = s.write_alias
            summary["WriteAliasState"] = ensure_write_alias(http, s)
        # Before the roles: the reader role names this family's pattern too.
        with step("fleet exposure family"):
            summary.update(ensure_sampler_family(http, s, EXPOSURE, with_ism=with_ism))
        with step("market context family"):
            summary.update(ensure_sampler_family(http, s, MARKET, with_ism=with_ism))
        with step("security roles and users"):
            readers = self.reader_users
            summary["DashboardsReadOnlyRole"] = ensure_security(http, s, readers)
        summary["ReaderUsers"] = ",".join(sorted(self.reader_users))
        # Before the ingest function and the sampler start (the stack orders them after this).
        with step("burst ledger"):
            summary.update(ensure_burst_ledger(http, s, with_ism=with_ism))
        with step("account discovery role"):
            summary["DiscoveryRole"] = ensure_discovery_role(http, s)
        if s.import_saved_objects:
            if self.dashboards is None:
                raise ProvisioningError("saved objects import requested but no Dashboards client")
            with step("waiting for Dashboards"):
                wait_for_dashboards(self.dashboards)
            with step("saved objects import"):
                summary["SavedObjects"] = str(ensure_saved_objects(self.dashboards, s))
        else:
            logger.warning("saved objects import disabled (ImportSavedObjects=false)")
            summary["SavedObjects"] = "skipped"
        return summary

    def _ism_enabled(self) -> bool:
        if ism_available(self.opensearch):
            return True
        if self.settings.ism_mode is IsmMode.REQUIRED:
            raise ProvisioningError(
                "the Index State Management plugin is not installed on the domain; it is "
                "required for rollover and retention (IsmMode=skip-if-unavailable only for "
                "local nodes without it)"
            )
        logger.warning(
            "ISM plugin not installed: index lifecycle NOT managed (no rollover, no retention "
            "delete) because IsmMode=skip-if-unavailable"
        )
        return False


@contextmanager
def step(name: str) -> Iterator[None]:
    """Prefix any failure inside with the step's name (still one line)."""
    try:
        yield
    except ProvisioningError as exc:
        raise ProvisioningError(f"step '{name}' failed: {exc}") from exc
    except Exception as exc:
        raise ProvisioningError(
            f"step '{name}' failed: unexpected {type(exc).__name__}: {exc}"
        ) from exc
