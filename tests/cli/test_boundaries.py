"""spot_cli must start fast and run without the CDK: no aws_cdk, directly or via spot_insights.

(The Lambda code is allowed: the CLI runs the real handler and provisioner locally, and both
import `lambda_src.contract` for the names they share with the constructs.)

And nothing outside tests/ changes the process environment or the import path."""

import ast
from pathlib import Path

import pytest

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


MUTATORS = {
    "update",
    "setdefault",
    "pop",
    "popitem",
    "clear",
    "insert",
    "append",
    "extend",
    "remove",
}


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


def _outside_tests() -> dict[str, Path]:
    """Every Python file that is not a test: app.py, the scripts (with or without `.py`) and
    the three packages, by path relative to the checkout."""
    scripts = [
        path
        for path in (ROOT / "scripts").iterdir()
        if path.is_file()
        and (path.suffix == ".py" or "python" in path.read_text().partition("\n")[0])
    ]
    files = [ROOT / "app.py", *scripts]
    for package in ("spot_cli", "spot_insights", "lambda_src"):
        files += (ROOT / package).rglob("*.py")
    return {path.relative_to(ROOT).as_posix(): path for path in files}


def _offenders(kind: str) -> list[str]:
    return [
        f"{relative}:{node.lineno} {found}"
        for relative, path in sorted(_outside_tests().items())
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if (found := _mutation(node)) and found.startswith(kind)
    ]


def test_the_checks_cover_the_scripts_app_py_and_every_package():
    files = _outside_tests()
    assert {
        "app.py",
        "scripts/bench_ingest.py",
        "scripts/bench_demo.py",
        "scripts/opensearch",
        "spot_cli/chaos/runner.py",
        "spot_cli/chaos/handler_process.py",
        "lambda_src/ingest/config.py",
        "spot_insights/stack.py",
    } <= set(files)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('os.environ["A"] = "1"', "os.environ"),
        ('del os.environ["A"]', "os.environ"),
        ('os.environ |= {"A": "1"}', "os.environ"),
        ('os.environ.setdefault("A", "1")', "os.environ.setdefault"),
        ('os.environ.pop("A", None)', "os.environ.pop"),
        ("os.environ.update(env)", "os.environ.update"),
        ('os.putenv("A", "1")', "os.putenv"),
        ('sys.path.insert(0, "x")', "sys.path.insert"),
        ('os.environ.get("A")', None),
        ("env = dict(os.environ)", None),
    ],
)
def test_the_check_tells_a_write_from_a_read(source: str, found: str | None) -> None:
    assert [hit for node in ast.walk(ast.parse(source)) if (hit := _mutation(node))] == (
        [found] if found else []
    )


def test_nothing_outside_tests_changes_the_environment():
    """The demo, the chaos runs (their handler process too) and the benchmarks build the ingest
    handler from a configuration object and send AWS calls to moto through their own session;
    a child process gets its environment as an argument; app.py's jsii variables come from the
    command that runs it (cdk.json, the Makefile). No `os.environ` writes."""
    assert _offenders("os.") == []


def test_no_shipped_code_or_script_edits_the_import_path():
    """`make setup` installs the checkout (editable, compat mode) so scripts/ imports the
    packages and tests/support like any module: nothing outside tests/ edits `sys.path`."""
    assert _offenders("sys.path") == []
