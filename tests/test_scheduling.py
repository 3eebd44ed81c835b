"""`make test`'s hand-out of the suite to its workers (tests/support/scheduling.py): whole
files, except the smoke runs (one unit each) and tests/dashboards (one unit), slowest first."""

from __future__ import annotations

from tests.docs.test_documented_commands import RUNS
from tests.support.scheduling import SLOWEST_FIRST, SPREAD, rank, scope_of

SMOKE_RUN = f"{SPREAD}test_documented_command_runs[make synth]"


def test_files_are_units_and_smoke_runs_are_spread():
    assert scope_of("tests/cli/test_cli.py::test_x[a]") == "tests/cli/test_cli.py"
    assert scope_of("tests/cli/test_cli.py::TestX::test_y") == "tests/cli/test_cli.py"
    assert scope_of(SMOKE_RUN) == SMOKE_RUN
    # One seeded storm (a session fixture) serves every dashboards file: one unit, one worker.
    assert scope_of("tests/dashboards/test_html_page.py::t") == scope_of(
        "tests/dashboards/test_eviction_panels.py::t"
    )


def test_the_slowest_units_go_first_then_the_larger_ones():
    scopes = {"tests/cli/test_cli.py": 40, "tests/x.py": 3, SMOKE_RUN: 1, "tests/chaos/t.py": 6}
    ordered = sorted(scopes, key=lambda scope: rank(scope, scopes[scope]))
    assert ordered == ["tests/chaos/t.py", SMOKE_RUN, "tests/cli/test_cli.py", "tests/x.py"]


def test_every_smoke_run_named_among_the_slowest_exists():
    smoke = [prefix for prefix in SLOWEST_FIRST if prefix.startswith(SPREAD)]
    ids = [f"{SPREAD}test_documented_command_runs[{' + '.join(c)}]" for c in RUNS.values()]
    for prefix in smoke:
        assert any(i.startswith(prefix) for i in ids), f"no smoke run matches {prefix!r}"
