#!/usr/bin/env python3
"""Render the measured figures in README.md, docs/*.md and folder READMEs from docs/results/.

    scripts/figures.py [--check]

Rewrites every `<!-- figures: NAME -->...<!-- /figures -->` span (renderers and the results
file each reads: tests/support/figures.py) and prints what it changed. `--check` changes
nothing and exits 1 if a span is stale; the test suite runs the same check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.support.figures import documents, rendered, spans

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale figures")
    args = parser.parse_args(argv)
    stale = []
    for path in documents():
        text = path.read_text()
        new = rendered(text)
        names = ", ".join(name for name, _ in spans(text))
        if new == text:
            if names:
                print(f"{path.relative_to(ROOT)}: up to date ({names})")
            continue
        stale.append(path)
        if not args.check:
            path.write_text(new)
        print(f"{path.relative_to(ROOT)}: {'stale' if args.check else 'rewritten'} ({names})")
    if args.check and stale:
        print("run scripts/figures.py to render them from docs/results/", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
