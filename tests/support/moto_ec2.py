"""An image to launch moto instances from, asked for by name.

Listing moto's 1,301 Amazon images (`describe_images(Owners=["amazon"])`) took 1.1-1.5 s per
call on a quiet 2-core machine and about three times that under a full `make test`; the tests
launched through it hundreds of times. Asking for one image by name takes about 10 ms."""

from __future__ import annotations

from typing import Any

# moto 5's first Amazon image, the one the tests launched from when they took the list's first.
IMAGE_NAME = "Windows_Server-2016-English-Nano-Base-2017.10.13"


def image_id(ec2: Any) -> str:
    """The id of moto's IMAGE_NAME in `ec2`'s region (a moto without it: the first listed)."""
    named = {"Name": "name", "Values": [IMAGE_NAME]}
    images = ec2.describe_images(Owners=["amazon"], Filters=[named])["Images"]
    return (images or ec2.describe_images(Owners=["amazon"])["Images"])[0]["ImageId"]
