"""Project rules that CI enforces: ruff clean, the import boundaries between the packages, and
no environment read while lambda_src imports.

lambda_src is the Lambda asset and never imports the CDK; the constructs import nothing of it
but `lambda_src.contract`, the names both sides agree on, which itself needs only the standard
library (so importing it drags neither the CDK nor boto3 anywhere)."""

import json
import os
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


# Imports every module of lambda_src with an os.environ that records each read made directly
# by lambda_src code; Powertools, boto3 and the like may read theirs (their own business).
_IMPORT_WITH_POISONED_ENVIRON = """
import collections.abc, importlib, json, os, pkgutil, sys

reads = []

class Recording(collections.abc.MutableMapping):
    def __init__(self, real):
        self._real = real
    def _note(self, key):
        frame = sys._getframe(2)
        # Mapping.get and os.getenv call __getitem__: the reader is the first frame outside.
        while frame and frame.f_globals.get("__name__") in {"os", "collections.abc"}:
            frame = frame.f_back
        module = frame.f_globals.get("__name__", "") if frame else ""
        if module.split(".")[0] == "lambda_src":
            reads.append(f"{module}:{frame.f_lineno} reads {key}")
    def __getitem__(self, key):
        self._note(key)
        return self._real[key]
    def __contains__(self, key):
        self._note(key)
        return key in self._real
    def __iter__(self):
        self._note("(all)")
        return iter(self._real)
    def __len__(self):
        return len(self._real)
    def __setitem__(self, key, value):
        self._real[key] = value
    def __delitem__(self, key):
        del self._real[key]

os.environ = Recording(os.environ)
import lambda_src
for module in pkgutil.walk_packages(lambda_src.__path__, "lambda_src."):
    importlib.import_module(module.name)
print(json.dumps(reads))
"""


def _import_time_reads(root: Path) -> list[str]:
    """The environment reads lambda_src code under `root` makes while its modules import."""
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITH_POISONED_ENVIRON],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_no_lambda_code_reads_the_environment_at_import_time() -> None:
    # Configuration is read once, when the handler first runs (IngestConfig.from_env), so a
    # local run can hand the handler a configuration object instead of setting variables.
    assert _import_time_reads(ROOT) == []


def test_the_environment_check_sees_an_import_time_read(tmp_path: Path) -> None:
    # The check above must be able to fail: a module like events.py before issue 11.
    package = tmp_path / "lambda_src"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "reads.py").write_text('import os\nSOURCES = os.environ.get("ACCEPTED_SOURCES")\n')
    assert _import_time_reads(tmp_path) == ["lambda_src.reads:2 reads ACCEPTED_SOURCES"]


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


def test_the_default_index_prefix_is_written_in_one_module() -> None:
    """Every package takes the default prefix (and the alias and pattern derived from it) from
    lambda_src/contract.py; a second copy is how names drift apart."""
    from lambda_src.contract import DEFAULT_INDEX_PREFIX  # noqa: PLC0415

    files = [ROOT / "app.py", *(ROOT / "scripts").glob("*.py")]
    for package in ("spot_cli", "spot_insights", "lambda_src"):
        files += (ROOT / package).rglob("*.py")
    holders = sorted(
        path.relative_to(ROOT).as_posix()
        for path in files
        if DEFAULT_INDEX_PREFIX in path.read_text()
    )
    assert holders == ["lambda_src/contract.py"]
