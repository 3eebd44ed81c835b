"""boto3 reaches the moto server over HTTP, as the Lambda code will reach AWS."""

import boto3
import pytest

from tests.support.moto_ec2 import image_id

pytestmark = pytest.mark.aws


def test_sqs_round_trip_over_http(aws: str) -> None:
    sqs = boto3.client("sqs")
    assert sqs.meta.endpoint_url == aws
    assert aws.startswith("http://127.0.0.1:")
    url = sqs.create_queue(QueueName="foundation")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody='{"detail-type": "probe"}')
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in messages] == ['{"detail-type": "probe"}']


def test_each_test_starts_from_a_clean_backend(aws: str) -> None:
    assert boto3.client("sqs").list_queues().get("QueueUrls", []) == []


def test_ec2_describe_instances_with_filter(aws: str) -> None:
    ec2 = boto3.client("ec2", region_name="us-west-2")
    image = image_id(ec2)
    run = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m5.large")
    instance_id = run["Instances"][0]["InstanceId"]
    found = ec2.describe_instances(
        Filters=[{"Name": "instance-id", "Values": [instance_id, "i-00000000000000000"]}]
    )
    ids = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
    assert ids == [instance_id]
