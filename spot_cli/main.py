"""`spot-insights`: the top-level parser, the dispatch to one module per subcommand
(spot_cli/commands/) and the mapping of failures to one line and an exit code.

Heavy imports (boto3, opensearch-py, moto) happen inside the subcommands so `--help` and
argument errors stay fast. Every expected failure becomes one line on stderr and exit code 1
(2 for usage errors, from argparse); tracebacks are reserved for bugs, and `--debug` shows them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from spot_cli.commands import COMMANDS
from spot_cli.errors import CliError

PROG = "spot-insights"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, not the usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Spot Interruption Insights command line.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return RUN[args.command](args)
    except CliError as exc:
        return _fail(exc, args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # boto, opensearch-py and network errors: one clear line
        if args.debug:
            raise
        return _fail(CliError(describe_error(exc)), args)


def _fail(exc: CliError, args: argparse.Namespace) -> int:
    print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
    return exc.exit_code


def describe_error(exc: BaseException) -> str:
    """One line for the usual suspects, without importing their libraries up front."""
    kind = type(exc).__name__
    module = type(exc).__module__
    if module.startswith("opensearchpy"):
        status = getattr(exc, "status_code", None)
        info = getattr(exc, "info", None)
        if kind in {"ConnectionError", "ConnectionTimeout", "SSLError"}:
            cause = getattr(exc, "error", "") or kind
            return f"cannot reach OpenSearch ({kind}: {str(cause)[:200]})"
        reason = info.get("error", info) if isinstance(info, dict) else info
        return f"OpenSearch answered {status}: {str(reason)[:300]}"
    if kind in {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"}:
        return f"cannot reach the AWS endpoint: {exc}"
    if kind in {"NoCredentialsError", "PartialCredentialsError", "NoRegionError"}:
        return str(exc)
    if kind == "ClientError":
        error = getattr(exc, "response", {}).get("Error", {})
        return f"{error.get('Code', 'AWS error')}: {error.get('Message', exc)}"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{kind}: {first_line}" if first_line else kind


RUN = {command.NAME: command.run for command in COMMANDS}
