"""Dashboards saved objects (index pattern with a fixed id + visualizations) imported into the
Global tenant. The fixed id and overwrite=true make re-imports replace, never conflict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from lambda_src.contract import DASHBOARDS_INDEX_PATTERN_ID
from lambda_src.provisioning.errors import ProvisioningError
from lambda_src.provisioning.http_client import HttpClient
from lambda_src.provisioning.settings import ProvisioningSettings
from lambda_src.provisioning.vega_indices import vis_state_for_prefix

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"
IMPORT_PATH = "/api/saved_objects/_import"
STATUS_PATH = "/api/status"
# Overall states in which the saved-objects service answers: the legacy format's `state` and
# the newer format's `level`. Yellow/degraded is not accepted: a plugin may still be migrating.
AVAILABLE_STATES = frozenset({"green", "available"})
IMPORT_HEADERS = {"osd-xsrf": "true", "securitytenant": "global"}
MAX_LISTED_ERRORS = 5


def load_saved_objects(settings: ProvisioningSettings, directory: Path = DASHBOARDS_DIR) -> bytes:
    """All *.ndjson files in name order, the index pattern's title and the Vega panels'
    indices set to this prefix."""
    lines: list[str] = []
    for path in sorted(directory.glob("*.ndjson")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ProvisioningError(f"{path.name}:{number} is not JSON: {exc}") from exc
            if obj.get("type") == "index-pattern" and obj.get("id") == DASHBOARDS_INDEX_PATTERN_ID:
                obj["attributes"]["title"] = settings.index_pattern
            if obj.get("type") == "visualization" and "visState" in obj.get("attributes", {}):
                attributes = obj["attributes"]
                attributes["visState"] = vis_state_for_prefix(
                    attributes["visState"], settings.index_prefix
                )
            lines.append(json.dumps(obj, separators=(",", ":")))
    if not lines:
        raise ProvisioningError(f"no saved objects (*.ndjson) found in {directory}")
    return ("\n".join(lines) + "\n").encode()


def dashboards_not_ready(response: requests.Response) -> str | None:
    """None when /api/status reports Dashboards available, else why not (for the retry log)."""
    try:
        overall = response.json()["status"]["overall"]
        state = str(overall.get("state") or overall.get("level") or "").lower()
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"Dashboards status not readable yet: {response.text[:200]!r}"
    if state in AVAILABLE_STATES:
        return None
    return f"Dashboards overall status is {state or 'unknown'}"


def wait_for_dashboards(dashboards: HttpClient) -> None:
    """Block until Dashboards reports itself available, within the client's retry deadline.

    Dashboards starts after the domain and its saved-objects API answers 503 or fails imports
    until then; waiting on its status first makes the import one request that succeeds."""
    dashboards.request("GET", STATUS_PATH, ready=dashboards_not_ready)


def import_saved_objects(dashboards: HttpClient, ndjson: bytes) -> int:
    """Returns the number of objects imported; any per-object error fails the whole step."""
    answer = dashboards.json(
        "POST",
        IMPORT_PATH,
        params={"overwrite": "true"},
        headers=IMPORT_HEADERS,
        files={"file": ("spot-insights.ndjson", ndjson, "application/ndjson")},
    )
    if not isinstance(answer, dict):
        raise ProvisioningError(f"saved objects import: unexpected answer {answer!r:.200}")
    errors = answer.get("errors") or []
    if answer.get("success") is not True or errors:
        listed = "; ".join(_describe(error) for error in errors[:MAX_LISTED_ERRORS])
        more = len(errors) - MAX_LISTED_ERRORS
        suffix = f" (+{more} more)" if more > 0 else ""
        raise ProvisioningError(
            f"saved objects import failed: {listed or 'success is not true'}{suffix}"
        )
    return int(answer.get("successCount", 0))


def _describe(error: dict[str, Any]) -> str:
    detail = error.get("error") or {}
    kind = detail.get("type", "error")
    if kind == "missing_references":
        refs = ", ".join(f"{r.get('type')}/{r.get('id')}" for r in detail.get("references", []))
        kind = f"missing references {refs}"
    elif detail.get("message"):
        kind = f"{kind}: {detail['message']}"
    return f"{error.get('type')}/{error.get('id')} ({error.get('title', '')}): {kind}"


def ensure_saved_objects(dashboards: HttpClient, settings: ProvisioningSettings) -> int:
    return import_saved_objects(dashboards, load_saved_objects(settings))
