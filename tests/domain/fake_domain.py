"""A scripted stand-in for a fresh managed domain and its Dashboards, for a recording server.

The node part answers as a domain with ISM and nothing provisioned yet; the optional scripts
make it behave as a domain that is still coming up: fine-grained access control refusing the
first requests (401), Dashboards reporting red before green."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.domain.recording_server import Recorded

Answer = tuple[int, Any]
STATUS_PATH = "/_dashboards/api/status"
IMPORT_PATH = "/_dashboards/api/saved_objects/_import"
# What the provisioner imports: every object of the shipped ndjson files (one per line).
SHIPPED_SAVED_OBJECTS = str(
    sum(
        1
        for path in (Path(__file__).resolve().parents[2] / "dashboards").glob("*.ndjson")
        for line in path.read_text().splitlines()
        if line.strip()
    )
)


def managed_domain(request: Recorded) -> Answer:
    """A fresh managed domain: ISM installed, nothing provisioned yet."""
    path = request.path
    if path == "/_cat/plugins":
        return 200, [{"component": "opensearch-index-management"}]
    if path.startswith("/_cat/indices/"):
        return 200, []
    if request.method in {"GET", "HEAD"} and (
        path.startswith(("/_alias/", "/_plugins/_ism/policies/", "/_plugins/_security/api/roles/"))
        or path
        in {
            "/spot-interruptions-write",
            "/spot-interruptions.exposure-write",
            "/spot-interruptions.market-write",
        }
    ):
        return 404, {}
    if path.startswith("/_plugins/_ism/add/"):
        return 200, {"updated_indices": 0, "failures": False, "failed_indices": []}
    return 200, {"acknowledged": True}


class StartingDomain:
    """Node + Dashboards on one server. `refusals`: how many node requests answer 401 first;
    `dashboards_states`: overall states /api/status reports in turn (the last one repeats)."""

    def __init__(self, *, refusals: int = 0, dashboards_states: Sequence[str] = ("green",)) -> None:
        self.refusals = refusals
        self.states = list(dashboards_states)

    def __call__(self, request: Recorded) -> Answer:
        if request.path == STATUS_PATH:
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            return 200, {"name": "dashboards", "status": {"overall": {"state": state}}}
        if request.path == IMPORT_PATH:
            count = len(request.multipart()["file"].data.splitlines())
            return 200, {"success": True, "successCount": count, "successResults": []}
        if self.refusals > 0:
            self.refusals -= 1
            return 401, b"Unauthorized"
        return managed_domain(request)
