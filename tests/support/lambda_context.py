"""A Lambda context for handler tests: the product's own (spot_cli.local.lambda_context)."""

from spot_cli.local.lambda_context import LambdaContext


def fake_context(function_name: str = "spot-insights-test") -> LambdaContext:
    # Two minutes of remaining time: the provisioning handler budgets its retries from it.
    return LambdaContext(function_name=function_name, region="us-east-1", timeout_seconds=120)
