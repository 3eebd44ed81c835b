"""spot_cli must start fast and run without the CDK: no aws_cdk, directly or via spot_insights.

(The Lambda code is allowed: the CLI runs the real handler and provisioner locally, and both
import `lambda_src.contract` for the names they share with the constructs.)"""

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
