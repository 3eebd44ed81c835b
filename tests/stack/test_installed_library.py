"""`pip install .` gives a usable construct library: a wheel built from a copy of the sources,
installed into a directory outside the repository, synthesizes docs/examples/reuse_stack.py
(`from spot_insights import IngestPipeline, SearchDomain, DashboardProxy`) from there, and the
template is the one the checkout gives: same Lambda asset, same provisioning content hash, same
nginx configuration, so the installed copy found every file it needs.

aws-cdk-lib comes from this venv (the wheel is installed with --no-deps into a --target
directory put first on PYTHONPATH); Lambda bundling is skipped as in the other synth tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "spot_cli", "spot_insights", "lambda_src", "dashboards", "nginx")
PACKAGE_ROOTS = ("spot_cli", "spot_insights", "lambda_src")
EXAMPLE = ROOT / "docs" / "examples" / "reuse_stack.py"
STACK = "TeamSpotAnalytics"
CONTEXT = {"aws:cdk:bundling-stacks": [], "aws:cdk:version-reporting": False}
PROBE = (
    "import json, spot_insights, lambda_src\n"
    "from spot_insights import IngestPipeline, SearchDomain, DashboardProxy\n"
    "print(json.dumps([spot_insights.__file__, lambda_src.__file__]))\n"
)


def _pip(*args: str, cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
        cwd=cwd,
        check=True,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy, so the build leaves nothing in the checkout."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in SOURCES:
        origin = ROOT / name
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=ignore)
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    _pip("wheel", "--no-deps", "--wheel-dir", str(work / "dist"), str(source), cwd=work)
    [built] = (work / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    _pip("install", "--no-deps", "--target", str(target), str(wheel), cwd=target)
    return target


def _run(script: Path | None, *, python_path: Path, cwd: Path, outdir: Path) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(python_path),
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps(CONTEXT),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    # -P: nothing from the working directory or the script's folder on sys.path.
    command = [sys.executable, "-P", *([str(script)] if script else ["-c", PROBE])]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _template(outdir: Path) -> dict[str, Any]:
    return json.loads((outdir / f"{STACK}.template.json").read_text())


def test_wheel_holds_every_package_and_the_files_the_constructs_read(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {
        path.parent.relative_to(ROOT).as_posix()
        for root in PACKAGE_ROOTS
        for path in (ROOT / root).rglob("__init__.py")
    }
    assert {p for p in packages if f"{p}/__init__.py" not in names} == set()
    assert {
        "lambda_src/requirements.txt",
        "lambda_src/contract.py",
        "spot_insights/_data/dashboards/index-mapping.json",
        "spot_insights/_data/dashboards/spot-insights-visualizations.ndjson",
        "spot_insights/_data/nginx/dashboards-proxy.conf.template",
    } <= names


def test_installed_copy_imports_from_outside_the_repository(installed: Path) -> None:
    [constructs_file, lambda_file] = json.loads(
        _run(None, python_path=installed, cwd=installed, outdir=installed / "unused")
    )
    for path in (constructs_file, lambda_file):
        assert Path(path).is_relative_to(installed)
        assert not Path(path).is_relative_to(ROOT)


def test_installed_copy_synthesizes_what_the_checkout_does(installed: Path, tmp_path: Path) -> None:
    # The example is run from a copy next to nothing: spot_insights must come from `installed`.
    script = shutil.copy2(EXAMPLE, tmp_path / "reuse_stack.py")
    _run(Path(script), python_path=installed, cwd=tmp_path, outdir=tmp_path / "installed.out")
    _run(EXAMPLE, python_path=ROOT, cwd=ROOT, outdir=tmp_path / "checkout.out")
    from_wheel = _template(tmp_path / "installed.out")
    from_checkout = _template(tmp_path / "checkout.out")
    [setup] = [
        r
        for r in from_wheel["Resources"].values()
        if r["Type"] == "Custom::SpotInsightsSearchSetup"
    ]
    assert len(setup["Properties"]["ContentHash"]) == 64
    assert from_wheel == from_checkout
