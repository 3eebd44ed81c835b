# ruff: noqa: E501 - one line per command, so that adding a command is adding a line
"""How each documented command is smoke-run: ONE LINE per command.

The key is the command exactly as the docs (or the Makefile) give it, whitespace collapsed;
tests/docs/test_documented_commands.py fails for a documented command that is in neither
SMOKE nor NEEDS_AWS, and for an entry no doc gives any more.

Smoke(run=...) is the reduced form: a bash line run from the repository root with .venv/bin
first on PATH and the test session's OpenSearch node in OPENSEARCH_URL/_USER/_PASSWORD/
_CA_CERTS. Placeholders: {tmp} (an empty directory), {prefix} (an empty provisioned index
and write alias), {new_prefix} (an index prefix with nothing behind it), {node_port} (the
session node's port), {free_port}, {root}. Without `run` the command runs as written. It must
exit 0 and its output must match `prints` (its figures); `writes` names the results file(s) it
must write with provenance (tests/support/bench_results.py). A reduced form never writes into
docs/results/: it passes --results {tmp}/..."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Smoke:
    run: str | None = None
    prints: str | None = r"\S"  # a regex over stdout + stderr; None when it prints nothing
    writes: str | tuple[str, ...] | None = None
    timeout: float = 300


DEMO = "--events 12 --poison 2 --regions us-east-1 --index-prefix {new_prefix}"  # not minutes
NODE = "OPENSEARCH_PORT={node_port}"  # scripts/opensearch finds the session's node running
THROUGHPUT = r"Throughput: [\d.]+ events/s"
# The report benchmark at 300 documents, the dashboard one at 2,000 (seconds, not the hours of
# the defaults), both on the session's node (OPENSEARCH_URL), results into {tmp}.
BENCH_REPORT = "--sizes 300 --runs 2 --results {tmp}/r.json"
BENCH_DASHBOARD = "--docs 2000 --runs 2 --index {new_prefix}-000001 --results {tmp}/d.json"
REPORT_TABLE = r"\n\s+300\s+[\d.]+\s+\d+\s+[\d.]+/[\d.]+\s*s"  # N, B/doc, docs/s, p50/p95
# One reduced `make demo` proves both documented forms (`--stop` stops only a node the demo
# started itself, never the session's) and feeds `report --rates`, which needs the sampler's
# exposure documents the demo writes: one demo run instead of three.
DEMO_RUN = Smoke(
    f'make demo DEMO_ARGS="{DEMO} --stop" && spot-insights report --rates --last 7d --json --index-prefix {{new_prefix}}',
    prints=THROUGHPUT,
    timeout=600,
)
# `make bench` runs bench_ingest.py, bench_dashboard.py and bench_report.py: the same run proves
# the two scripts' documented direct forms (their shebang and arguments via --help).
BENCH_RUN = f'make bench BENCH_ARGS="--sizes 10 --import-runs 1 --results {{tmp}}/b.json" BENCH_DASHBOARD_ARGS="{BENCH_DASHBOARD}" BENCH_REPORT_ARGS="{BENCH_REPORT}" && scripts/bench_ingest.py --help && scripts/bench_report.py --help'
# `make chaos` starts its own node, kills and reboots it (minutes); tests/chaos/test_disruptions.py
# runs the reduced storm through the same runner with every fault asserted, so here the make
# target and the runner's argument parsing are smoke-run (`--help`), not a second node boot.
CHAOS_HELP = Smoke(
    "make chaos CHAOS_ARGS=--help", prints=r"usage: python -m spot_cli.chaos[\s\S]*--reduced"
)

# Every family of {new_prefix} provisioned by the deploy-time code (empty: the report's tables
# are empty and the advisor context stale).
PROVISION_NEW = "import os; from lambda_src.provisioning.local import provision; provision(os.environ['OPENSEARCH_URL'], (os.environ['OPENSEARCH_USER'], os.environ['OPENSEARCH_PASSWORD']), ca_certs=os.environ.get('OPENSEARCH_CA_CERTS'), prefix='{new_prefix}')"

# fmt: off
SMOKE: dict[str, Smoke] = {
    # -- make targets (`make test` runs one small test file: no recursion into this suite)
    "make setup": Smoke(prints=r"scripts/system-deps"),
    "make system-deps": Smoke(prints=r"scripts/system-deps"),
    "make synth": Smoke(prints=r"Templates written to cdk.out/", timeout=600),
    "make test": Smoke('make test PYTEST_ARGS="tests/test_moto_server.py -q"', prints=r"\d+ passed"),
    "make lint": Smoke(prints=r"files? already formatted"),
    "make bench": Smoke(BENCH_RUN, prints=r"\| 10 \| 5 \| 1 \(1\)[\s\S]*slowest panel p95[\s\S]*report p50/p95 per window", writes=("{tmp}/b.json", "{tmp}/d.json", "{tmp}/r.json")),
    "make bench-report": Smoke(f'make bench-report BENCH_REPORT_ARGS="{BENCH_REPORT}"', prints=REPORT_TABLE, writes="{tmp}/r.json"),
    "make chaos": CHAOS_HELP,
    "make chaos CHAOS_ARGS=--reduced": CHAOS_HELP,
    'make chaos CHAOS_ARGS="--only kill-node --events 500 --json"': CHAOS_HELP,
    'make chaos CHAOS_ARGS="--only kill-handler"': CHAOS_HELP,
    "python -m spot_cli.chaos --reduced --json": Smoke("python -m spot_cli.chaos --help", prints=r"--json\s+machine-readable output"),
    "make demo": DEMO_RUN,
    'make demo DEMO_ARGS="--events 300 --stop"': DEMO_RUN,
    "make opensearch": Smoke(f"{NODE} make opensearch", prints=r"cluster (green|yellow)"),
    "make opensearch-stop": Smoke("OPENSEARCH_PORT={free_port} make opensearch-stop", prints=r"not running on port"),
    "make clean": Smoke("mkdir {tmp}/cdk.out && make -f {root}/Makefile -C {tmp} clean && test ! -e {tmp}/cdk.out", prints=r"rm -rf cdk.out"),
    # -- scripts/
    "scripts/opensearch": Smoke("scripts/opensearch --help", prints=r"usage: scripts/opensearch"),
    "scripts/opensearch up": Smoke(f"{NODE} scripts/opensearch up", prints=r"cluster (green|yellow)"),
    "scripts/opensearch env": Smoke(prints=r"export OPENSEARCH_URL="),
    "scripts/opensearch fetch --refresh": Smoke(prints=r"opensearch-security.* -> /", timeout=600),
    "scripts/system-deps": Smoke(prints=None),
    "scripts/bench_demo.py": Smoke('scripts/bench_demo.py --in-place --events 12 --demo-args "--regions us-east-1 --index-prefix {new_prefix}" --results {tmp}/d.json', prints=r"make demo: [\d.]+ s", writes="{tmp}/d.json"),
    "scripts/time_command.py NAME -- COMMAND": Smoke("scripts/time_command.py smoke --repeat 2 --results {tmp}/t.json -- spot-insights --help", prints=r"run 2: [\d.]+ s", writes="{tmp}/t.json"),
    "scripts/figures.py": Smoke("scripts/figures.py --check", prints=r"docs/ingest.md: up to date"),
    "scripts/bench_report.py": Smoke(BENCH_RUN, prints=REPORT_TABLE, writes="{tmp}/r.json"),
    "scripts/build_dashboard.py": Smoke("scripts/build_dashboard.py --check", prints=None),
    "scripts/bench_ingest.py --sizes 10,100": Smoke(BENCH_RUN, prints=r"Handler import \(cold start\)", writes="{tmp}/b.json"),
    "scripts/bench_backfill.py": Smoke("scripts/bench_backfill.py --events 60 --results {tmp}/bf.json", prints=r'"events_per_second_written": [\d.]+', writes="{tmp}/bf.json"),
    # -- python -m
    ".venv/bin/python -m tests.proxy.bench_proxy 500": Smoke(".venv/bin/python -m tests.proxy.bench_proxy 5 --results {tmp}/p.json", prints=r"/health .*median=", writes="{tmp}/p.json"),
    "python -X importtime -m spot_cli --help": Smoke(prints=r"import time:.*spot_cli\.main"),
    ".venv/bin/python -m tests.proxy.probes": Smoke(prints=r"\d+ probes, 0 reached the upstream outside /_dashboards"),
    # -- spot-insights (local forms; SigV4 and real buses need an account, basic auth does not)
    "spot-insights": Smoke("spot-insights --help", prints=r"usage: spot-insights"),
    "spot-insights --help": Smoke(prints=r"usage: spot-insights"),
    "spot-insights report": Smoke("spot-insights report --index-prefix {prefix}", prints=r"(?i)interruptions"),
    "spot-insights report --html spot-insights.html": Smoke("spot-insights report --index-prefix {prefix} --html {tmp}/spot-insights.html && grep -c '<svg\\|<table' {tmp}/spot-insights.html", prints=r"(?m)^[1-9]\d*$"),
    "spot-insights report --endpoint https://<DomainEndpoint> --last 24h": Smoke('spot-insights report --endpoint "$OPENSEARCH_URL" --last 24h --index-prefix {prefix}', prints=r"(?i)interruptions"),
    "spot-insights report --endpoint https://search-x.eu-west-1.es.amazonaws.com --last 24h": Smoke('spot-insights report --endpoint "$OPENSEARCH_URL" --last 24h --index-prefix {prefix}', prints=r"(?i)interruptions"),
    "spot-insights report --scorecard --horizon 2h": Smoke("spot-insights report --index-prefix {prefix} --scorecard --horizon 2h", prints=r"Rebalance scorecard by pool[\s\S]*\(all\)"),
    "spot-insights report --last 7d --region us-west-2 --json": Smoke("spot-insights report --last 7d --region us-west-2 --json --index-prefix {prefix}", prints=r'"warnings": \d+'),
    # Rates need the sampler's exposure documents: the reduced demo writes both families.
    "spot-insights report --rates --last 7d": dataclasses.replace(DEMO_RUN, prints=r'"instance_hours": [1-9]'),
    "scripts/bench_sampler.py --days 3": Smoke("scripts/bench_sampler.py --days 1 --groups 5 --runs 1", prints=r'"bytes_per_document": [\d.]+'),
    "spot-insights report --market": Smoke(f"python -c {PROVISION_NEW!r} && spot-insights report --market --json --index-prefix {{new_prefix}}", prints=r'"advisor_stale": true'),
    "scripts/bench_market.py": Smoke("scripts/bench_market.py --days 2 --pools 5", prints=r'"bytes_per_document": [\d.]+'),
    "spot-insights simulate --count 20 --region eu-west-1 --discover --rebalance-lead 5m": Smoke("spot-insights simulate --count 20 --region eu-west-1 --rebalance-lead 5m --dry-run", prints=r"spot-insights\.simulate"),
}

# Documented commands that cannot run without an AWS account, with the reason. Their code paths
# are tested offline where the reason says so.
NEEDS_AWS: dict[str, str] = {
    'spot-insights redrive --dlq "$DLQ_URL"': "needs the deployed dead-letter queue; moto lacks StartMessageMoveTask (the copy path is tested in tests/cli against moto)",
    "spot-insights redrive --dlq <url|arn|name> [--queue ...]": "synopsis of the redrive command above: needs the deployed queues",
    "spot-insights backfill --days 90 --regions us-east-1,eu-west-1 --endpoint https://<DomainEndpoint>": "reads CloudTrail's event history (LookupEvents), which moto lacks: tests/backfill runs the command in-process against moto, a real node and an HTTP double of LookupEvents, and scripts/bench_backfill.py is smoke-run",
    "spot-insights preflight": "asks a real account (STS, SSM, IAM, ACM, EC2, OpenSearch, Service Quotas); moto lacks SimulatePrincipalPolicy, ListInstanceTypeDetails and the es quotas, so tests/cli/test_preflight.py runs the command in-process against moto plus recorded responses (Stubber); `preflight --help` is smoke-run by test_every_subcommand_has_help",
    ".venv/bin/spot-insights preflight -c certificateArn=arn:aws:acm:... -c allowedCidrs=203.0.113.0/24": "the preflight above with a real certificate ARN: needs the account that holds it",
}

# Inline code that starts like a command but is not one.
NOT_COMMANDS: dict[str, str] = {}
# fmt: on
