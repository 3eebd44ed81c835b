"""A stand-in for the Lambda context object: the members the handler and Powertools read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeContext:
    """Remaining time drives the retry deadline; the rest feeds the structured log keys."""

    function_name: str = "provisioning-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:provisioning"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000
