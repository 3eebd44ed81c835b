"""Project rules that CI enforces: ruff clean, and the Lambda/CDK import boundary."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> dict[Path, set[str]]:
    """Full dotted names of the absolute imports in each module of `package`."""
    found: dict[Path, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


def _top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_lambda_code_never_imports_cdk() -> None:
    offenders = [
        p
        for p, names in _imports("lambda_src").items()
        if _top_level(names) & {"aws_cdk", "constructs", "cdk_nag"}
    ]
    assert offenders == []


def test_constructs_import_only_the_contract_from_lambda_code() -> None:
    # lambda_src.contract imports neither aws_cdk nor boto3: it holds the names both sides share.
    offenders = {
        path: sorted(n for n in names if _top_level({n}) == {"lambda_src"})
        for path, names in _imports("spot_insights").items()
    }
    assert {p: n for p, n in offenders.items() if set(n) - {"lambda_src.contract"}} == {}


def test_the_contract_imports_only_the_standard_library() -> None:
    [names] = [n for p, n in _imports("lambda_src").items() if p.name == "contract.py"]
    assert names <= {"__future__", "re", "typing"}


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
