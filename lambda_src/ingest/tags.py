"""Fields derived from the tags that EC2 Auto Scaling, EKS, Karpenter and ECS put on instances.

Each field lists its tag keys in order of preference: the first present wins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

NAME = ("Name",)
ASG_NAME = ("aws:autoscaling:groupName",)
# Managed node groups tag `eks:cluster-name`; Karpenter v1 and EKS Auto Mode tag
# `eks:eks-cluster-name`; `kubernetes.io/cluster/<name>` is the older, generic convention.
EKS_CLUSTER = ("eks:cluster-name", "eks:eks-cluster-name", "aws:eks:cluster-name")
EKS_CLUSTER_PREFIX = "kubernetes.io/cluster/"
EKS_NODEGROUP = ("eks:nodegroup-name",)
# `karpenter.sh/provisioner-name` is what Karpenter wrote before NodePools (v0.31 and older).
KARPENTER_NODEPOOL = ("karpenter.sh/nodepool", "karpenter.sh/provisioner-name")
# ECS Managed Instances tag `aws:ecs:clusterName`. Capacity-provider ASGs only carry the
# valueless `AmazonECSManaged` marker, which names no cluster, so it cannot fill this field.
ECS_CLUSTER = ("aws:ecs:clusterName",)

STANDALONE = "standalone"


def tag_map(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """EC2's [{"Key": k, "Value": v}] list as a dict."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags or () if "Key" in tag}


def _first(tags: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = tags.get(key, "").strip()
        if value:
            return value
    return None


def _eks_cluster(tags: Mapping[str, str]) -> str | None:
    named = _first(tags, EKS_CLUSTER)
    if named:
        return named
    for key, value in tags.items():
        if key.startswith(EKS_CLUSTER_PREFIX) and value in ("owned", "shared"):
            return key.removeprefix(EKS_CLUSTER_PREFIX) or None
    return None


def tag_fields(tags: Mapping[str, str]) -> dict[str, str | None]:
    """instance_name, asg_name, eks_cluster, eks_nodegroup, karpenter_nodepool, ecs_cluster and
    the single capacity_group: the first of nodepool, nodegroup, ASG, ECS cluster, else standalone.
    """
    fields = {
        "instance_name": _first(tags, NAME),
        "asg_name": _first(tags, ASG_NAME),
        "eks_cluster": _eks_cluster(tags),
        "eks_nodegroup": _first(tags, EKS_NODEGROUP),
        "karpenter_nodepool": _first(tags, KARPENTER_NODEPOOL),
        "ecs_cluster": _first(tags, ECS_CLUSTER),
    }
    fields["capacity_group"] = (
        fields["karpenter_nodepool"]
        or fields["eks_nodegroup"]
        or fields["asg_name"]
        or fields["ecs_cluster"]
        or STANDALONE
    )
    return fields
