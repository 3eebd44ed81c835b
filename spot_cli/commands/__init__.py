"""One module per `spot-insights` subcommand, each owning its options and its body:
`register(subparsers)` adds the subcommand's parser, `run(args) -> int` is its exit code.

Command modules import only the standard library and `spot_cli` at module level; boto3,
opensearch-py and moto are imported inside `run`, so `--help` and usage errors stay fast."""

from spot_cli.commands import backfill, demo, preflight, redrive, report, simulate

# In the order `spot-insights --help` lists them.
COMMANDS = (simulate, report, redrive, backfill, demo, preflight)
