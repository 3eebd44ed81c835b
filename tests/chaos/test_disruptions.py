"""The reduced disruption run (`make chaos` at small scale): a storm through the local pipeline
while the search node is SIGKILLed and restarted, SIGSTOPped past the client timeout, moto's
server restarts, and the handler process is killed between bulk write and SQS delete.

It runs as `python -m spot_cli.chaos --reduced --json` in a child process: the run starts its
own OpenSearch node (the session's node is never killed) and its own in-process moto, whose
state must not mix with the session's moto server."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spot_cli.chaos.runner import FAULTS

# Two node starts dominate; on a machine shared with other test runs each took up to 165 s.
pytestmark = [pytest.mark.opensearch, pytest.mark.timeout(1200)]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenarios() -> dict[str, dict]:
    process = subprocess.Popen(
        [sys.executable, "-m", "spot_cli.chaos", "--reduced", "--json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=1100)
    except subprocess.TimeoutExpired:
        process.terminate()  # the runner stops its own node on SIGTERM
        stdout, stderr = process.communicate(timeout=120)
        pytest.fail(f"the reduced chaos run timed out: {stderr[-3000:]}")
    assert stdout, stderr[-3000:]
    output = json.loads(stdout)
    return {s["name"]: s for s in output["scenarios"]}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_event_is_indexed_exactly_once_and_the_dlq_holds_only_poison(scenarios, fault):
    s = scenarios[fault]
    assert s["held_seconds"] is not None, "the fault never fired"
    assert s["recovery_seconds"] is not None, "nothing was stored after the fault"
    assert s["missing"] == 0
    assert s["indexed"] == s["events"]
    assert s["dlq_non_poison"] == 0
    assert s["dlq_missing_poison"] == 0
    # A copy beyond the ground truth is only ever the same source message parked again.
    assert s["dlq_duplicates"] == s["dlq_reparked"]
    assert s["source_left"] == 0
    assert s["problems"] == []


def test_the_node_faults_made_batches_fail(scenarios):
    # Otherwise the fault missed the storm and the run proves nothing.
    assert scenarios["kill-node"]["failed_records"] > 0
    assert scenarios["pause-node"]["failed_records"] > 0
    assert scenarios["pause-node"]["held_seconds"] >= 5


def test_the_killed_handler_was_replaced_and_its_batch_redelivered(scenarios):
    s = scenarios["kill-handler"]
    assert s["handler_starts"] >= 2
    assert s["failed_invocations"] >= 1
    assert s["max_receive_count"] >= 2
    assert any(note.startswith("killed after a bulk") for note in s["notes"])
