"""One tick of the sampler: running Spot instances counted per account, region, pool and
capacity group, as one exposure document per group.

Cost per tick is bounded by pages, not instances: per sampled account and region, one
DescribeInstances page per 1,000 running Spot instances (filtered server-side to
`instance-lifecycle=spot` and `instance-state-name=running`), plus one DescribeAvailabilityZones
per region and one AssumeRole per spoke account, both cached for the container's life (the
role's credentials refresh about hourly). The capacity group is the ingest function's own
derivation (`lambda_src.ingest.tags`), so counts and interruptions group alike."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.ingest.cross_account import AccountDirectories, NoAccess
from lambda_src.ingest.instances import PAGE_SIZE, InstanceDirectory
from lambda_src.ingest.tags import tag_fields, tag_map

# What EC2 answers in a region the account has not opted into (a discovered region is one some
# account sent events from, not necessarily one every account has enabled): OptInRequired, or
# AuthFailure, which it also answers to credentials it rejects.
OPT_IN_REQUIRED = "OptInRequired"
AUTH_FAILURE = "AuthFailure"
RUNNING_SPOT = (
    {"Name": "instance-lifecycle", "Values": ["spot"]},
    {"Name": "instance-state-name", "Values": ["running"]},
)


@dataclass(frozen=True, order=True)
class Group:
    """What one exposure document counts: a pool (type + AZ) of one capacity group."""

    account: str
    region: str
    availability_zone: str
    availability_zone_id: str
    instance_type: str
    capacity_group: str


@dataclass
class Tick:
    """What one tick found: counts per group, the pages it read, what it could not read."""

    counts: Counter[Group] = field(default_factory=Counter)
    pages: int = 0
    # (account or "home", region) -> reason; a failed region fails the tick (it is retried).
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    # Accounts whose spoke role could not be assumed: skipped, as the ingest skips them.
    no_access: dict[str, str] = field(default_factory=dict)
    # (spoke account, region) where EC2 refused the role's credentials because the account has
    # not enabled that (opt-in) region: nothing runs there, so nothing to count.
    not_enabled: dict[tuple[str, str], str] = field(default_factory=dict)


def count_region(directory: InstanceDirectory, region: str, tick: Tick) -> None:
    """Add one account's running Spot instances in `region` to `tick.counts`."""
    zone_ids = directory.zone_ids(region)
    paginator = directory.client(region).get_paginator("describe_instances")
    pages = paginator.paginate(
        Filters=[dict(f) for f in RUNNING_SPOT], PaginationConfig={"PageSize": PAGE_SIZE}
    )
    for page in pages:
        tick.pages += 1
        for reservation in page.get("Reservations", []):
            account = reservation.get("OwnerId", "")
            for instance in reservation.get("Instances", []):
                tick.counts[_group(account, region, instance, zone_ids)] += 1


def _group(account: str, region: str, instance: dict[str, Any], zone_ids: dict[str, str]) -> Group:
    zone = (instance.get("Placement") or {}).get("AvailabilityZone") or ""
    return Group(
        account=account,
        region=region,
        availability_zone=zone,
        availability_zone_id=zone_ids.get(zone, ""),
        instance_type=instance.get("InstanceType") or "",
        capacity_group=tag_fields(tag_map(instance.get("Tags")))["capacity_group"] or "",
    )


def sample(
    directories: AccountDirectories, accounts: Iterable[str], regions: Iterable[str]
) -> Tick:
    """Count the function's own account and each of `accounts` (through its spoke role) in
    every region. A failing region is recorded, not raised, so the others still count."""
    tick = Tick()
    regions = tuple(regions)
    targets: list[tuple[str, InstanceDirectory]] = [("home", directories.home)]
    home = directories.access.home_account if directories.access else None
    for account in dict.fromkeys(accounts):
        if account == home:
            continue
        try:
            targets.append((account, directories.for_account(account)))
        except NoAccess as exc:
            tick.no_access[account] = str(exc)
        except (ClientError, BotoCoreError) as exc:
            for region in regions:
                tick.failures[(account, region)] = f"AssumeRole: {exc}"
    for account, directory in targets:
        _count_account(account, directory, regions, tick)
    return tick


def _count_account(
    account: str, directory: InstanceDirectory, regions: tuple[str, ...], tick: Tick
) -> None:
    """Count one account (or "home") in every region; what a region answers instead is
    recorded in `tick`, never raised."""
    answered = False
    refused: dict[str, str] = {}  # AuthFailure: a region not enabled, or bad credentials
    for region in regions:
        try:
            count_region(directory, region, tick)
            answered = True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if account != "home" and code == AUTH_FAILURE:
                refused[region] = str(exc)[:300]
            elif account != "home" and code == OPT_IN_REQUIRED:
                tick.not_enabled[(account, region)] = str(exc)[:300]
            else:
                tick.failures[(account, region)] = str(exc)[:300]
        except BotoCoreError as exc:
            tick.failures[(account, region)] = str(exc)[:300]
    # EC2 answers AuthFailure both in a region the account has not enabled and to
    # credentials it rejects. Only an account that answered in another region of this tick
    # proved its credentials good; refused everywhere, it is a fault, and the tick fails.
    for region, reason in refused.items():
        if answered:
            tick.not_enabled[(account, region)] = reason
        else:
            tick.failures[(account, region)] = f"AuthFailure in every region: {reason}"


def exposure_documents(tick: Tick, scheduled: datetime, interval_seconds: int) -> list[dict]:
    """One document per group; `sample_id` is the tick and the group, so a retried tick
    overwrites its own documents instead of adding to the instance-hours."""
    at = scheduled.isoformat().replace("+00:00", "Z")
    documents = []
    for group, count in sorted(tick.counts.items()):
        key = "|".join((at, *(str(v) for v in vars(group).values())))
        family = group.instance_type.partition(".")[0]
        doc: dict[str, Any] = {
            "sample_id": hashlib.sha256(key.encode()).hexdigest(),
            "sampled_at": at,
            "interval_seconds": interval_seconds,
            "instance_count": count,
            "instance_hours": count * interval_seconds / 3600,
            **vars(group),
            "instance_family": family,
        }
        if group.instance_type and group.availability_zone_id:
            # The ingest function's pool: instance type in an AZ id (documents.build_document).
            doc["pool"] = f"{group.instance_type}:{group.availability_zone_id}"
        documents.append({k: v for k, v in doc.items() if v not in (None, "")})
    return documents
