"""Which modules Python files import, read from their syntax trees (nothing is imported).

The import-boundary rules (tests/test_code_rules.py, tests/cli/test_boundaries.py) and the
benchmark rule (tests/docs/test_benchmarks.py) all read imports this one way."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_names(path: Path) -> set[str]:
    """Every import in the file, at any depth (functions' lazy imports too).

    `import a.b` gives "a.b"; `from a.b import c` gives "a.b.c" (whether `c` is a module or a
    name defined in `a.b`, it comes from inside `a.b`); a relative import keeps its leading
    dots ("..x.y")."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            separator = "" if base.endswith(".") else "."
            names.update(f"{base}{separator}{alias.name}" for alias in node.names)
    return names


def imports_under(directory: Path) -> dict[Path, set[str]]:
    """`imported_names` of every .py file below `directory`."""
    return {path: imported_names(path) for path in sorted(directory.rglob("*.py"))}


def top_level(names: set[str]) -> set[str]:
    """The distributions' top-level packages among absolute imports ("a.b.c" -> "a")."""
    return {name.split(".")[0] for name in names if not name.startswith(".")}


def is_within(name: str, module: str) -> bool:
    """True when `name` is `module` itself or something inside it."""
    return name == module or name.startswith(f"{module}.")
