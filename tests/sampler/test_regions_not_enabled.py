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


def _answering(stubber: Stubber, region: str) -> None:
    """One region where the stubbed account answers: its zones, then no running Spot instance."""
    stubber.add_response(
        "describe_availability_zones",
        {"AvailabilityZones": [{"ZoneName": f"{region}a", "ZoneId": "use1-az1"}]},
    )
    stubber.add_response("describe_instances", {"Reservations": []})


def _spoke_answering_only(region: str, refusing: str) -> tuple[InstanceDirectory, list[Stubber]]:
    session = boto3.session.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    directory = InstanceDirectory(session)
    answers = Stubber(directory.client(region))
    _answering(answers, region)
    refuses = Stubber(directory.client(refusing))
    refuses.add_client_error(
        "describe_availability_zones", service_error_code="AuthFailure", http_status_code=401
    )
    for stubber in (answers, refuses):
        stubber.activate()
    return directory, [answers, refuses]


def test_auth_failure_is_a_region_not_enabled_only_where_the_credentials_worked_elsewhere():
    home, _ = _refusing("OptInRequired")
    spoke, stubs = _spoke_answering_only("us-east-1", OPT_IN)
    tick = sample(_Spokes(home, spoke), [SPOKE], ["us-east-1", OPT_IN])
    assert (SPOKE, OPT_IN) in tick.not_enabled
    assert (SPOKE, "us-east-1") not in tick.failures
    for stubber in stubs:
        stubber.assert_no_pending_responses()


def test_auth_failure_in_every_region_is_a_credentials_fault_that_fails_the_tick():
    """A spoke role whose credentials EC2 rejects answers AuthFailure everywhere: counting its
    account as "nothing enabled" would silently drop it from the rates."""
    home, _ = _refusing("OptInRequired")
    spoke, _ = _refusing("AuthFailure")
    tick = sample(_Spokes(home, spoke), [SPOKE], [OPT_IN])
    assert tick.not_enabled == {}
    assert "AuthFailure in every region" in tick.failures[(SPOKE, OPT_IN)]
