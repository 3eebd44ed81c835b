"""The index names inside Vega panels, moved to the deployment's prefix.

A Vega panel names its indices in its spec (`data[].url.index`), not through the index pattern
whose title the import sets, so a stack deployed with another `indexPrefix` must rewrite them
or its rate, scorecard and market panels would read the default prefix's (empty) indices. The
saved objects ship with the default prefix; only its three families are rewritten, anything
else in a spec is left as it is."""

from __future__ import annotations

import json
from typing import Any

from lambda_src.contract import (
    DEFAULT_INDEX_PREFIX,
    exposure_index_pattern,
    index_pattern,
    market_index_pattern,
)

VEGA = "vega"


def index_for_prefix(index: str, prefix: str) -> str:
    """The default prefix's events, exposure or market pattern as `prefix`'s; other names
    unchanged."""
    families = {
        pattern(DEFAULT_INDEX_PREFIX): pattern(prefix)
        for pattern in (index_pattern, exposure_index_pattern, market_index_pattern)
    }
    return families.get(index, index)


def spec_for_prefix(spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A copy of a Vega spec whose data sources read `prefix`'s indices."""
    copy = json.loads(json.dumps(spec))
    for data in copy.get("data", []):
        url = data.get("url")
        if isinstance(url, dict) and isinstance(url.get("index"), str):
            url["index"] = index_for_prefix(url["index"], prefix)
    return copy


def vis_state_for_prefix(vis_state: str, prefix: str) -> str:
    """A visualization's visState with a Vega spec retargeted; other visualizations as they are.
    The spec is stored as JSON (scripts/build_dashboard.py writes it), which Dashboards' HJSON
    parser reads too."""
    state = json.loads(vis_state)
    if state.get("type") != VEGA or prefix == DEFAULT_INDEX_PREFIX:
        return vis_state
    spec = spec_for_prefix(json.loads(state["params"]["spec"]), prefix)
    state["params"]["spec"] = json.dumps(spec, separators=(",", ":"))
    return json.dumps(state, separators=(",", ":"))
