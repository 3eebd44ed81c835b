"""One seeded storm through the demo's pipeline (spot_cli's fleet and storm, moto's EventBridge
and SQS, the real ingest handler, the provisioning code) into the session's node, shared by the
dashboard tests."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambda_src.ingest import runtime
from spot_cli.dashboard_panels import Dashboard, TimeRange, load_dashboard
from spot_cli.main import main

EVENTS = 400
REGIONS = "us-east-1,eu-west-1"


@dataclass(frozen=True)
class SeededStorm:
    prefix: str
    run: dict[str, Any]
    page: Path  # the dashboard page the demo wrote
    market: dict[str, Any]  # the market context the demo printed (`report --market --json`)

    @property
    def index(self) -> str:
        return f"{self.prefix}-*"


@pytest.fixture(scope="module")
def board() -> Dashboard:
    """The saved dashboard, as the panels tests read it."""
    return load_dashboard()


@pytest.fixture(scope="module")
def window(board: Dashboard) -> TimeRange:
    """The dashboard's saved time range."""
    return TimeRange.parse(board.time_from, board.time_to)


@pytest.fixture(scope="session")
def seeded_storm(opensearch_node: Any, opensearch: Any) -> Iterator[SeededStorm]:
    prefix = f"dash-{uuid.uuid4().hex[:8]}"
    env = {"OPENSEARCH_URL": opensearch_node.url, "OPENSEARCH_USER": opensearch_node.user,
           "OPENSEARCH_PASSWORD": opensearch_node.password}  # fmt: skip
    if opensearch_node.ca_certs:
        env["OPENSEARCH_CA_CERTS"] = opensearch_node.ca_certs
    runtime.reset()
    out = io.StringIO()
    try:
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
            for key, value in env.items():
                patch.setenv(key, value)
            code = main(
                ["demo", "--events", str(EVENTS), "--poison", "0", "--seed", "12",
                 "--regions", REGIONS, "--batch-size", "50", "--batching-window", "0.2",
                 "--index-prefix", prefix, "--json"]
            )  # fmt: skip
        assert code == 0, out.getvalue()
        answer = json.loads(out.getvalue())
        run = answer["run"]
        assert run["events"] == EVENTS
        # One document per EC2 event and per evicted instance; the demo checked each by id.
        assert run["indexed"] == run["documents"] > EVENTS
        assert run["evictions"]["without_warning"] > 0
        # Issue 14: the demo held its rates and scorecard to the storm's ground truth.
        assert answer["insights_check"]["figures"] > 0 and not answer["insights_check"]["problems"]
        assert answer["rates"]["instance_hours"] > 0 and answer["scorecard"]["total"]["warnings"]
        opensearch.indices.refresh(index=f"{prefix}-*")
        yield SeededStorm(prefix, run, Path(answer["html"]), answer["market"])
    finally:
        runtime.reset()
        (Path(tempfile.gettempdir()) / f"spot-insights-{prefix}.html").unlink(missing_ok=True)
        opensearch.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        opensearch.indices.delete_index_template(name=prefix, ignore=[404])


@pytest.fixture(scope="module")
def documents(seeded_storm: Any, opensearch: Any, window: TimeRange) -> list[dict[str, Any]]:
    body = {
        "size": 10000,
        "query": {
            "range": {
                "event_time": {"gte": window.start.isoformat(), "lte": window.end.isoformat()}
            }
        },
    }
    hits = opensearch.search(index=seeded_storm.index, body=body)["hits"]
    # The saved range ends at "now"; the storm stamps some evictions minutes after its last
    # warning, so one may still lie ahead of "now". Every document up to "now" is in the range.
    ahead = {"query": {"range": {"event_time": {"gt": window.end.isoformat()}}}}
    later = opensearch.count(index=seeded_storm.index, body=ahead)["count"]
    assert hits["total"]["value"] == len(hits["hits"]) == seeded_storm.run["indexed"] - later
    return [h["_source"] for h in hits["hits"]]
