"""Instances on the moto server, tagged as the systems that launch them tag them."""

from __future__ import annotations

import boto3
from moto.core import DEFAULT_ACCOUNT_ID

from spot_cli.local.fleet import trim_moto_images
from tests.support.moto_ec2 import image_id


def launch(
    count: int = 1,
    *,
    region: str = "us-east-1",
    tags: dict[str, str] | None = None,
    instance_type: str = "m5.large",
    spot: bool = True,
    session: boto3.session.Session | None = None,
) -> list[str]:
    """`session`: where the calls go (default: the environment's endpoint, the `aws` fixture's)."""
    ec2 = (session or boto3).client("ec2", region_name=region)
    # The session's moto runs in this process: keep two of its 1,301 Amazon images, which it
    # scans for every instance launched (16 ms an instance became 5 ms in a loaded run).
    trimmed = trim_moto_images(DEFAULT_ACCOUNT_ID, region) if session is None else None
    image = trimmed["x86_64"] if trimmed else image_id(ec2)
    extra = {"InstanceMarketOptions": {"MarketType": "spot"}} if spot else {}
    if tags:
        extra["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    ids: list[str] = []
    while len(ids) < count:
        step = min(500, count - len(ids))
        run = ec2.run_instances(
            ImageId=image, MinCount=step, MaxCount=step, InstanceType=instance_type, **extra
        )
        ids.extend(i["InstanceId"] for i in run["Instances"])
    return ids
