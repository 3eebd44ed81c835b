"""`python -m spot_cli.chaos [--reduced] [--only kill-node,...] [--json]` (`make chaos`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Sequence

from spot_cli.chaos.runner import FAULTS, REDUCED, ChaosPlan, ScenarioResult, run_chaos
from spot_cli.chaos.servers import RUNNING_NODES

MOTO_RESTART_SCOPE = (
    "restart-moto stops and restarts moto's HTTP server with its state kept in the runner's "
    "process: every SQS, EventBridge and EC2 call fails for the outage (refused connections, "
    "dropped keep-alive connections) while a written batch waits for its delete. It tells that "
    "pollers, publisher and handler ride out an AWS API outage without losing or doubling a "
    "record. It does not tell anything about SQS durability: a real moto process restart loses "
    "every queue and message (moto keeps no state on disk), which would measure moto, not this "
    "pipeline, so that variant is not run."
)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(results: Sequence[ScenarioResult]) -> str:
    header = (
        "fault",
        "storm",
        "held s",
        "recovery s",
        "outage s",
        "max queue age s",
        "max receives",
        "indexed/events",
        "missing",
        "DLQ (poison/expected)",
        "handler starts",
        "verdict",
    )
    rows = [header]
    for r in results:
        poison_found = r.dlq_total - r.dlq_non_poison
        rows.append(
            (
                r.name,
                "shared" if r.shared_storm else "own",
                _seconds(r.held_seconds),
                _seconds(r.recovery_seconds),
                _seconds(r.outage_seconds),
                f"{r.max_queue_age_seconds:.1f}",
                str(r.max_receive_count),
                f"{r.indexed}/{r.events}"
                + (f" ({r.republished} republished)" if r.republished else ""),
                str(r.missing),
                f"{r.dlq_total} ({poison_found}/{r.poison}"
                + (f", {r.dlq_reparked} re-parked)" if r.dlq_reparked else ")"),
                str(r.handler_starts),
                "ok" if r.ok else "FAILED",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _stop_nodes_and_exit(_signum: int, _frame: object) -> None:
    # A terminated run still stops and purges its own node; the pollers' threads would keep
    # a normal exit waiting.
    for node in list(RUNNING_NODES):
        node.stop()
    os._exit(143)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spot_cli.chaos", description=__doc__)
    parser.add_argument("--reduced", action="store_true", help="the small run `make test` does")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(FAULTS)}")
    parser.add_argument("--events", type=int, help="storm size")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    plan = REDUCED if args.reduced else ChaosPlan()
    if args.events:
        plan = dataclasses.replace(plan, events=args.events)
    faults = [f.strip() for f in args.only.split(",")] if args.only else list(FAULTS)
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(unknown)}; expected {', '.join(FAULTS)}")

    signal.signal(signal.SIGTERM, _stop_nodes_and_exit)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results, facts = run_chaos(plan, faults, log=log)
    if args.json:
        print(
            json.dumps(
                {"plan": dataclasses.asdict(plan), "run": facts}
                | {"scenarios": [r.to_dict() for r in results]},
                indent=2,
                default=str,
            )
        )
    else:
        print(table(results))
        print()
        for r in results:
            for line in [*r.notes, *r.problems]:
                print(f"{r.name}: {line}")
        print(f"note: {MOTO_RESTART_SCOPE}")
        storms = "in one shared storm" if plan.one_storm else "per fault"
        print(
            f"{plan.events} events + {plan.poison} poison records {storms}, "
            f"{len(plan.regions)} regions; node starts {facts['node_start_seconds']} s; "
            f"wall {facts['wall_seconds']} s"
        )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
