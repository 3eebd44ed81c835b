"""Project rules that CI enforces: ruff clean, and the Lambda/CDK import boundary."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[path] = names
    return found


def test_lambda_code_never_imports_cdk() -> None:
    offenders = [
        p
        for p, names in _imports("lambda_src").items()
        if names & {"aws_cdk", "constructs", "cdk_nag"}
    ]
    assert offenders == []


def test_constructs_never_import_lambda_runtime_code() -> None:
    offenders = [p for p, names in _imports("spot_insights").items() if "lambda_src" in names]
    assert offenders == []


def test_ruff_clean() -> None:
    targets = [".", "scripts/opensearch"]
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert fmt.returncode == 0, fmt.stdout
