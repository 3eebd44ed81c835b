"""A synthetic Spot fleet in moto: several regions, AZs, instance types and the capacity systems
that own instances (Auto Scaling groups, Karpenter, EKS managed node groups, ECS, standalone).

The fleet is created through the EC2 API (boto3 against `AWS_ENDPOINT_URL`), tagged the way
those systems tag their instances, and returned as a description precise enough for tests to
compute what an enriched event document must contain."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

DEFAULT_REGIONS: tuple[str, ...] = ("us-east-1", "us-west-2", "eu-west-1")

# (instance type, architecture). Graviton types need an arm64 image.
INSTANCE_TYPES: tuple[tuple[str, str], ...] = (
    ("m5.large", "x86_64"),
    ("m5.xlarge", "x86_64"),
    ("m5a.large", "x86_64"),
    ("m6i.large", "x86_64"),
    ("m6i.2xlarge", "x86_64"),
    ("c5.xlarge", "x86_64"),
    ("c5.2xlarge", "x86_64"),
    ("c6g.large", "arm64"),
    ("c7g.xlarge", "arm64"),
    ("r5.large", "x86_64"),
    ("r6i.xlarge", "x86_64"),
    ("g4dn.xlarge", "x86_64"),
)

ASG = "asg"
KARPENTER = "karpenter"
EKS_NODEGROUP = "eks-nodegroup"
ECS = "ecs"
STANDALONE = "standalone"


@dataclass(frozen=True)
class CapacitySpec:
    """One owner of instances in a region and the tags its system puts on them."""

    kind: str
    name: str
    tags: Mapping[str, str]
    instance_types: tuple[str, ...]
    weight: int
    # Typical lifetime before interruption differs: Karpenter consolidates nodes quickly,
    # long-lived ASGs and standalone boxes run for days.
    max_age_hours: float


@dataclass(frozen=True)
class FleetInstance:
    instance_id: str
    region: str
    availability_zone: str
    availability_zone_id: str
    instance_type: str
    architecture: str
    image_id: str
    subnet_id: str
    vpc_id: str
    private_ip: str | None
    public_ip: str | None
    launch_time: datetime
    tags: Mapping[str, str]
    capacity_kind: str
    capacity_group: str
    asg_name: str | None = None
    eks_cluster: str | None = None
    eks_nodegroup: str | None = None
    karpenter_nodepool: str | None = None
    ecs_cluster: str | None = None
    # The account that owns it (hub and spokes); "" for a fleet made before accounts mattered.
    account: str = ""

    @property
    def instance_family(self) -> str:
        return self.instance_type.split(".", 1)[0]

    @property
    def instance_size(self) -> str:
        return self.instance_type.split(".", 1)[1]

    @property
    def arn(self) -> str:
        # What EC2 really puts in `resources`: the AZ in the region slot and no account.
        return f"arn:aws:ec2:{self.availability_zone}:instance/{self.instance_id}"


@dataclass(frozen=True)
class Fleet:
    account: str  # the home (hub) account; each instance names its own
    regions: tuple[str, ...]
    instances: tuple[FleetInstance, ...]
    # False when moto runs out of process: launch times are then the creation time.
    launch_times_backdated: bool
    created_at: datetime
    by_id: Mapping[str, FleetInstance] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {i.instance_id: i for i in self.instances})

    def in_region(self, region: str) -> list[FleetInstance]:
        return [i for i in self.instances if i.region == region]

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.account or self.account for i in self.instances))


def create_org_fleet(
    sessions: Mapping[str, Any],
    regions: Sequence[str] = DEFAULT_REGIONS,
    instances_per_region: int = 60,
    *,
    seed: int = 7,
    backdate: bool = True,
) -> Fleet:
    """One fleet per account (`sessions`: account -> session, the home account first), launched
    at once and described as one: every account runs capacity in every region."""
    now = datetime.now(UTC).replace(microsecond=0)
    accounts = list(sessions)
    with ThreadPoolExecutor(max_workers=len(accounts)) as pool:
        fleets = list(
            pool.map(
                lambda position: create_fleet(
                    regions,
                    instances_per_region,
                    seed=seed + position,
                    now=now,
                    session=sessions[accounts[position]],
                    backdate=backdate,
                ),
                range(len(accounts)),
            )
        )
    return Fleet(
        account=fleets[0].account,
        regions=tuple(regions),
        instances=tuple(i for fleet in fleets for i in fleet.instances),
        launch_times_backdated=all(f.launch_times_backdated for f in fleets),
        created_at=now,
    )


def capacity_specs(region: str) -> list[CapacitySpec]:
    """The capacity owners of one region, tagged as their systems tag instances."""
    short = "".join(part[0] for part in region.split("-")[:2]) + region.rsplit("-", 1)[1]
    cluster = f"platform-{short}"
    karpenter_tags = {
        "karpenter.sh/nodepool": "general",
        "karpenter.k8s.aws/ec2nodeclass": "default",
        "eks:eks-cluster-name": cluster,
        f"kubernetes.io/cluster/{cluster}": "owned",
    }
    return [
        CapacitySpec(
            ASG,
            f"web-{short}",
            {"aws:autoscaling:groupName": f"web-{short}"},
            ("m5.large", "m5a.large", "m6i.large"),
            weight=4,
            max_age_hours=14 * 24,
        ),
        CapacitySpec(
            ASG,
            f"batch-{short}",
            {"aws:autoscaling:groupName": f"batch-{short}"},
            ("c5.xlarge", "c5.2xlarge", "c6g.large"),
            weight=3,
            max_age_hours=3 * 24,
        ),
        CapacitySpec(
            KARPENTER,
            "general",
            karpenter_tags,
            ("m6i.large", "m6i.2xlarge", "c7g.xlarge", "r6i.xlarge"),
            weight=4,
            max_age_hours=12,
        ),
        CapacitySpec(
            KARPENTER,
            "gpu",
            {**karpenter_tags, "karpenter.sh/nodepool": "gpu"},
            ("g4dn.xlarge",),
            weight=1,
            max_age_hours=8,
        ),
        CapacitySpec(
            EKS_NODEGROUP,
            "system",
            {
                "eks:cluster-name": cluster,
                "eks:nodegroup-name": "system",
                # Managed node groups run on an ASG that EKS names after the node group.
                "aws:autoscaling:groupName": f"eks-system-{short}",
                f"kubernetes.io/cluster/{cluster}": "owned",
            },
            ("m5.xlarge", "r5.large"),
            weight=2,
            max_age_hours=7 * 24,
        ),
        CapacitySpec(
            ECS,
            f"orders-{short}",
            # ECS Managed Instances carry the cluster as an AWS-reserved tag.
            {"aws:ecs:clusterName": f"orders-{short}", "AmazonECSManaged": ""},
            ("c5.xlarge", "m5.large"),
            weight=2,
            max_age_hours=5 * 24,
        ),
        CapacitySpec(
            STANDALONE,
            "standalone",
            {},
            ("t3.medium", "r5.large", "m5.large"),
            weight=1,
            max_age_hours=30 * 24,
        ),
    ]


_ARCH = dict(INSTANCE_TYPES) | {"t3.medium": "x86_64"}


def _expected_fields(spec: CapacitySpec) -> dict[str, str | None]:
    tags = spec.tags
    asg = tags.get("aws:autoscaling:groupName")
    nodegroup = tags.get("eks:nodegroup-name")
    nodepool = tags.get("karpenter.sh/nodepool")
    ecs = tags.get("aws:ecs:clusterName")
    eks = tags.get("eks:cluster-name") or tags.get("eks:eks-cluster-name")
    # The ingest contract: first of nodepool, nodegroup, ASG, ECS cluster, else "standalone".
    group = nodepool or nodegroup or asg or ecs or "standalone"
    return {
        "asg_name": asg,
        "eks_cluster": eks,
        "eks_nodegroup": nodegroup,
        "karpenter_nodepool": nodepool,
        "ecs_cluster": ecs,
        "capacity_group": group,
    }


def _images(ec2: Any, account: str, region: str) -> dict[str, str]:
    """An amazon image per architecture (x86_64, arm64)."""
    if (chosen := trim_moto_images(account, region)) is not None:
        return chosen
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    return _per_architecture((i["ImageId"], i.get("Architecture")) for i in images)


def _per_architecture(images: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for image_id, architecture in sorted(images):
        found.setdefault(architecture or "x86_64", image_id)
    if "x86_64" not in found:
        raise RuntimeError("no x86_64 image found in the EC2 endpoint")
    found.setdefault("arm64", found["x86_64"])
    return found


def trim_moto_images(account: str, region: str) -> dict[str, str] | None:
    """In-process moto only: choose the images from its catalogue and keep only those.

    moto ships thousands of AMIs per region and scans all of them for every instance it
    launches (about 45 ms each; most of a 3,600-instance fleet's creation time) and serializes
    all of them for DescribeImages. The fleet needs two. None when moto is not in this process
    (or its catalogue is not where this moto version keeps it)."""
    try:
        from moto.ec2.models import ec2_backends  # noqa: PLC0415 - only for in-process moto
    except ImportError:
        return None
    try:
        amis = ec2_backends[account][region].amis
        chosen = _per_architecture(
            (ami.id, ami.architecture)
            for ami in amis.values()
            if "amazon" in {ami.owner_alias, ami.owner_id}
        )
    except Exception:  # another moto layout, or no amazon images: ask the API instead
        return None
    for image_id in [i for i in amis if i not in chosen.values()]:
        del amis[image_id]
    return chosen


def _backdate(account: str, region: str, launch_times: Mapping[str, datetime]) -> bool:
    """Set launch times in an in-process moto server: EC2 has no API to set them.

    Returns False (nothing changed) when moto is not running in this process."""
    try:
        from moto.ec2.models import ec2_backends  # noqa: PLC0415 - only for in-process moto
    except ImportError:
        return False
    try:
        backend = ec2_backends[account][region]
        targets = [(backend.get_instance(iid), when) for iid, when in launch_times.items()]
    except Exception:  # an unknown id means the server runs in another process
        return False
    for instance, when in targets:
        instance.launch_time = when.astimezone(UTC).replace(tzinfo=None)
    return True


@dataclass
class _RegionLaunch:
    """One region's RunInstances calls, planned (with the instances' ages) before any runs."""

    region: str
    ec2: Any
    zone_ids: dict[str, str]
    calls: list[tuple[CapacitySpec, dict[str, Any]]]
    ages_hours: list[float]  # one per instance, in the order the calls return them


def create_fleet(
    regions: Sequence[str] = DEFAULT_REGIONS,
    instances_per_region: int = 60,
    *,
    seed: int = 7,
    now: datetime | None = None,
    session: Any | None = None,
    backdate: bool = True,
) -> Fleet:
    """Launch the fleet and describe it as EC2 reports it (ids, AZs, launch times, IPs).

    The regions are launched at once (their RunInstances calls are independent); everything
    random is drawn before, in region order, so a seed always gives the same fleet."""
    if instances_per_region < 1:
        raise ValueError("instances_per_region must be at least 1")
    rng = random.Random(seed)
    session = session or boto3.session.Session()
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    account = session.client("sts", region_name=regions[0]).get_caller_identity()["Account"]
    launches = [
        _plan_region(session.client("ec2", region_name=r), account, r, instances_per_region, rng)
        for r in regions
    ]
    with ThreadPoolExecutor(max_workers=len(launches)) as pool:
        launched = list(pool.map(_launch, launches))
    created: list[FleetInstance] = []
    all_backdated = backdate
    for launch, region_instances in zip(launches, launched, strict=True):
        # Whole seconds, as EC2 reports launch times.
        launch_times = {
            raw["InstanceId"]: (now - timedelta(hours=age)).replace(microsecond=0)
            for (raw, _), age in zip(region_instances, launch.ages_hours, strict=True)
        }
        backdated = backdate and _backdate(account, launch.region, launch_times)
        all_backdated = all_backdated and backdated
        created.extend(
            _describe(
                account,
                launch.region,
                region_instances,
                launch.zone_ids,
                launch_times if backdated else {},
            )
        )
    return Fleet(
        account=account,
        regions=tuple(regions),
        instances=tuple(created),
        launch_times_backdated=all_backdated,
        created_at=now,
    )


def _plan_region(
    ec2: Any, account: str, region: str, instances: int, rng: random.Random
) -> _RegionLaunch:
    zones = [
        z
        for z in ec2.describe_availability_zones()["AvailabilityZones"]
        if z.get("ZoneType", "availability-zone") == "availability-zone"
    ][:3]
    zone_ids = {z["ZoneName"]: z["ZoneId"] for z in zones}
    subnets = {
        s["AvailabilityZone"]: s
        for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])[
            "Subnets"
        ]
    }
    images = _images(ec2, account, region)
    specs = capacity_specs(region)
    weights = [s.weight for s in specs]
    # Count per (spec, AZ, type) so each combination is a single RunInstances call.
    plan: dict[tuple[int, str, str], int] = {}
    for _ in range(instances):
        index = rng.choices(range(len(specs)), weights=weights)[0]
        zone = rng.choice(sorted(zone_ids))
        itype = rng.choice(specs[index].instance_types)
        plan[(index, zone, itype)] = plan.get((index, zone, itype), 0) + 1
    calls: list[tuple[CapacitySpec, dict[str, Any]]] = []
    ages: list[float] = []
    for (index, zone, itype), count in sorted(plan.items()):
        spec = specs[index]
        tags = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        tags.append({"Key": "Name", "Value": f"{spec.name}-{itype}"})
        calls.append(
            (
                spec,
                {
                    "ImageId": images[_ARCH.get(itype, "x86_64")],
                    "MinCount": count,
                    "MaxCount": count,
                    "InstanceType": itype,
                    "SubnetId": subnets[zone]["SubnetId"],
                    "InstanceMarketOptions": {"MarketType": "spot"},
                    "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
                },
            )
        )
        ages.extend(_age_hours(rng, spec.max_age_hours) for _ in range(count))
    return _RegionLaunch(region, ec2, zone_ids, calls, ages)


def _launch(launch: _RegionLaunch) -> list[tuple[dict[str, Any], CapacitySpec]]:
    instances: list[tuple[dict[str, Any], CapacitySpec]] = []
    for spec, request in launch.calls:
        response = launch.ec2.run_instances(**request)
        instances.extend((raw, spec) for raw in response["Instances"])
    return instances


def _age_hours(rng: random.Random, max_age_hours: float) -> float:
    # Skewed towards young instances, as Spot capacity is churned; at least ten minutes old.
    return max(10 / 60, max_age_hours * rng.random() ** 2)


def _describe(
    account: str,
    region: str,
    launched: Sequence[tuple[dict[str, Any], CapacitySpec]],
    zone_ids: Mapping[str, str],
    launch_times: Mapping[str, datetime],
) -> list[FleetInstance]:
    """The instances as RunInstances reported them (the same description DescribeInstances
    gives, without asking again), with the launch times they were backdated to."""
    specs = {raw["InstanceId"]: spec for raw, spec in launched}
    described = {raw["InstanceId"]: raw for raw, _ in launched}
    ids = sorted(specs)
    result = []
    for iid in ids:
        raw = described[iid]
        spec = specs[iid]
        zone = raw["Placement"]["AvailabilityZone"]
        result.append(
            FleetInstance(
                instance_id=iid,
                region=region,
                availability_zone=zone,
                availability_zone_id=zone_ids[zone],
                instance_type=raw["InstanceType"],
                architecture=raw.get("Architecture", _ARCH.get(raw["InstanceType"], "x86_64")),
                image_id=raw["ImageId"],
                subnet_id=raw["SubnetId"],
                vpc_id=raw["VpcId"],
                private_ip=raw.get("PrivateIpAddress"),
                public_ip=raw.get("PublicIpAddress"),
                launch_time=launch_times.get(iid, raw["LaunchTime"]).astimezone(UTC),
                tags={t["Key"]: t["Value"] for t in raw.get("Tags", [])},
                capacity_kind=spec.kind,
                account=account,
                **_expected_fields(spec),  # type: ignore[arg-type]
            )
        )
    return result
