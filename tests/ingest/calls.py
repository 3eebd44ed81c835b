"""Counts the AWS API calls a boto3 session makes, via botocore's own event hooks."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3


def count_calls(session: boto3.session.Session) -> Counter[str]:
    """Start counting (before the session creates its clients); returns the live counter."""
    calls: Counter[str] = Counter()

    def before_call(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    session.events.register("before-call", before_call)
    return calls
