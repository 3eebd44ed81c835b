"""spot_cli must start fast and run without the CDK: no aws_cdk, directly or via spot_insights.

(The Lambda code is allowed: the CLI runs the real handler and provisioner locally, and both
import `lambda_src.contract` for the names they share with the constructs.)"""

import ast
from pathlib import Path

from tests.support.imports import imports_under, top_level

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"aws_cdk", "constructs", "cdk_nag", "spot_insights", "jsii"}


def test_spot_cli_never_imports_the_cdk_or_the_construct_library():
    offenders = {
        str(path.relative_to(ROOT)): sorted(bad)
        for path, names in imports_under(ROOT / "spot_cli").items()
        if (bad := FORBIDDEN & top_level(names))
    }
    assert offenders == {}


# The chaos runs still hand the handler's configuration to a child process through its
# environment (spot_cli/chaos/handler_process.py); everything else passes configuration objects.
ENVIRONMENT_EXEMPT = {"spot_cli/chaos"}
MUTATORS = {"update", "setdefault", "pop", "clear", "insert", "append", "extend", "remove"}


def _mutation(node: ast.AST) -> str | None:
    """`os.environ[...] = ...`, `os.environ.update(...)`, `sys.path.insert(...)` and the like."""

    def target(expr: ast.AST) -> str | None:
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            name = f"{expr.value.id}.{expr.attr}"
            return name if name in {"os.environ", "sys.path"} else None
        return None

    if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for item in targets:
            if isinstance(item, ast.Subscript) and (name := target(item.value)):
                return name
            if name := target(item):
                return name
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in MUTATORS and (name := target(node.func.value)):
            return f"{name}.{node.func.attr}"
        owner = node.func.value
        if (
            isinstance(owner, ast.Name)
            and owner.id == "os"
            and node.func.attr in {"putenv", "unsetenv"}
        ):
            return f"os.{node.func.attr}"
    return None


def test_spot_cli_never_changes_the_environment_or_the_import_path():
    """The demo builds the ingest handler from a configuration object and sends AWS calls to
    moto through its own session: no `os.environ` writes, no `sys.path` edits."""
    offenders = []
    for path in (ROOT / "spot_cli").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if any(relative.startswith(exempt) for exempt in ENVIRONMENT_EXEMPT):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if found := _mutation(node):
                offenders.append(f"{relative}:{node.lineno} {found}")
    assert offenders == []


def test_no_shipped_code_or_script_edits_the_import_path():
    """`make setup` installs the checkout (editable, compat mode) so scripts/ imports the
    packages and tests/support like any module: nothing outside tests/ edits `sys.path`."""
    files = [ROOT / "app.py", *(ROOT / "scripts").glob("*.py")]
    for package in ("spot_cli", "spot_insights", "lambda_src"):
        files += (ROOT / package).rglob("*.py")
    offenders = [
        f"{path.relative_to(ROOT).as_posix()}:{node.lineno} {found}"
        for path in files
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if (found := _mutation(node)) and found.startswith("sys.path")
    ]
    assert offenders == []
