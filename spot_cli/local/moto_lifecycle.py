"""moto (5.x) does not implement DescribeInstances' `instance-lifecycle` filter (it raises
NotImplementedError, a 500), though it records each instance's lifecycle (`spot` for Spot
requests, None on demand). The sampler filters on it server-side, as AWS does, so local runs
and tests teach the in-process moto server that one filter, with AWS's meaning: an instance
matches when its lifecycle is one of the values (an on-demand instance has none, so it never
matches `spot`). Nothing else of moto changes, and the sampler's code is not touched."""

from __future__ import annotations

FILTER = "instance-lifecycle"


def teach_moto_instance_lifecycle() -> None:
    """Idempotent; only affects a moto running in this process (the demo's and the tests')."""
    from moto.ec2 import utils  # noqa: PLC0415 - moto loads only for local runs

    utils.filter_dict_attribute_mapping.setdefault(FILTER, "lifecycle")
