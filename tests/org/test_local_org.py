"""The demo's organisation in moto (spot_cli/local/organisation.py, capture_path.py, servers.py):
accounts reached by assume-role, the spoke role only where it was created, and events from
every account and region arriving in the hub's one queue through the hub bus, unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from lambda_src.contract import HUB_BUS_NAME, SPOKE_ROLE_NAME
from spot_cli.local.capture_path import create_hub_capture
from spot_cli.local.organisation import Organisation, create_organisation
from spot_cli.local.servers import local_session, moto_server

REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server(gate_assume_role=True) as url:
        yield url


@pytest.fixture(scope="module")
def org(moto_url: str) -> Organisation:
    session = local_session(moto_url, REGIONS[0])
    return create_organisation(
        session,
        lambda credentials: local_session(moto_url, REGIONS[0], assumed=credentials),
        accounts=3,
    )


def _assume_spoke_role(org: Organisation, account: str) -> dict:
    sts = org.sessions[org.hub_account].client("sts")
    return sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{SPOKE_ROLE_NAME}", RoleSessionName="test"
    )


def test_accounts_are_separate_and_only_the_last_member_lacks_the_role(org: Organisation) -> None:
    hub, first, last = org.accounts
    assert org.without_role == {last}
    for account in org.accounts:
        sts = org.sessions[account].client("sts")
        assert sts.get_caller_identity()["Account"] == account
    assert _assume_spoke_role(org, first)["AssumedRoleUser"]["Arn"].split(":")[4] == first
    # What IAM answers for a missing role (moto alone would grant it).
    with pytest.raises(ClientError) as refused:
        _assume_spoke_role(org, last)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    trust = org.sessions[first].client("iam").get_role(RoleName=SPOKE_ROLE_NAME)["Role"]
    statement = trust["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{hub}:root"}


def test_every_account_and_region_reaches_the_hub_queue_unchanged(org: Organisation) -> None:
    pipeline = create_hub_capture(org.sessions, REGIONS)
    hub_events = org.sessions[org.hub_account].client("events", region_name=REGIONS[0])
    assert hub_events.describe_event_bus(Name=HUB_BUS_NAME)["Name"] == HUB_BUS_NAME
    sent: dict[str, tuple[str, str]] = {}
    for account in org.accounts:
        for region in REGIONS:
            events = org.sessions[account].client("events", region_name=region)
            entry = {
                "Source": "aws.ec2",
                "DetailType": "EC2 Spot Instance Interruption Warning",
                "Detail": json.dumps({"instance-id": f"i-{account[-4:]}{region[-1]}"}),
                "Resources": [f"arn:aws:ec2:{region}a:instance/i-1"],
                "Time": datetime(2026, 11, 30, tzinfo=UTC),
            }
            (result,) = events.put_events(Entries=[entry])["Entries"]
            sent[result["EventId"]] = (account, region)
    sqs = org.sessions[org.hub_account].client("sqs", region_name=REGIONS[0])
    received: dict[str, dict] = {}
    for _ in range(10):
        messages = sqs.receive_message(
            QueueUrl=pipeline.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        for message in messages:
            body = json.loads(message["Body"])
            received[body["id"]] = body
        if len(received) >= len(sent):
            break
    # Once each (no second copy through another rule), with the sender's envelope.
    assert set(received) == set(sent)
    for event_id, (account, region) in sent.items():
        assert (received[event_id]["account"], received[event_id]["region"]) == (account, region)
        assert received[event_id]["resources"] == [f"arn:aws:ec2:{region}a:instance/i-1"]
