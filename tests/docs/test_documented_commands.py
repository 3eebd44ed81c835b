"""Every command the docs give runs: each is smoke-run in a reduced form (tests/docs/smoke.py)
or allow-listed there because it needs an AWS account. The commands are collected from the
Markdown itself (tests/docs/commands.py), so a command added to the docs without a smoke run
fails here."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from spot_cli.main import build_parser
from tests.docs.commands import commands_in_markdown, documented_commands
from tests.docs.smoke import NEEDS_AWS, NOT_COMMANDS, SMOKE, Smoke
from tests.support.opensearch_node import OpenSearchNode
from tests.support.ports import free_port
from tests.support.search_index import create_index

ROOT = Path(__file__).resolve().parents[2]
# Set for every smoke-run command: `make test` smoke-runs one small test file, and a reduced form
# that ever pointed it at this module again would recurse; it stops here instead.
GUARD = "SPOT_INSIGHTS_SMOKE"
if os.environ.get(GUARD):
    raise RuntimeError(f"{GUARD} is set: a smoke-run command started the smoke tests again")


def test_every_documented_command_is_smoke_run_or_allow_listed() -> None:
    handled = SMOKE.keys() | NEEDS_AWS.keys() | NOT_COMMANDS.keys()
    missing = {c: where for c, where in documented_commands().items() if c not in handled}
    assert not missing, (
        "documented commands without a smoke run; add one line each to SMOKE (or NEEDS_AWS with "
        "the reason) in tests/docs/smoke.py:\n"
        + "\n".join(f"  {c!r}  ({', '.join(w)})" for c, w in missing.items())
    )


def test_no_entry_for_a_command_the_docs_no_longer_give() -> None:
    documented = documented_commands().keys()
    stale = [c for c in (*SMOKE, *NEEDS_AWS, *NOT_COMMANDS) if c not in documented]
    assert not stale, f"entries for commands no doc gives (remove them): {stale}"


def test_allow_list_entries_say_why_and_are_not_also_smoked() -> None:
    for command, reason in (NEEDS_AWS | NOT_COMMANDS).items():
        assert len(reason.split()) >= 3, f"{command!r}: give the reason"
        assert command not in SMOKE, f"{command!r} is both smoke-run and allow-listed"


def test_commands_are_collected_from_fences_and_inline_spans() -> None:
    markdown = "\n".join(
        [
            "Run `make demo` or `spot-insights report --json`; `spot-insights` is the CLI.",
            "Not commands: `make`, `scripts/`, `python app.py`, `npx cdk deploy`.",
            "```bash",
            "make setup   # comment with `make nothing`",
            'eval "$(scripts/opensearch env)"; spot-insights report --last 7d',
            ".venv/bin/python -m lambda_src.provisioning.local --prefix p \\",
            "    --require-ism",
            "aws sqs receive-message && make lint",
            "```",
            "```python",
            "make_this = 'not shell'  # make x",
            "```",
            "<!-- figures: demo -->`scripts/bench_demo.py` in a figure<!-- /figures -->",
            "~~~",
            "python -X importtime -m spot_cli --help | sort",
            "~~~",
        ]
    )
    assert commands_in_markdown(markdown) == [
        "make setup",
        "scripts/opensearch env",
        "spot-insights report --last 7d",
        ".venv/bin/python -m lambda_src.provisioning.local --prefix p --require-ism",
        "make lint",
        "python -X importtime -m spot_cli --help",
        "make demo",
        "spot-insights report --json",
        "spot-insights",
    ]


# -- the smoke runs ------------------------------------------------------------------------------


@pytest.fixture
def smoke_env(opensearch_node: OpenSearchNode) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    env.update(
        PATH=f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}",
        OPENSEARCH_URL=opensearch_node.url,
        OPENSEARCH_USER=opensearch_node.user,
        OPENSEARCH_PASSWORD=opensearch_node.password,
        **{GUARD: "1"},
    )
    if opensearch_node.ca_certs:
        env["OPENSEARCH_CA_CERTS"] = opensearch_node.ca_certs
    return env


@pytest.fixture
def prefixes(opensearch: OpenSearch) -> Iterator[dict[str, str]]:
    made = {name: f"smoke-{uuid.uuid4().hex[:8]}" for name in ("prefix", "new_prefix")}
    yield made
    for prefix in made.values():
        opensearch.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        opensearch.indices.delete_index_template(name=prefix, ignore=404)
        # The exposure family (issue 14) that provisioning creates next to the events.
        opensearch.indices.delete(index=f"{prefix}.exposure-*", ignore_unavailable=True)
        opensearch.indices.delete_index_template(name=f"{prefix}.exposure", ignore=404)
        opensearch.indices.delete(index=f"{prefix}.market-*", ignore_unavailable=True)
        opensearch.indices.delete_index_template(name=f"{prefix}.market", ignore=404)


def run(line: str, env: dict[str, str], timeout: float) -> tuple[int, str]:
    """bash -c `line` in its own process group (killed whole on timeout)."""
    process = subprocess.Popen(
        ["bash", "-c", line],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{line!r} still running after {timeout:.0f} s:\n{output[-3000:]}")
    return process.returncode, output


def _runs() -> dict[str, list[str]]:
    """Each distinct reduced form -> the documented commands it proves. Commands whose reduced
    forms are the same line (e.g. `make demo` with and without `--stop`, which stops only a node
    the demo started itself) are run once, and every one's `prints` and `writes` is checked."""
    runs: dict[str, list[str]] = {}
    for command, smoke in SMOKE.items():
        runs.setdefault(smoke.run or command, []).append(command)
    return runs


RUNS = _runs()


def test_every_smoke_entry_is_run_exactly_once_and_checked_by_its_own_prints() -> None:
    assert sorted(c for commands in RUNS.values() for c in commands) == sorted(SMOKE)
    shared = {line: commands for line, commands in RUNS.items() if len(commands) > 1}
    # The three demo forms share one run: the demo's figures and the rates' hours both checked.
    demo = next(commands for commands in shared.values() if "make demo" in commands)
    assert {SMOKE[c].prints for c in demo} > {SMOKE["make demo"].prints}


@pytest.mark.parametrize(
    "line", list(RUNS), ids=[" + ".join(RUNS[line]).replace("…", "...") for line in RUNS]
)
def test_documented_command_runs(  # noqa: PLR0917 - pytest passes fixtures positionally
    line: str,
    smoke_env: dict[str, str],
    prefixes: dict[str, str],
    opensearch: OpenSearch,
    opensearch_node: OpenSearchNode,
    tmp_path: Path,
) -> None:
    smokes: list[Smoke] = [SMOKE[command] for command in RUNS[line]]
    values = {
        "tmp": str(tmp_path),
        "root": str(ROOT),
        "node_port": str(int(opensearch_node.url.rsplit(":", 1)[1].rstrip("/"))),
        "free_port": str(free_port()),
        **prefixes,
    }
    if "{prefix}" in line:
        create_index(opensearch, prefixes["prefix"])
    line = line.format(**values)
    code, output = run(line, smoke_env, max(smoke.timeout for smoke in smokes))
    assert code == 0, f"{line!r} exited {code}:\n{output[-4000:]}"
    for smoke in smokes:
        if smoke.prints is not None:
            assert re.search(smoke.prints, output), (
                f"{line!r} did not print /{smoke.prints}/:\n{output[-4000:]}"
            )
        writes = (smoke.writes,) if isinstance(smoke.writes, str) else smoke.writes or ()
        for results in writes:
            record = json.loads(Path(results.format(**values)).read_text())
            assert {"command", "date", "machine", "figures"} <= record.keys(), results
            machine = record["machine"].keys()
            assert {"cores", "cpu_model", "python", "load_average_1_5_15"} <= machine


def _subcommands() -> list[str]:
    parser = build_parser()
    return sorted(
        name
        for action in parser._subparsers._group_actions
        for name in getattr(action, "choices", {}) or {}
    )


@pytest.mark.parametrize("subcommand", _subcommands())
def test_every_subcommand_has_help(subcommand: str, smoke_env: dict[str, str]) -> None:
    code, output = run(f"spot-insights {subcommand} --help", smoke_env, 60)
    assert code == 0, output
    assert f"usage: spot-insights {subcommand}" in output
