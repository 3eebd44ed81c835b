"""A real HTTP server in front of the moto server that decides AssumeRole as IAM would.

moto's AssumeRole succeeds for any role ARN, existing or not (its docstring says so), so it
cannot show an account without the spoke role. This gate forwards every STS request to moto,
except an AssumeRole whose role does not exist in the target account's moto IAM: that gets
the 403 AccessDenied IAM answers both for a missing role and for a trust policy that does not
admit the caller. Trust policies themselves are checked by the synth tests
(tests/org/test_spoke_synth.py), not here. It also counts AssumeRole calls per role ARN."""

from __future__ import annotations

from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import boto3
import requests

from tests.support.loopback import LoopbackServer

_ERROR = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
<RequestId>gate</RequestId></ErrorResponse>"""
_DENIED = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform:
sts:AssumeRole on resource: {arn}</Message></Error><RequestId>gate</RequestId></ErrorResponse>"""


def account_session(moto_url: str, account: str, region: str = "us-east-1") -> boto3.Session:
    """Credentials of `account` on moto (moto puts an assumed role's session in the account of
    the role ARN, whether or not the role exists)."""
    sts = boto3.client("sts", endpoint_url=moto_url, region_name=region)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/test-admin", RoleSessionName="test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


class StsGate(LoopbackServer):
    def __init__(self, moto_url: str) -> None:
        self.moto_url = moto_url.rstrip("/")
        self.assume_role_calls: Counter[str] = Counter()
        # When set, every AssumeRole gets this error code (400), as STS does when throttling.
        self.fail_with: str | None = None
        super().__init__(self._handler_class())

    def _role_exists(self, role_arn: str) -> bool:
        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        iam = account_session(self.moto_url, account).client("iam", endpoint_url=self.moto_url)
        try:
            iam.get_role(RoleName=name)
        except iam.exceptions.NoSuchEntityException:
            return False
        return True

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                form = parse_qs(body.decode())
                if form.get("Action") == ["AssumeRole"]:
                    arn = form["RoleArn"][0]
                    gate.assume_role_calls[arn] += 1
                    if gate.fail_with:
                        body = _ERROR.format(code=gate.fail_with, message="Rate exceeded")
                        self._reply(400, body.encode(), "text/xml")
                        return
                    if not gate._role_exists(arn):
                        self._reply(403, _DENIED.format(arn=arn).encode(), "text/xml")
                        return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length")
                }
                upstream = requests.post(
                    gate.moto_url + self.path, data=body, headers=headers, timeout=30
                )
                self._reply(
                    upstream.status_code,
                    upstream.content,
                    upstream.headers.get("Content-Type", "text/xml"),
                )

            def _reply(self, status: int, content: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        return Handler
