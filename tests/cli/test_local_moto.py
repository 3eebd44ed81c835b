"""The in-process moto's speed-ups (spot_cli/local/servers.py, spot_cli/local/fleet.py) are in
place and answer what moto answers without them."""

import time

import boto3
import pytest

from spot_cli.local.fleet import create_fleet

pytestmark = pytest.mark.aws


def test_jsonpath_is_parsed_once_and_sqs_reads_the_same_clock(aws):
    import jsonpath_ng.ext  # noqa: PLC0415
    import moto.sqs.models  # noqa: PLC0415

    parse = jsonpath_ng.ext.parse
    assert hasattr(parse, "cache_info")
    assert parse("$.detail") is parse("$.detail")
    assert parse("$.detail").find({"detail": {"a": 1}})[0].value == {"a": 1}
    assert abs(moto.sqs.models.unix_time() - time.time()) < 1
    assert abs(moto.sqs.models.unix_time_millis() - time.time() * 1000) < 1000


def test_the_fleet_leaves_moto_only_the_images_it_launches(aws):
    fleet = create_fleet(("us-east-1",), 12, seed=3)
    images = boto3.client("ec2", region_name="us-east-1").describe_images(Owners=["amazon"])
    kept = {(i["ImageId"], i["Architecture"]) for i in images["Images"]}
    assert len(kept) == 2
    assert {arch for _, arch in kept} == {"x86_64", "arm64"}
    assert {i.image_id for i in fleet.instances} <= {image for image, _ in kept}


def test_a_queue_still_hides_received_messages_until_their_visibility_timeout(aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="clock", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    assert len(sqs.receive_message(QueueUrl=url).get("Messages", [])) == 1
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    time.sleep(1.2)
    assert len(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])) == 1
