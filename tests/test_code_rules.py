"""Project rules that CI enforces: ruff clean, and the import boundaries between the packages.

lambda_src is the Lambda asset and never imports the CDK; the constructs import nothing of it
but `lambda_src.contract`, the names both sides agree on, which itself needs only the standard
library (so importing it drags neither the CDK nor boto3 anywhere)."""

import subprocess
import sys
from pathlib import Path

from tests.support.imports import imported_names, imports_under, is_within, top_level

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = "lambda_src.contract"
CDK = {"aws_cdk", "constructs", "cdk_nag", "jsii"}


def test_lambda_code_never_imports_cdk() -> None:
    offenders = [
        p for p, names in imports_under(ROOT / "lambda_src").items() if top_level(names) & CDK
    ]
    assert offenders == []


def test_constructs_import_nothing_of_the_lambda_code_but_the_contract() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in names
            if is_within(name, "lambda_src") and not is_within(name, CONTRACT)
        )
        for path, names in imports_under(ROOT / "spot_insights").items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_contract_needs_only_the_standard_library() -> None:
    roots = top_level(imported_names(ROOT / "lambda_src" / "contract.py"))
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots
    # And importing it runs nothing else of lambda_src that could (lambda_src/__init__.py).
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {CONTRACT}; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert top_level(set(loaded)) & (CDK | {"boto3", "botocore", "opensearchpy"}) == set()
    assert {m for m in loaded if is_within(m, "lambda_src")} == {"lambda_src", CONTRACT}


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
