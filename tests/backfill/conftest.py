"""CloudTrail's LookupEvents served by tests/support/cloudtrail_history.py on 127.0.0.1, and
clients that reach it (moto has no LookupEvents: the responses are recorded shapes)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from spot_cli.backfill_cloudtrail import lookup_client
from tests.support.cloudtrail_history import CloudTrailDouble, serve


@pytest.fixture
def cloudtrail() -> Iterator[tuple[CloudTrailDouble, str]]:
    """(the double, its URL)."""
    double = CloudTrailDouble()
    with serve(double) as server:
        yield double, server.url
        double.release()


@pytest.fixture
def lookup(cloudtrail):
    """lookup(region) -> a CloudTrail client as the backfill builds it, reaching the double."""
    _, url = cloudtrail

    def client(region: str):
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        return lookup_client(session, region, endpoint_url=url)

    return client
