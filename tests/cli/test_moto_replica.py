"""The demo's read-only moto copy (spot_cli/local/moto_replica.py): it answers EC2 and STS
with the parent's state as it was at the fork, in another process, and a session built with its
endpoints sends only those services there."""

import os

import boto3
import pytest
from botocore.config import Config

from spot_cli.local.moto_replica import MotoReplica
from spot_cli.local.servers import local_session
from tests.support.moto_ec2 import image_id

pytestmark = pytest.mark.aws


def _instance(ec2):
    image = image_id(ec2)
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


def _ids(ec2):
    return {
        i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
    }


def test_the_replica_is_the_parents_state_at_the_fork_in_another_process(aws):
    parent_ec2 = boto3.client("ec2", region_name="us-east-1")
    before = _instance(parent_ec2)
    with MotoReplica() as replica:
        replica.start()
        assert replica._process.pid != os.getpid()
        session = local_session(aws, "us-east-1", endpoints=replica.endpoints)
        replica_ec2 = session.client("ec2")
        after = _instance(parent_ec2)
        assert before in _ids(replica_ec2)
        assert after not in _ids(replica_ec2)  # a copy: later changes stay with the parent
        assert {before, after} <= _ids(parent_ec2)
        # STS goes to the replica with EC2 (its credentials are only known there) ...
        assert session.client("sts")._endpoint.host == replica.url
        # ... its clients wait longer than the code's own config says (a loaded machine) ...
        patient = local_session(
            aws, "us-east-1", endpoints=replica.endpoints, endpoints_read_timeout=99
        )
        given = Config(read_timeout=5, connect_timeout=7)
        ec2_config = patient.client("ec2", config=given).meta.config
        assert (ec2_config.read_timeout, ec2_config.connect_timeout) == (99, 7)
        assert patient.client("sqs", config=given).meta.config.read_timeout == 5
        # ... and everything else to the parent: a queue made there is seen through the session.
        url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="parent")
        assert (
            session.client("sqs").get_queue_url(QueueName="parent")["QueueUrl"] == url["QueueUrl"]
        )
    assert replica._process is None


def test_the_replica_refuses_assume_role_into_an_account_without_the_role(aws):
    with MotoReplica(gate_assume_role=True) as replica:
        replica.start()
        sts = local_session(aws, "us-east-1", endpoints=replica.endpoints).client("sts")
        with pytest.raises(sts.exceptions.ClientError, match="AccessDenied"):
            sts.assume_role(
                RoleArn="arn:aws:iam::210009000009:role/missing", RoleSessionName="test"
            )
