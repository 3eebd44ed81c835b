"""What `make synth` / `cdk deploy` ship: the CDK CLI runs app.py with cdk.json (its feature
flags and context), bundles the Lambda asset, and the template it writes lints clean.

The CLI runs in a scratch directory holding a copy of cdk.json (its app command pointed back
at this checkout, the variables it sets kept) and the cdk.context.json the CLI would have
cached after looking up the test account's AZs, so no AWS account is needed. Both variants
share one output directory, so the Lambda asset is bundled once (it is keyed by the source
hash)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.stack.synth import ACCOUNT, AZ_CONTEXT, REGION, VARIANTS
from tests.support.cdk_app import ROOT
from tests.support.cfn_lint import lint_findings

CDK = ROOT / "node_modules" / ".bin" / "cdk"
JSII_SILENCERS = (
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION",
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CDK.exists():
        pytest.fail("node_modules/.bin/cdk is missing: run `make setup`")
    work = tmp_path_factory.mktemp("cdk-cli")
    config = json.loads((ROOT / "cdk.json").read_text())
    config["app"] = _app_command(config["app"])
    config["output"] = str(work / "cdk.out")
    (work / "cdk.json").write_text(json.dumps(config))
    (work / "cdk.context.json").write_text(json.dumps(AZ_CONTEXT))
    return work


def _app_command(app: str) -> str:
    """cdk.json's app command with this interpreter and app.py's absolute path. Its leading
    variable assignments stay: the CLI runs the command through a shell, and they are what
    silences jsii's Node 20 banner (app.py does not touch its environment)."""
    words = shlex.split(app)
    assignments = [w for w in words if re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", w)]
    assert words == [*assignments, ".venv/bin/python", "app.py"], app
    assert {w.partition("=")[0] for w in assignments} >= set(JSII_SILENCERS), app
    return shlex.join([*assignments, sys.executable, str(ROOT / "app.py")])


def _cli_synth(workdir: Path, context: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """`make synth`'s command line, plus `-c key=value` as a user would type it."""
    args = [str(CDK), "synth", "--quiet", "--no-notices", "--no-version-reporting"]
    for key, value in context.items():
        text = ",".join(value) if isinstance(value, list) else str(value)
        args += ["-c", f"{key}={text}"]
    environment = {
        **os.environ,
        "AWS_EC2_METADATA_DISABLED": "true",  # no credentials here; don't wait for IMDS
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        **env,
    }
    for name in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        if name not in env:
            environment.pop(name, None)
    # Not inherited from the test session (tests/conftest.py sets them): cdk.json's command must.
    for name in JSII_SILENCERS:
        environment.pop(name, None)
    result = subprocess.run(
        args, cwd=workdir, env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # jsii's Node 20 banner: a frame of "!!" lines ("Node 20 is end-of-life ...").
    assert "!!!!!!!!" not in result.stderr, result.stderr[-3000:]
    return json.loads((workdir / "cdk.out" / "SpotInsights.template.json").read_text())


def _env(variant: str) -> dict[str, str]:
    if VARIANTS[variant].get("profile") != "production":
        return {}
    return {"CDK_DEFAULT_ACCOUNT": ACCOUNT, "CDK_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cfn_lint_on_the_cli_synth_output_is_clean(workdir: Path, variant: str) -> None:
    template = _cli_synth(workdir, VARIANTS[variant], _env(variant))
    assert lint_findings(template) == []
    # It is the real app: the feature flags' resources are there, and production has 3 AZs.
    types = [r["Type"] for r in template["Resources"].values()]
    assert "Custom::VpcRestrictDefaultSG" in types
    assert types.count("AWS::EC2::NatGateway") == (3 if variant == "production-alb" else 1)
