"""Every measured figure in README.md and docs/*.md is rendered from a results file in
docs/results/ that a benchmark wrote, and names that file and the command. The figures are
generated (scripts/figures.py), so the tolerance is none: a span that differs from what its
results file renders fails, and so does a measured-looking time outside a span."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.bench_results import RESULTS_DIR, ROOT, read_results
from tests.support.figures import (
    RENDERERS,
    documents,
    rendered,
    spans,
    unsourced_timings,
)

DOCS = documents()


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_figures_are_rendered_from_their_results(path: Path) -> None:
    text = path.read_text()
    assert rendered(text) == text, (
        f"{path.relative_to(ROOT)}: figures differ from docs/results/; run scripts/figures.py"
    )


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_figure_names_its_results_file_and_command(path: Path) -> None:
    for name, body in spans(path.read_text()):
        assert name in RENDERERS, f"{path.name}: unknown figures {name!r}"
        results = RENDERERS[name].results
        assert f"docs/results/{results}" in body
        assert read_results(RESULTS_DIR / results)["command"] in body


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_measured_time_outside_a_figures_span(path: Path) -> None:
    assert unsourced_timings(path.read_text()) == [], (
        f"{path.relative_to(ROOT)}: put measured times in a figures span (tests/support/figures.py)"
    )


def test_every_results_file_has_provenance_and_is_quoted() -> None:
    quoted = {RENDERERS[name].results for p in DOCS for name, _ in spans(p.read_text())}
    files = sorted(RESULTS_DIR.glob("*.json"))
    assert files
    for path in files:
        record = read_results(path)
        assert record["command"] and record["date"] and record["figures"], path.name
        machine = record["machine"]
        assert machine["cores"] >= 1 and machine["cpu_model"] and machine["python"], path.name
        assert len(machine["load_average_1_5_15"]) == 3, path.name
        assert path.name in quoted, f"{path.name} is quoted by no doc"


def test_a_changed_result_makes_the_docs_stale(tmp_path: Path) -> None:
    """The check above can fail: a different figure renders different text."""
    shutil.copytree(RESULTS_DIR, tmp_path, dirs_exist_ok=True)
    for path in tmp_path.glob("*.json"):
        record = json.loads(path.read_text())
        record["command"] += " --changed"
        path.write_text(json.dumps(record))
    texts = [p.read_text() for p in DOCS]
    assert any(spans(t) for t in texts)
    for text in texts:
        if spans(text):
            assert rendered(text, tmp_path) != text


def test_measured_times_outside_spans_are_found() -> None:
    assert unsourced_timings("the demo takes about two minutes; window 1 s") == [
        "about two minutes"
    ]
    assert unsourced_timings("<!-- figures: demo -->took 5 s<!-- /figures -->") == []
