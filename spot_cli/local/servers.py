"""The local stand-ins for the cloud: the project's OpenSearch node (`scripts/opensearch`) and a
moto server in this process, with an AWS session that sends every call to it."""

from __future__ import annotations

import functools
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spot_cli.errors import CliError
from spot_cli.opensearch_client import OpenSearchSettings

REPO = Path(__file__).resolve().parents[2]
OPENSEARCH_SCRIPT = REPO / "scripts" / "opensearch"
# Any non-empty keys: moto accepts them, and they never reach an account.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


@dataclass(frozen=True)
class LocalOpenSearch:
    settings: OpenSearchSettings
    started_port: int | None  # set when this run started the node


def _script(*args: str) -> str:
    result = subprocess.run(
        [str(OPENSEARCH_SCRIPT), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise CliError(f"scripts/opensearch {args[0]} failed: {message[-1] if message else '?'}")
    return result.stdout


def local_opensearch(port: int) -> LocalOpenSearch:
    """The node named by OPENSEARCH_URL, else one started (or found running) on `port`."""
    if url := os.environ.get("OPENSEARCH_URL"):
        return LocalOpenSearch(
            OpenSearchSettings(
                endpoint=url,
                auth="basic",
                user=os.environ.get("OPENSEARCH_USER", "admin"),
                password=os.environ.get("OPENSEARCH_PASSWORD"),
                ca_certs=os.environ.get("OPENSEARCH_CA_CERTS"),
            ),
            None,
        )
    return LocalOpenSearch(start_local_node(port), port)


def start_local_node(port: int) -> OpenSearchSettings:
    """Start (or find running) the project's node on `port`; its connection settings."""
    _script("up", "--port", str(port), "--timeout", "240")
    values = dict(
        line.removeprefix("export ").split("=", 1)
        for line in _script("env", "--port", str(port)).splitlines()
        if "=" in line
    )
    get = {k: v.strip("'") for k, v in values.items()}.get
    return OpenSearchSettings(
        endpoint=get("OPENSEARCH_URL", f"https://127.0.0.1:{port}"),
        auth="basic",
        user=get("OPENSEARCH_USER"),
        password=get("OPENSEARCH_PASSWORD"),
        ca_certs=get("OPENSEARCH_CA_CERTS"),
    )


def stop_opensearch(port: int) -> None:
    _script("stop", "--port", str(port))


@contextmanager
def moto_server(*, gate_assume_role: bool = False) -> Iterator[str]:
    """A moto server in this process, reached over HTTP like AWS.

    `gate_assume_role`: AssumeRole is refused, as IAM refuses it, for a role that does not exist
    in the target account (moto grants any role ARN); see `assume_role_gate`."""
    try:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - dev dependency
    except ImportError as exc:
        raise CliError("the demo needs moto[server] (make setup installs it)") from exc
    import logging  # noqa: PLC0415
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _parse_each_jsonpath_once()
    _cheap_sqs_clock()
    _sqs_reads_only_what_it_needs()
    _sqs_deletes_without_a_second_scan()
    _sqs_pending_groups_from_a_snapshot()
    _ec2_reads_a_resources_own_tags()
    _forward_whole_events_between_buses()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    if gate_assume_role:
        wrap_app(server, assume_role_gate)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # moto keeps its accounts in module state, shared by every server in the process (a test
    # session's and the demo's): start from empty ones, as against a fresh account.
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=30) as response:
        response.read()
    try:
        yield url
    finally:
        server.stop()


def wrap_app(server: Any, middleware: Callable[[Any], Any]) -> None:
    """Put a WSGI middleware in front of this one server's moto app (not moto's module state,
    which every server in the process shares)."""
    from moto.moto_server import threaded_moto_server as threaded  # noqa: PLC0415
    from werkzeug.serving import make_server  # noqa: PLC0415

    def entry() -> None:
        app = middleware(threaded.DomainDispatcherApplication(threaded.create_backend_app))
        server._server = make_server(
            server._ip_address,
            server._port,
            app,
            True,
            request_handler=threaded.MotoRequestHandler,
        )
        server._server_ready_event.set()
        server._server.serve_forever()

    server._server_entry = entry


# Organizations creates this role in every account it creates, trusting the management account:
# how an operator (and the demo) reaches a member account. moto has no such accounts, so the gate
# admits it as if Organizations had created it.
ORGANIZATION_ACCESS_ROLE = "OrganizationAccountAccessRole"


def assume_role_gate(app: Any) -> Any:
    """AssumeRole as IAM decides it for a missing role: 403 AccessDenied (what STS answers both
    for a role that does not exist and for a trust policy that does not admit the caller).
    moto grants AssumeRole for any ARN, so without this no account could lack the spoke role.
    Trust policies themselves are checked on the synthesized templates (tests/org/)."""
    import io  # noqa: PLC0415
    from urllib.parse import parse_qs  # noqa: PLC0415

    def gate(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") == "POST" and "/sts/" in environ.get(
            "HTTP_AUTHORIZATION", ""
        ):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            form = parse_qs(body.decode("utf-8", "replace"))
            arn = (form.get("RoleArn") or [""])[0]
            if form.get("Action") == ["AssumeRole"] and not _role_exists(arn):
                denied = _ASSUME_ROLE_DENIED.format(arn=arn).encode()
                start_response(
                    "403 Forbidden",
                    [("Content-Type", "text/xml"), ("Content-Length", str(len(denied)))],
                )
                return [denied]
        return app(environ, start_response)

    return gate


_ASSUME_ROLE_DENIED = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    "<Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole on "
    "resource: {arn}</Message></Error><RequestId>local</RequestId></ErrorResponse>"
)


def _role_exists(role_arn: str) -> bool:
    from moto.iam.models import iam_backends  # noqa: PLC0415 - in-process moto only

    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return False
    name = parts[5].rsplit("/", 1)[-1]
    if name == ORGANIZATION_ACCESS_ROLE:
        return True
    backend = iam_backends[parts[4]][parts[1]]
    return any(role.name == name for role in backend.get_roles())


def _forward_whole_events_between_buses() -> None:
    """EventBridge forwards an event to a bus in another account or region unchanged (its id,
    account, region, time and resources are the sender's). moto puts a new event on the target
    bus instead, with a new id and the target's account and region, which would make every
    spoke's event look like the hub's. A rule whose targets are all buses here delivers the
    original event to the target bus's rules; any other rule is moto's own."""
    try:
        from moto.events import models as events_models  # noqa: PLC0415 - dev dependency
        from moto.utilities.arns import parse_arn  # noqa: PLC0415
    except ImportError:
        return
    rule_class = events_models.Rule
    if getattr(rule_class.send_to_targets, "whole_events", False):
        return
    own = rule_class.send_to_targets

    def send_to_targets(self: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        arns = [target["Arn"] for target in self.targets]
        if not arns or not all(":event-bus/" in arn for arn in arns):
            own(self, event, transform_input)
            return
        if not self.event_pattern.matches_event(event):
            return
        backends = events_models.events_backends
        for arn in map(parse_arn, arns):
            # The account's backends exist (the target bus was created): read them without
            # BackendDict's process-wide lock, which every event would otherwise queue on.
            account = dict.get(backends, arn.account) or backends[arn.account]
            bus = account[arn.region].describe_event_bus(arn.resource_id)
            for rule in list(bus.rules.values()):
                rule.send_to_targets(dict(event), transform_input)

    send_to_targets.whole_events = True  # type: ignore[attr-defined]
    rule_class.send_to_targets = send_to_targets


def _parse_each_jsonpath_once() -> None:
    """moto's EventBridge parses eight JSONPath expressions (the target's InputTransformer
    paths, or its default set) for every event it delivers, and each parse builds a yacc parser:
    60% of a PutEvents call, most of the demo's publishing time. The expressions are the same
    every time and a parsed one is only read, so one parse per expression serves them all
    (moto imports `parse` from the module at each call, so it gets this one)."""
    try:
        import jsonpath_ng.ext  # noqa: PLC0415 - moto's dependency, present with moto
    except ImportError:
        return
    if not hasattr(jsonpath_ng.ext.parse, "cache_info"):
        jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def _cheap_sqs_clock() -> None:
    """moto's SQS scans every message of a queue several times for each message it sends or
    returns (queue attributes, visibility, the retention check), reading a datetime-based
    clock (about 10 us) per message each time: a queue a few thousand deep then costs seconds
    per ReceiveMessage, and a 5,000-event storm goes quadratic. The same epoch seconds from
    time.time() cost a small fraction of that; nothing else changes."""
    try:
        import moto.sqs.models as sqs_models  # noqa: PLC0415 - dev dependency
    except ImportError:
        return
    if getattr(sqs_models.unix_time, "cheap", False):
        return  # already done (a second server in this process)
    slow_seconds = sqs_models.unix_time

    def epoch_seconds(dt: Any = None) -> float:
        return time.time() if dt is None else slow_seconds(dt)

    def epoch_millis(dt: Any = None) -> float:
        return epoch_seconds(dt) * 1000.0

    epoch_seconds.cheap = True  # type: ignore[attr-defined]
    sqs_models.unix_time = epoch_seconds
    sqs_models.unix_time_millis = epoch_millis


def _sqs_reads_only_what_it_needs() -> None:
    """moto's SQS builds a queue's whole attribute map (three of its counters scan every
    message the queue holds) where it reads one attribute that needs no scan: the retention
    period, for each message ReceiveMessage returns, and ContentBasedDeduplication (a FIFO
    attribute) for each message sent. With a few thousand messages queued that made receiving
    and sending cost O(depth) per message. Here the retention check reads the queue's period
    directly, and while a message is sent to a standard queue its attribute map is empty (the
    only one SendMessage reads is absent from a standard queue's map anyway). Every answer
    stays what it was (tests/cli/test_moto_speedups.py)."""
    try:
        import moto.sqs.models as sqs_models  # noqa: PLC0415 - dev dependency
    except ImportError:
        return
    backend_class, queue_class = sqs_models.SQSBackend, sqs_models.Queue
    if getattr(backend_class.send_message, "reads_only_what_it_needs", False):
        return  # already done (a second server in this process)
    own_send, own_attributes = backend_class.send_message, queue_class.attributes
    sending = threading.local()

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return period + message.sent_timestamp / 1000 > sqs_models.unix_time()

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return own_send(self, *args, **kwargs)
        finally:
            sending.active = False

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(sending, "active", False) and not self.fifo_queue:
            return {}
        return own_attributes.fget(self)

    send_message.reads_only_what_it_needs = True  # type: ignore[attr-defined]
    backend_class.is_message_valid_based_on_retention_period = (
        is_message_valid_based_on_retention_period
    )
    backend_class.send_message = send_message
    queue_class.attributes = property(attributes)


def _sqs_deletes_without_a_second_scan() -> None:
    """moto's DeleteMessage scans the whole queue twice for each receipt handle (is it known,
    then a copy without it): with thousands queued, the drain's deletes cost more than its
    handler. Here one scan stops at the message (in-flight messages, the ones deleted, are the
    oldest, near the front) and the queue is rebuilt without it, as moto does (a new list, so
    a receive iterating the old one is undisturbed). Unknown and already deleted handles are
    answered as moto answers them."""
    try:
        import moto.sqs.models as sqs_models  # noqa: PLC0415 - dev dependency
        from moto.sqs.exceptions import ReceiptHandleIsInvalid  # noqa: PLC0415
    except ImportError:
        return
    queue_class = sqs_models.Queue
    if getattr(queue_class.delete_message, "one_scan", False):
        return

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: moto accepts it again
        messages = self._messages
        position = next(
            (i for i, m in enumerate(messages) if m.had_receipt_handle(receipt_handle)), None
        )
        if position is None:
            raise ReceiptHandleIsInvalid()
        message = messages[position]
        self.pending_messages.discard(message)
        self.deleted_messages.update(message.all_receipt_handles)
        self._messages = messages[:position] + messages[position + 1 :]

    delete_message.one_scan = True  # type: ignore[attr-defined]
    queue_class.delete_message = delete_message


def _sqs_pending_groups_from_a_snapshot() -> None:
    """Each ReceiveMessage reads the groups of the queue's in-flight messages by iterating the
    set of them in Python, while another request's thread (a second poller's delete or
    receive) may change that set: moto then answers 500 ("Set changed size during
    iteration"). The same groups, read from a copy of the set (made in one step)."""
    try:
        import moto.sqs.models as sqs_models  # noqa: PLC0415 - dev dependency
    except ImportError:
        return
    queue_class = sqs_models.Queue
    if getattr(queue_class.pending_message_groups.fget, "snapshot", False):
        return

    def pending_message_groups(self: Any) -> set[str]:
        pending = tuple(self._pending_messages)
        return {message.group_id for message in pending if message.group_id is not None}

    pending_message_groups.snapshot = True  # type: ignore[attr-defined]
    queue_class.pending_message_groups = property(pending_message_groups)


def _ec2_reads_a_resources_own_tags() -> None:
    """moto finds an EC2 resource's tags with DescribeTags' filter code: every tag of every
    resource in the region matched against a pattern of the resource's id. DescribeInstances
    and RunInstances do that for each instance, so a fleet of a thousand instances per region
    costs a million matches per full listing. An id has no wildcard, so the filter selects
    exactly the resource's own entry: read it directly, in DescribeTags' result form."""
    try:
        from moto.ec2.models import core as ec2_core  # noqa: PLC0415 - dev dependency
        from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix  # noqa: PLC0415
    except ImportError:
        return
    resource_class = ec2_core.TaggedEC2Resource
    own = resource_class.get_tags
    if getattr(own, "direct", False):
        return

    def get_tags(self: Any) -> list[dict[str, str]]:
        resource_id = self.id
        if not resource_id or any(c in resource_id for c in "*?["):
            return own(self)
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
        tags = self.ec2_backend.tags  # a defaultdict: get() adds no entry
        return [
            {"resource_id": resource_id, "key": key, "value": value, "resource_type": kind}
            for key, value in tags.get(resource_id, {}).items()
        ]

    get_tags.direct = True  # type: ignore[attr-defined]
    get_tags.moto_own = own  # type: ignore[attr-defined]
    resource_class.get_tags = get_tags


def local_session(
    endpoint_url: str,
    home_region: str,
    *,
    max_attempts: int | None = None,
    assumed: Mapping[str, Any] | None = None,
    endpoints: Mapping[str, str] | None = None,
    endpoints_read_timeout: float | None = None,
) -> Any:
    """A boto3 session whose clients all talk to `endpoint_url` (the moto server) with local
    keys: the process environment is left as it is, so nothing can reach a real account.

    `max_attempts`: botocore's standard retry mode with that many attempts for every client
    (default: botocore's own retry configuration). `assumed`: AssumeRole's `Credentials`, for
    a session in the role's account (moto's default account otherwise). `endpoints`: service
    name -> another endpoint for that service's clients (a `MotoReplica`'s, for EC2 and STS);
    sessions built from this one's class for an assumed role keep it.
    `endpoints_read_timeout`: the read timeout of those services' clients, whatever config the
    caller gives (a moto page of hundreds of instances on a loaded machine outlasts the 5 s the
    code allows EC2)."""
    import boto3  # noqa: PLC0415 - start-up time
    import botocore.session  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    routes = dict(endpoints or {})

    def endpoint_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        service = args[0] if args else kwargs.get("service_name")
        return routes.get(service, endpoint_url)

    def routed(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        return (args[0] if args else kwargs.get("service_name")) in routes

    class _LocalSession(boto3.session.Session):
        def client(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("endpoint_url", endpoint_for(args, kwargs))
            if endpoints_read_timeout is not None and routed(args, kwargs):
                longer = Config(read_timeout=endpoints_read_timeout)
                given = kwargs.get("config")
                kwargs["config"] = given.merge(longer) if given else longer
            return super().client(*args, **kwargs)

        def resource(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("endpoint_url", endpoint_for(args, kwargs))
            return super().resource(*args, **kwargs)

    core = botocore.session.Session()
    if max_attempts is not None:
        core.set_config_variable("retry_mode", "standard")
        core.set_config_variable("max_attempts", max_attempts)
    keys = (
        {
            "aws_access_key_id": assumed["AccessKeyId"],
            "aws_secret_access_key": assumed["SecretAccessKey"],
            "aws_session_token": assumed["SessionToken"],
        }
        if assumed
        else LOCAL_CREDENTIALS
    )
    return _LocalSession(botocore_session=core, region_name=home_region, **keys)
