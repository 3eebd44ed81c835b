"""The docs' measured figures, rendered from the results files in docs/results/.

A figure in README.md, docs/*.md, dashboards/README.md or nginx/README.md lives between two
markers:

    <!-- figures: NAME -->
    ...rendered text...
    <!-- /figures -->

NAME picks a renderer below and the results file it reads. `scripts/figures.py` rewrites every
such span from the results files; tests/docs/test_figures.py fails when a span differs from what
its results file renders (tolerance: none, the text is generated), when a results file lacks its
provenance, or when a doc quotes a measured time outside a span. Each span names its results
file and the command that wrote it.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.bench_results import RESULTS_DIR, ROOT, read_results

SPAN = re.compile(r"(<!-- figures: (?P<name>[\w-]+) -->)(?P<body>.*?)(<!-- /figures -->)", re.S)
DOCS = ("README.md", "docs/*.md", "dashboards/README.md", "nginx/README.md")


def documents() -> list[Path]:
    return sorted({path for pattern in DOCS for path in ROOT.glob(pattern)})


def provenance(record: dict[str, Any], results: str) -> str:
    m = record["machine"]
    load = " / ".join(f"{value:.1f}" for value in m["load_average_1_5_15"])
    return (
        f"Source: `docs/results/{results}`, written by `{record['command']}` on "
        f"{record['date'][:10]} ({m['cores']} cores, {m['cpu_model']}, Python {m['python']}; "
        f"load average {load} when it finished)."
    )


def load_during(record: dict[str, Any]) -> str:
    """The 1-minute load average over the run: from its steps when it recorded them."""
    samples = [
        value[0]
        for step in record.get("steps", [])
        for value in step.values()
        if isinstance(value, list)
    ]
    if len(samples) > 1:
        return f"1-minute load average {min(samples):.0f}-{max(samples):.0f} during the run"
    return f"load average {record['machine']['load_average_1_5_15'][0]:.1f} when it finished"


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.0f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


# -- renderers: results record -> Markdown ---------------------------------------------------


def render_bench_ingest(record: dict[str, Any]) -> str:
    f = record["figures"]
    imp = f["import_ms"]
    lines = [
        f"Handler import (cold start): median {imp['median']} ms, max {imp['max']} ms over "
        f"{imp['runs']} fresh interpreters (target < 300 ms)",
        "",
        "| N events | unique instances | DescribeInstances (target) | DescribeAZs | "
        "Auto Scaling | OpenSearch _bulk (largest body) | link searches | "
        "other OpenSearch requests | "
        "handler ms/event | records retried |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in f["sizes"]:
        lines.append(
            f"| {r['events']:,} | {r['unique_instances']:,} | {r['ec2']} ({r['target']}) | "
            f"{r['zones']} | {r['autoscaling']} | {r['bulk']} ({r['max_bulk_mb']:.2f} MB) | "
            f"{r['link_searches']} | {r['other_os']} | {r['ms_per_event']:.2f} | "
            f"{r.get('records_retried', 0)} |"
        )
    faults = f["fault_cases"]
    lines += [
        "",
        "Records retried: reported as failed without an injected fault (a request timing out on "
        "the loaded machine) and delivered again, as SQS would; their time is in ms/event.",
        "",
        "Faults (1st delivery under the fault, then the reported messages and then everything "
        "delivered again): reported / lost / duplicated",
        "",
        "| N events | " + " | ".join(faults) + " |",
        "|---:|" + "---|" * len(faults),
    ]
    for r in f["sizes"]:
        cells = " | ".join("{} / {} / {}".format(*r["faults"][name]) for name in faults)
        lines.append(f"| {r['events']:,} | {cells} |")
    first = f["sizes"][0]
    lines += [
        "",
        f"N = {first['events']:,} includes the first invocation building the boto3 session, "
        f"EC2 client and OpenSearch client ({first['first_invocation_seconds']:.2f} s, paid "
        "once per container).",
    ]
    return "\n".join(lines)


def render_bench_proxy(record: dict[str, Any]) -> str:
    f = record["figures"]
    rows = [
        ("nginx `-t` + start until listening", f"{f['start_ms']:.0f} ms", ""),
        *(
            (label, f"{t['median_ms']:.2f} ms", f"{t['p95_ms']:.2f} ms")
            for label, t in (
                ("`/health` (answered by nginx)", f["health"]),
                ("`/_dashboards/…` (proxied, verified TLS to the upstream)", f["proxied"]),
            )
        ),
    ]
    lines = ["| | median | p95 |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += [
        "",
        f"{f['requests']} requests per path; DNS queries for the upstream name: "
        f"{f['dns_queries']}.",
    ]
    return "\n".join(lines)


def render_demo_readme(record: dict[str, Any]) -> str:
    f = record["figures"]
    run = f["demo_run"]
    accounts = len(run.get("accounts", {}).get("by_account", {})) or 1
    clone = (
        f"{_seconds(f['total_seconds'])} from a fresh clone with `make setup`, "
        if f.get("total_seconds") is not None
        else ""
    )
    return (
        f"{clone}{_seconds(f['demo_seconds'])} with setup already done ({run['events']:,} "
        f"events, {accounts} account{'s' if accounts > 1 else ''}; the pipeline itself "
        f"{run['seconds']['total']} s, the `total` that `make demo` prints)"
    )


def render_demo_freshness(record: dict[str, Any]) -> str:
    fresh = record["figures"]["demo_run"]["freshness_seconds"]
    return (
        f"PutEvents to searchable over {fresh['events']:,} events: p50 {fresh['p50']} s, "
        f"p95 {fresh['p95']} s, p99 {fresh['p99']} s (max {fresh['max']} s)"
    )


def render_demo(record: dict[str, Any]) -> str:
    f = record["figures"]
    run = f["demo_run"]
    s = run["seconds"]
    steps = {step["command"].split()[1]: step for step in record["steps"]}
    load = " -> ".join(
        f"{steps[name]['load_before'][0]:.1f}" for name in ("setup", "demo") if name in steps
    )
    clone = f.get("setup_seconds") is not None
    lines = [
        "| what | number |",
        "| --- | --- |",
        *(
            [
                f"| `make setup` in a fresh clone (download caches warm) | "
                f"{_seconds(f['setup_seconds'])} |"
            ]
            if clone
            else []
        ),
        f"| {'then ' if clone else ''}`make demo` (starts OpenSearch, provisions, runs the "
        f"pipeline, checks, reports, stops the node) | {_seconds(f['demo_seconds'])} |",
        *(
            [f"| fresh clone to report, both together | {_seconds(f['total_seconds'])} |"]
            if clone
            else []
        ),
        f"| the pipeline inside `make demo`: setup / publish / drain (overlapping) / total | "
        f"{s['setup']} s / {s['publish']} s / {s['drain']} s / {s['total']} s |",
        f"| events, poison records, instances | {run['events']:,}, {run['poison_records']}, "
        f"{run['instances']:,} |",
        f"| documents indexed, missing, DLQ messages | {run['indexed']:,}, "
        f"{run['missing_event_ids']}, {sum(run['dead_letter_queue'].values())} |",
        f"| handler invocations, record failures retried | {run['invocations']}, "
        f"{run['failed_records']} |",
        f"| 1-minute load average at the start of each step (2 cores) | {load} |",
    ]
    if fresh := run.get("freshness_seconds"):
        lines.insert(
            -1,
            f"| freshness, PutEvents to searchable: p50 / p95 / p99 / max | {fresh['p50']} s / "
            f"{fresh['p95']} s / {fresh['p99']} s / {fresh['max']} s |",
        )
    if accounts := run.get("accounts"):
        documents = {
            account: ", ".join(f"{n:,} {kind}" for kind, n in sorted(entry["documents"].items()))
            for account, entry in accounts["by_account"].items()
        }
        lines.insert(
            -1,
            f"| accounts (documents by enrichment; wrong against ground truth: "
            f"{accounts['wrong_enrichment']}) | "
            + "; ".join(f"{a}: {d}" for a, d in documents.items())
            + " |",
        )
    return "\n".join(lines)


def render_timed(record: dict[str, Any]) -> str:
    f = record["figures"]
    runs = f["runs_seconds"]
    spread = f"{min(runs):.2f}-{max(runs):.2f} s" if len(runs) > 1 else ""
    return f"`{f['command']}`: median {statistics.median(runs):.2f} s over {len(runs)} runs" + (
        f" ({spread})" if spread else ""
    )


def render_cli_help(record: dict[str, Any]) -> str:
    return render_timed(record) + " (wall time, fresh interpreter each run)"


def render_domain_tests(record: dict[str, Any]) -> str:
    f = record["figures"]
    tail = " ".join(f["stdout_tail"])
    passed = re.search(r"(\d+) passed", tail)
    count = passed.group(1) if passed else "?"
    return f"`{f['command']}` runs {count} tests in {_seconds(f['runs_seconds'][0])}"


def render_bench_dashboard(record: dict[str, Any]) -> str:
    f = record["figures"]
    panels = f["panels"]
    slowest = max(panels, key=lambda row: row["p95_ms"])
    warnings = " / ".join(f"{count:,}" for count in f["warnings_in_range"].values())
    lines = [
        "| documents | index size | warnings in last 7 d / 90 d | slowest panel p95 | "
        "every panel p50 under |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {f['documents']:,} | {f['index_bytes'] / 2**20:.1f} MiB | {warnings} | "
        f"**{slowest['p95_ms']:.0f} ms** ({slowest['panel']}, {slowest['range']}) | "
        f"{max(row['p50_ms'] for row in panels):.0f} ms |",
        "",
        f"{len({row['panel'] for row in panels})} panels x {len(f['warnings_in_range'])} ranges, "
        f"{f['runs']} timed runs each after 2 warm-up runs.",
    ]
    return "\n".join(lines)


def render_bench_report(record: dict[str, Any]) -> str:
    f = record["figures"]
    lines = [
        "| documents | bytes / document (primary store) | indexing rate | "
        "report `--last 7d` p50 / p95 | `--last 90d` | all time | load average before -> after |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in f["sizes"]:
        windows = " | ".join(
            f"{r['p50_s']:.2f} / {r['p95_s']:.2f} s" for r in row["report"].values()
        )
        lines.append(
            f"| {row['documents']:,} | **{row['bytes_per_document']:.0f}** | "
            f"{row['documents_per_second']:,} docs/s | {windows} | "
            f"{row['loadavg_before'][0]:.0f} -> {row['loadavg_after'][0]:.0f} |"
        )
    return "\n".join(lines)


def render_bench_report_sizing(record: dict[str, Any]) -> str:
    f = record["figures"]
    rates = list(f["sizing"][0]["days_at"]) if f["sizing"] else []
    lines = [
        f"From {f['sizes'][-1]['bytes_per_document']:.0f} bytes per document:",
        "",
        "| profile | data nodes x disk, replicas | primary data it holds | events | "
        + " | ".join(f"days at {int(rate):,}/day" for rate in rates)
        + " |",
        "|---|---|---:|---:|" + "---:|" * len(rates),
    ]
    for row in f["sizing"]:
        days = " | ".join(f"{d:,}" for d in row["days_at"].values())
        lines.append(
            f"| `{row['profile']}` | {row['data_nodes']} x {row['volume_gib']} GiB, "
            f"{row['replicas']} | {row['primary_gib']} GiB | {row['events'] / 1e6:.1f} M | {days} |"
        )
    return "\n".join(lines)


def render_bench_backfill(record: dict[str, Any]) -> str:
    f = record["figures"]
    return "\n".join(
        [
            "| regions | evictions (documents) | pages / requests | total | write path | "
            "written per second |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {f['regions']} | {f['events']:,} ({f['documents']:,}) | {f['pages']} / "
            f"{f['requests']} | {f['seconds']:.1f} s | {f['write_seconds']:.1f} s | "
            f"{f['events_per_second_written']:,.0f} events/s |",
        ]
    )


@dataclass(frozen=True)
class Renderer:
    results: str  # file name in docs/results/
    render: Callable[[dict[str, Any]], str]
    block: bool = True  # a paragraph of its own (with the provenance line) or inline


RENDERERS: dict[str, Renderer] = {
    "bench_ingest": Renderer("bench_ingest.json", render_bench_ingest),
    "bench_proxy": Renderer("bench_proxy.json", render_bench_proxy),
    "demo": Renderer("demo.json", render_demo),
    "demo-readme": Renderer("demo.json", render_demo_readme, block=False),
    "demo-freshness": Renderer("demo.json", render_demo_freshness, block=False),
    "cli_help": Renderer("cli_help.json", render_cli_help),
    "domain_tests": Renderer("domain_tests.json", render_domain_tests, block=False),
    "bench_dashboard": Renderer("bench_dashboard.json", render_bench_dashboard),
    "bench_report": Renderer("bench_report.json", render_bench_report),
    # 5M is a run of its own (about an hour of loading); sizing takes its bytes per document,
    # the largest measured, so the profile table errs on the side of less room.
    "bench_report-5m": Renderer("bench_report_5m.json", render_bench_report),
    "bench_report-sizing": Renderer("bench_report_5m.json", render_bench_report_sizing),
    "bench_backfill": Renderer("bench_backfill.json", render_bench_backfill),
}


def render(name: str, results_dir: Path = RESULTS_DIR) -> str:
    renderer = RENDERERS.get(name)
    if renderer is None:
        raise KeyError(f"no renderer for figures {name!r} (tests/support/figures.py)")
    record = read_results(results_dir / renderer.results)
    text = renderer.render(record)
    if not renderer.block:
        return (
            f"{text}; `docs/results/{renderer.results}`, `{record['command']}`, "
            f"{record['machine']['cores']} cores, {load_during(record)}"
        )
    return f"\n{text}\n\n{provenance(record, renderer.results)}\n"


def rendered(text: str, results_dir: Path = RESULTS_DIR) -> str:
    """`text` with every figures span re-rendered from its results file."""
    return SPAN.sub(lambda m: m.group(1) + render(m.group("name"), results_dir) + m.group(4), text)


def spans(text: str) -> list[tuple[str, str]]:
    return [(m.group("name"), m.group("body")) for m in SPAN.finditer(text)]


def outside_spans(text: str) -> str:
    return SPAN.sub("", text)


# Measured-looking durations: "about 2 minutes", "took 108 s", "runs in under 5 s".
# Configured values and bounds derived from them ("visibility timeout 5 s", "300 s grace
# period", "give up after ~35 s") are not flagged: no measuring word precedes them.
MEASURED = re.compile(
    r"(?i)\b(?:about|approximately|roughly|took|takes|measured|in under)\s*"
    r"(?:\d[\d,.]*|one|two|three|four|five|ten)\s*"
    r"(?:ms|s|sec|seconds?|min|minutes?|h|hours?)\b"
)


def unsourced_timings(text: str) -> list[str]:
    return [m.group(0) for m in MEASURED.finditer(outside_spans(text))]
