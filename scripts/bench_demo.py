#!/usr/bin/env python3
"""Time `make demo` as a newcomer runs it: a fresh clone, `make setup`, then `make demo`.

    scripts/bench_demo.py [--events 5000] [--repo .] [--results docs/results/demo.json]

Clones --repo (default: this checkout's HEAD) into a temporary directory, times `make setup`
(setup), then `make demo` (setup already done: the OpenSearch node start, provisioning, fleet,
storm, drain, checks and report), and writes both with the demo's own summary and the load
average before and after each step. Download caches (pip, npm, the OpenSearch cache of
scripts/opensearch) are the machine's: a machine that never ran `make setup` also downloads.

The demo's node runs on a free port and is stopped at the end (`--stop`), so a node another
checkout runs on :9200 is neither reused nor emptied. `--in-place` skips the clone and times
`make demo` in this checkout (a quick check of this script, not a fresh-clone figure; there a
node named by OPENSEARCH_URL is used, and --demo-args can pass e.g. an --index-prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.bench_results import default_path, load_average, write_results
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    print(f"$ {shlex.join(command)}", file=sys.stderr, flush=True)
    before = load_average()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"{shlex.join(command)} exited {result.returncode}")
    return {
        "command": shlex.join(command),
        "seconds": round(seconds, 1),
        # User + system CPU of the step's processes that it waited for (make, the CLI, the
        # moto replica; not an OpenSearch node left running in the background): load on a
        # shared machine stretches the wall clock far more than this.
        "cpu_seconds": round(
            cpu.ru_utime - cpu_before.ru_utime + cpu.ru_stime - cpu_before.ru_stime, 1
        ),
        "load_before": before,
        "load_after": load_average(),
        "stdout": result.stdout,
    }


def demo_summary(stdout: str) -> dict[str, Any]:
    """The run summary `spot-insights demo --json` printed (make echoes its recipe first)."""
    start = stdout.find("\n{")
    document = json.loads(stdout[start + 1 :] if start >= 0 else stdout)
    return document["run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repo", default=str(ROOT), help="what to clone (default: this checkout)")
    parser.add_argument("--results", type=Path, default=default_path("demo"))
    parser.add_argument("--in-place", action="store_true", help="no clone, no setup step")
    parser.add_argument("--demo-args", default="", help="more `spot-insights demo` options")
    args = parser.parse_args()

    # The steps' environment: no outer make's flags, and on a newcomer's machine no node to
    # reuse (the demo starts its own).
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
        and (args.in_place or not key.startswith("OPENSEARCH_"))
    }
    port = free_port()
    demo_args = f"--events {args.events} --json --stop --port {port} {args.demo_args}".strip()
    workdir = Path(tempfile.mkdtemp(prefix="spot-demo-bench-"))
    try:
        if args.in_place:
            checkout, setup = ROOT, None
        else:
            checkout = workdir / "clone"
            subprocess.run(
                ["git", "clone", "--quiet", args.repo, str(checkout)], env=env, check=True
            )
            setup = timed(["make", "setup"], checkout, env)
        demo = timed(["make", "demo", f"DEMO_ARGS={demo_args}"], checkout, env)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    try:
        summary = demo_summary(demo["stdout"])
    except (ValueError, KeyError):
        sys.stderr.write(demo["stdout"][-4000:])
        raise SystemExit("make demo printed no run summary") from None
    figures: dict[str, Any] = {
        "events": args.events,
        "fresh_clone": not args.in_place,
        "demo_seconds": demo["seconds"],
        "demo_cpu_seconds": demo["cpu_seconds"],
        "setup_seconds": setup["seconds"] if setup else None,
        "total_seconds": round(demo["seconds"] + setup["seconds"], 1) if setup else None,
        "demo_run": summary,
    }
    steps = [step for step in (setup, demo) if step]
    for step in steps:
        step.pop("stdout", None)
    print(
        f"make setup: {figures['setup_seconds']} s; make demo: {figures['demo_seconds']} s; "
        f"together: {figures['total_seconds']} s ({summary['events']} events, "
        f"{summary['indexed']} indexed, pipeline {summary['seconds']['drain']} s of publish + "
        f"drain, {summary['seconds']['total']} s with setup and checks; make demo "
        f"{demo['cpu_seconds']} CPU s); "
        f"load average {steps[0]['load_before']} -> {steps[-1]['load_after']}"
    )
    write_results(
        args.results,
        command=shlex.join(["scripts/bench_demo.py", *sys.argv[1:]]),
        figures=figures,
        steps=steps,
    )


if __name__ == "__main__":
    main()
