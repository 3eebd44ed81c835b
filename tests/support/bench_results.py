"""Benchmark results with provenance: every benchmark writes one JSON file under docs/results/
holding its figures, the exact command, the date and the machine it ran on (cores, CPU model,
Python, load average). scripts/figures.py renders the docs' figures from these files only, so
a figure in the docs is always one a command printed."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "docs" / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    """What decides how far a figure carries to another machine. The load average matters
    here: the development machine is shared, and other people's work slows every figure."""
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_average_1_5_15": load_average(),
    }


def git_commit() -> str | None:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def default_path(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


def write_results(path: Path, *, command: str, figures: dict[str, Any], **extra: Any) -> Path:
    """Write `figures` with their provenance to `path` and say so on stderr."""
    record = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        **extra,
        "figures": figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"results: {display(path)}", file=sys.stderr)
    return path


def read_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
