#!/usr/bin/env python3
"""Time a documented command and record the result with its provenance.

    scripts/time_command.py NAME [--repeat N] [--results PATH] -- COMMAND [ARGS...]

Runs COMMAND N times (default 1) from the repository root, fails if any run exits non-zero,
prints each run's wall time, and writes docs/results/NAME.json (or --results): the command,
each run's seconds, each run's standard output parsed as JSON when it is JSON, the last lines
of the last run's output, and the machine (cores, CPU, Python, load average). The docs quote
these files through scripts/figures.py; see tests/support/figures.py.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from tests.support.bench_results import default_path, write_results

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="results file name, without .json")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--results", type=Path)
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("give the command after --")
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    seconds: list[float] = []
    outputs: list[object] = []
    stdout = ""
    for run in range(1, args.repeat + 1):
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        seconds.append(round(time.perf_counter() - started, 3))
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
            print(f"run {run}: exit {result.returncode}", file=sys.stderr)
            return 1
        stdout = result.stdout
        try:
            outputs.append(json.loads(stdout))
        except ValueError:
            outputs.append(None)
        print(f"run {run}: {seconds[-1]:.3f} s")
    write_results(
        args.results or default_path(args.name),
        command=shlex.join(["scripts/time_command.py", *argv]),
        figures={
            "command": shlex.join(command),
            "runs_seconds": seconds,
            "outputs": outputs,
            "stdout_tail": stdout.strip().splitlines()[-3:],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
