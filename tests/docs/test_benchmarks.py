"""Benchmarks are run by hand and by the smoke tests, not collected by pytest: they must not
lean on pytest's conftest modules, which change with the tests (a removed FakeContext once broke
`make bench` without any test noticing). They import product code and tests/support only."""

from pathlib import Path

from tests.support.imports import imported_names

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted([*ROOT.glob("scripts/*.py"), *ROOT.glob("tests/**/bench_*.py")])


def test_benchmarks_exist() -> None:
    names = {p.name for p in BENCHMARKS}
    assert {"bench_ingest.py", "bench_demo.py", "bench_proxy.py"} <= names


def test_no_benchmark_imports_a_conftest() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_names(path) if "conftest" in m)
        for path in BENCHMARKS
    }
    assert {p: m for p, m in offenders.items() if m} == {}
