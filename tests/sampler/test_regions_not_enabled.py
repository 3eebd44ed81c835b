"""A discovered region is one some account sent events from, not one every spoke account has
enabled: EC2 refuses the spoke role's credentials there (AuthFailure; OptInRequired), and the
tick records it instead of failing for ever. In the hub's own account the same answer is a real
failure. Recorded EC2 responses (botocore Stubber): moto has no opt-in regions."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from lambda_src.ingest.cross_account import AccountDirectories
from lambda_src.ingest.instances import InstanceDirectory
from lambda_src.sampler.fleet_count import sample

SPOKE = "111111111111"
OPT_IN = "ap-east-1"


def _refusing(code: str) -> tuple[InstanceDirectory, Stubber]:
    session = boto3.session.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    directory = InstanceDirectory(session)
    client = directory.client(OPT_IN)
    stubber = Stubber(client)
    stubber.add_client_error(
        "describe_availability_zones", service_error_code=code, http_status_code=401
    )
    stubber.activate()
    return directory, stubber


class _Spokes(AccountDirectories):
    def __init__(self, home: InstanceDirectory, spoke: InstanceDirectory) -> None:
        super().__init__(home)
        self._spoke = spoke

    def for_account(self, account: str) -> InstanceDirectory:
        return self._spoke


def test_a_spoke_region_not_enabled_is_recorded_not_failed() -> None:
    home, home_stub = _refusing("AuthFailure")
    spoke, spoke_stub = _refusing("OptInRequired")
    # The home account answers AuthFailure too: that is a failure (its own credentials).
    tick = sample(_Spokes(home, spoke), [SPOKE], [OPT_IN])
    assert list(tick.not_enabled) == [(SPOKE, OPT_IN)]
    assert list(tick.failures) == [("home", OPT_IN)]
    home_stub.assert_no_pending_responses()
    spoke_stub.assert_no_pending_responses()


def test_other_spoke_errors_still_fail_the_tick() -> None:
    home, _ = _refusing("OptInRequired")
    spoke, _ = _refusing("UnauthorizedOperation")
    tick = sample(_Spokes(home, spoke), [SPOKE], [OPT_IN])
    assert tick.not_enabled == {}
    assert set(tick.failures) == {("home", OPT_IN), (SPOKE, OPT_IN)}
