"""Instance metadata from EC2: one DescribeInstances pass per region per batch, AZ ids cached.

The `instance-id` *filter* is used rather than `InstanceIds`: an id that no longer exists does
not fail the whole call, and filtered calls draw from EC2's larger throttling bucket."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
from botocore.config import Config

# EC2 accepts at most 200 values per filter.
FILTER_VALUE_LIMIT = 200
PAGE_SIZE = 1000


class InstanceDirectory:
    """Per-region EC2 clients and AZ-id maps, kept for the life of the container."""

    def __init__(
        self,
        session: boto3.session.Session | None = None,
        *,
        retry_mode: str = "adaptive",
        max_attempts: int = 4,
        connect_timeout: float = 2,
        read_timeout: float = 5,
    ) -> None:
        # Worst case, a region's lookup gives up after ~35 s: the batch is then retried (or
        # degraded to `enrichment: missing`) well inside the 90 s function timeout.
        self.session = session or boto3.session.Session()
        self._config = Config(
            retries={"mode": retry_mode, "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._clients: dict[str, Any] = {}
        self._zone_ids: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self.session.client(
                    "ec2", region_name=region, config=self._config
                )
            return self._clients[region]

    def describe(self, region: str, instance_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Instance id -> the DescribeInstances instance object, for the ids EC2 still knows."""
        found: dict[str, dict[str, Any]] = {}
        paginator = self.client(region).get_paginator("describe_instances")
        for chunk in _chunks(sorted(set(instance_ids)), FILTER_VALUE_LIMIT):
            pages = paginator.paginate(
                Filters=[{"Name": "instance-id", "Values": chunk}],
                PaginationConfig={"PageSize": PAGE_SIZE},
            )
            for page in pages:
                for reservation in page.get("Reservations", []):
                    for instance in reservation.get("Instances", []):
                        found[instance["InstanceId"]] = instance
        return found

    def zone_ids(self, region: str) -> dict[str, str]:
        """AZ name -> AZ id (names are shuffled per account, ids are not); one call per region."""
        if region not in self._zone_ids:
            zones = self.client(region).describe_availability_zones(AllAvailabilityZones=True)
            self._zone_ids[region] = {
                zone["ZoneName"]: zone["ZoneId"] for zone in zones["AvailabilityZones"]
            }
        return self._zone_ids[region]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
