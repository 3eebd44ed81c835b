"""spot_cli must start fast and run without the CDK: no aws_cdk, directly or via spot_insights."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"aws_cdk", "constructs", "cdk_nag", "spot_insights", "jsii"}


def test_spot_cli_never_imports_the_cdk_or_the_construct_library():
    offenders = {}
    for path in (ROOT / "spot_cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            if bad := FORBIDDEN.intersection(names):
                offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}
