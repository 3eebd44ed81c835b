"""`spot-insights preflight`: read-only checks of the account and region before `cdk deploy`
(the checks themselves: spot_cli/preflight.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spot_cli import preflight as checks
from spot_cli.errors import CliError

NAME = "preflight"


def register(commands: Any) -> None:
    parser = commands.add_parser(
        NAME, help="read-only checks of the account and region before `cdk deploy`"
    )
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="deploy setting, exactly as passed to `cdk deploy -c` (repeatable)",
    )
    parser.add_argument(
        "--certificate-arn", help="same as -c certificateArn=...; wins over the context"
    )
    parser.add_argument("--region", help="deploy region (default: the session's region)")
    parser.add_argument(
        "--app-dir", type=Path, default=Path("."), help="directory with cdk.json (default: .)"
    )
    parser.add_argument(
        "--template",
        type=Path,
        help=(
            f"synthesized template (default: <app-dir>/{checks.DEFAULT_TEMPLATE}, "
            "from `make synth`)"
        ),
    )
    parser.add_argument("--json", action="store_true", help="the checks as JSON")


def run(args: argparse.Namespace) -> int:
    overrides = dict(_key_value(item) for item in args.context)
    if args.certificate_arn:
        overrides["certificateArn"] = args.certificate_arn
    settings = checks.load_settings(args.app_dir, overrides)
    template_path = args.template or args.app_dir / checks.DEFAULT_TEMPLATE
    plan = checks.read_plan(checks.load_template(template_path))
    region, client = checks.aws_clients(args.region)
    results = checks.run_checks(settings, plan, region, client)
    print(
        checks.render_json(results, region) if args.json else checks.render_table(results, region)
    )
    return 1 if any(check.status == checks.FAIL for check in results) else 0


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise CliError(f"-c expects KEY=VALUE, got {item!r}")
    return key, value
