"""A local organisation in moto: a hub account and member accounts, each reached by assuming
Organizations' access role, and the spoke enrichment role in the members that hold it.

moto keeps its state per account and puts an assumed role's session in the role ARN's account,
so a session built from AssumeRole credentials creates and reads that account's instances,
buses and roles. With `moto_server(gate_assume_role=True)` an account without the spoke role
refuses the hub's AssumeRole, as IAM does."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambda_src.contract import SPOKE_ROLE_NAME, hub_ingest_role_name
from spot_cli.local.servers import ORGANIZATION_ACCESS_ROLE

# Member account ids: fixed, so a seed gives the same storm (moto's default account is the hub).
MEMBER_ACCOUNT_BASE = 210_000_000_000


@dataclass(frozen=True)
class Organisation:
    hub_account: str
    hub_region: str
    accounts: tuple[str, ...]  # the hub first
    # Accounts that hold no spoke enrichment role (their events are indexed `no_access`).
    without_role: frozenset[str]
    sessions: Mapping[str, Any]

    @property
    def with_role(self) -> tuple[str, ...]:
        return tuple(a for a in self.accounts if a not in self.without_role)


def member_account_ids(count: int) -> list[str]:
    return [f"{MEMBER_ACCOUNT_BASE + n * 1_000_001:012d}" for n in range(1, count + 1)]


def create_organisation(
    hub_session: Any,
    session_for: Callable[[dict[str, str]], Any],
    accounts: int,
    *,
    without_role: int = 1,
) -> Organisation:
    """`accounts` accounts in all (the hub's included); the last `without_role` members get no
    spoke role. `session_for(credentials)` builds a session (pointed at moto) from AssumeRole's
    credentials."""
    if accounts < 1:
        raise ValueError("an organisation needs at least one account (the hub)")
    region = hub_session.region_name
    hub = hub_session.client("sts", region_name=region).get_caller_identity()["Account"]
    members = member_account_ids(accounts - 1)
    sessions: dict[str, Any] = {hub: hub_session}
    sts = hub_session.client("sts", region_name=region)
    for account in members:
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ORGANIZATION_ACCESS_ROLE}",
            RoleSessionName="spot-insights-demo",
        )["Credentials"]
        sessions[account] = session_for(credentials)
    lacking = frozenset(members[len(members) - min(without_role, len(members)) :])
    for account in members:
        if account not in lacking:
            create_spoke_role(sessions[account], hub, region)
    return Organisation(
        hub_account=hub,
        hub_region=region,
        accounts=(hub, *members),
        without_role=lacking,
        sessions=sessions,
    )


def create_spoke_role(session: Any, hub_account: str, hub_region: str) -> None:
    """The enrichment role as SpokeForwarder deploys it: trusted by the hub account, only for
    the hub ingest role's ARN; read-only EC2."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{hub_account}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "ArnEquals": {
                        "aws:PrincipalArn": (
                            f"arn:aws:iam::{hub_account}:role/{hub_ingest_role_name(hub_region)}"
                        )
                    }
                },
            }
        ],
    }
    permissions = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:DescribeInstances", "ec2:DescribeAvailabilityZones"],
                "Resource": "*",
            }
        ],
    }
    iam = session.client("iam")
    iam.create_role(RoleName=SPOKE_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=SPOKE_ROLE_NAME,
        PolicyName="DescribeInstances",
        PolicyDocument=json.dumps(permissions),
    )
