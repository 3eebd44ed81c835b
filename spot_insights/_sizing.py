"""SearchDomain's sizing profiles: instance types, node counts, disk and replicas per profile."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SizingProfile(StrEnum):
    """`small`: one t3.small.search node in one AZ, the cheapest type with encryption at rest
    (T2 has none). `production`: data nodes across AZs with zone awareness and three dedicated
    master nodes (r7g data, m7g masters: types cfn-lint accepts in every Region it checks)."""

    SMALL = "small"
    PRODUCTION = "production"


@dataclass(frozen=True)
class Sizing:
    data_instance_type: str
    data_nodes_per_az: int
    availability_zones: int
    master_instance_type: str | None
    master_nodes: int
    volume_size_gib: int
    replicas: int


SIZINGS = {
    # Replicas 0: a single node can never place a replica (the cluster would stay yellow).
    SizingProfile.SMALL: Sizing("t3.small.search", 1, 1, None, 0, 10, 0),
    SizingProfile.PRODUCTION: Sizing("r7g.large.search", 1, 3, "m7g.large.search", 3, 50, 1),
}
