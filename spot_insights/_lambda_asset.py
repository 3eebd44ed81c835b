"""The one Lambda asset every function in this library runs from, bundled without Docker.

The asset holds the `lambda_src` package, the `dashboards` files the functions read (index
mapping, saved objects), both found by `_assets` wherever the library is installed, and the
runtime dependencies from `lambda_src/requirements.txt`,
installed for the Lambda platform (arm64, CPython 3.13) by pip on the synthesizing machine.
Its hash is computed here from the source files (path and content), not from the bundle or
CDK's directory fingerprint (which counts `__pycache__` directories that come and go), so
snapshots are stable across checkouts and tests can skip bundling (context
`aws:cdk:bundling-stacks` = `[]`) without changing the template.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, IgnoreMode, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagPackSuppression, NagSuppressions

from spot_insights._assets import LAMBDA_ASSET_SOURCES, LAMBDA_SRC

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
PIP_PLATFORM = (
    "--platform",
    "manylinux2014_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    "3.13",
    "--only-binary=:all:",
)


_MANAGED = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
# ec2:Describe* has no resource-level permissions: every function reading instances needs "*".
DESCRIBE_ANY_RESOURCE = (
    "ec2:DescribeInstances and ec2:DescribeAvailabilityZones support no resource-level permissions."
)


class BundlingError(RuntimeError):
    """pip could not install the Lambda dependencies for the target platform."""


def source_hash(sources: Mapping[str, Path] = LAMBDA_ASSET_SOURCES) -> str:
    """SHA-256 over the asset's source files (by their path inside the asset) and the target
    platform; nothing else, so a checkout and an installed copy give the same hash."""
    digest = hashlib.sha256(" ".join(PIP_PLATFORM).encode())
    for name, folder in sources.items():
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            inside = f"{name}/{path.relative_to(folder).as_posix()}"
            digest.update(inside.encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class _PipLocalBundling:
    """Installs the requirements for arm64 Lambda with the local pip, then copies the sources."""

    def try_bundle(self, output_dir: str, *, image: object = None, **_options: object) -> bool:
        out = Path(output_dir)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                *PIP_PLATFORM,
                "--target",
                str(out),
                "-r",
                str(LAMBDA_SRC / "requirements.txt"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BundlingError(f"pip install for the Lambda asset failed: {result.stderr.strip()}")
        for name, folder in LAMBDA_ASSET_SOURCES.items():
            shutil.copytree(
                folder,
                out / name,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "README.md"),
            )
        return True


def lambda_code() -> lambda_.Code:
    """The shared asset. A new Code per call (an asset binds to one stack), yet one asset per
    stack: CDK keys assets by their source hash and stages (bundles) each hash once."""
    # The local bundling below builds the asset from LAMBDA_ASSET_SOURCES; the source path is
    # only what Docker bundling (never used) would mount: the folder lambda_src lives in.
    return lambda_.Code.from_asset(
        str(LAMBDA_SRC.parent),
        ignore_mode=IgnoreMode.GLOB,
        exclude=[
            "*",
            *(f"!{name}" for name in LAMBDA_ASSET_SOURCES),
            *(f"!{name}/**" for name in LAMBDA_ASSET_SOURCES),
            "**/__pycache__",
            "**/*.pyc",
        ],
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_hash(),
        bundling=BundlingOptions(
            # Docker is only the fallback CDK requires a value for; local bundling always runs.
            image=RUNTIME.bundling_image,
            local=_PipLocalBundling(),
        ),
    )


def explain_shared_asset_findings(function: lambda_.Function, *own: NagPackSuppression) -> None:
    """The reviewed cdk-nag findings of a function built from this asset: its runtime (L1: one
    runtime for every function, moved at once) and Lambda's own managed policies (IAM4, only
    those two), plus the function's `own` reviewed findings, on the function and its role."""
    NagSuppressions.add_resource_suppressions(
        function,
        [
            NagPackSuppression(
                id="AwsSolutions-L1",
                reason="Every function runs the one shared asset built for python3.13 "
                "(spot_insights/_lambda_asset.py); the runtime moves for all of them at once.",
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                reason="Lambda's own managed policies for logs and VPC network interfaces.",
                applies_to=[
                    f"{_MANAGED}AWSLambdaBasicExecutionRole",
                    f"{_MANAGED}AWSLambdaVPCAccessExecutionRole",
                ],
            ),
            *own,
        ],
        apply_to_children=True,
    )
