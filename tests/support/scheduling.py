"""How `make test` (`pytest -n 2 --dist loadfile`) hands the suite to its two workers.

xdist's loadfile sends whole files, largest (most tests) first. Two refinements:

- The documented-command smoke runs (tests/docs/test_documented_commands.py, a third of the
  suite's time) share no costly fixture: each run is a unit of its own, so both workers take
  them. As one file they kept one worker busy for minutes after the other had finished.
- tests/dashboards shares one session fixture (`seeded_storm`, a 400-event demo run): its files
  go to one worker as one unit, so the storm is run once, not once per worker.

Units are handed out slowest first (the units below, measured with `--durations`, in this
order; then the rest by number of tests), so what is left at the end is short and both workers
finish together. A unit missing from SLOWEST_FIRST only changes the order, never what runs.

(`--dist loadgroup` with `xdist_group` marks would say the same, but with pytest 9.2 and
pytest-xdist 3.8 it silently ignores the marks: pytest-xdist issue 1386.)"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

SPREAD = "tests/docs/test_documented_commands.py::"
SHARED_SESSION_FIXTURES = ("tests/dashboards/",)
# Scopes (prefixes) of the slowest units, slowest first, from `--durations` of a 2-core run;
# smoke runs by their documented command.
SLOWEST_FIRST = (
    "tests/ingest/test_storm.py",
    # Not beside the storm at the start: the chaos run's node starts and the storm's 5,000
    # moto instances together starved moto (EC2 read timeouts) in a loaded run.
    "tests/stack/test_cdk_cli_synth.py",
    "tests/chaos/",
    "tests/sampler/test_sampler_on_node.py",
    "tests/dashboards/",
    "tests/stack/test_installed_library.py",
    "tests/cli/test_demo_command.py",
    "tests/cli/test_pipeline_run.py",
    f"{SPREAD}test_documented_command_runs[make bench ",
    f"{SPREAD}test_documented_command_runs[make synth",
    f"{SPREAD}test_documented_command_runs[make demo",
    "tests/ingest/test_bursts.py",
    f"{SPREAD}test_documented_command_runs[scripts/bench_demo.py",
)


def scope_of(nodeid: str) -> str:
    if nodeid.startswith(SPREAD):
        return nodeid
    path = nodeid.split("::", 1)[0]
    for directory in SHARED_SESSION_FIXTURES:
        if path.startswith(directory):
            return directory
    return path


def rank(scope: str, tests: int) -> tuple[int, int]:
    """Sort key of a unit: its place in SLOWEST_FIRST, then more tests first."""
    known = [i for i, prefix in enumerate(SLOWEST_FIRST) if scope.startswith(prefix)]
    return (known[0] if known else len(SLOWEST_FIRST), -tests)


class SuiteScheduling(LoadScopeScheduling):
    _ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

    def _assign_work_unit(self, node: WorkerController) -> None:
        if not self._ordered:  # the first hand-out: the queue is complete, put it in our order
            units = sorted(self.workqueue.items(), key=lambda unit: rank(unit[0], len(unit[1])))
            self.workqueue.clear()
            self.workqueue.update(units)
            self._ordered = True
        super()._assign_work_unit(node)
