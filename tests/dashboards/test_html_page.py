"""`spot-insights report --html` opened in Debian's headless Chromium: every panel drawn, no
console error (the page's Content-Security-Policy turns any network request into one), and a
screenshot kept under the test's temporary directory."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from spot_cli.dashboard_panels import TimeRange, load_dashboard
from spot_cli.html_report import SECTION_ROWS, write_html
from spot_cli.main import main
from spot_cli.market import MarketRequest, build_market, market_tables
from spot_cli.rates import RatesRequest, build_rates, rate_tables
from spot_cli.report import ReportRequest
from spot_cli.scorecard import ScorecardRequest, build_scorecard, scorecard_tables

pytestmark = [pytest.mark.opensearch]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def page(
    seeded_storm: Any, opensearch_node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> Path:
    monkeypatch.setenv("OPENSEARCH_URL", opensearch_node.url)
    monkeypatch.setenv("OPENSEARCH_USER", opensearch_node.user)
    monkeypatch.setenv("OPENSEARCH_PASSWORD", opensearch_node.password)
    if opensearch_node.ca_certs:
        monkeypatch.setenv("OPENSEARCH_CA_CERTS", opensearch_node.ca_certs)
    path = tmp_path / "spot-insights.html"
    code = main(["report", "--html", str(path), "--index-prefix", seeded_storm.prefix])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"to {path}" in out
    return path


@pytest.fixture
def browser() -> Any:
    for binary in (CHROMIUM, CHROMEDRIVER):
        assert Path(binary).exists(), f"{binary} missing: run scripts/system-deps (Debian chromium)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_every_panel_renders_offline_without_console_errors(
    page: Path, browser: Any, tmp_path: Path
) -> None:
    text = page.read_text()
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert "<script src=" not in text and "<link" not in text  # everything inline
    board = load_dashboard()
    browser.get(page.as_uri())
    logs: list[dict[str, Any]] = []

    def settled(driver: Any) -> bool:
        logs.extend(driver.get_log("browser"))  # reading the log empties it
        done = driver.execute_script("return document.body.dataset.rendered || null")
        return bool(done) or any(e["level"] == "SEVERE" for e in logs)

    WebDriverWait(browser, 90).until(settled)
    logs.extend(browser.get_log("browser"))
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(height + 50, 12000))
    browser.save_screenshot(str(tmp_path / "dashboard.png"))
    errors = [e for e in logs if e["level"] in {"SEVERE", "ERROR"}]
    assert not errors, errors
    charts = browser.find_elements(By.CSS_SELECTOR, "[data-panel]")
    assert [c.get_attribute("data-panel") for c in charts] == [p.id for p in board.panels]
    for chart in charts:
        name = chart.get_attribute("data-panel")
        assert chart.get_attribute("data-rendered") == "true", name
        marks = chart.find_elements(
            By.CSS_SELECTOR, "svg .mark-rect path, svg .mark-text text, svg .mark-rect"
        )
        assert marks, f"{name}: no marks drawn"
        assert chart.size["height"] > 40, name
    rows = browser.find_elements(By.CSS_SELECTOR, "table.events tbody tr")
    assert len(rows) == 50
    # The rates, the scorecard and the market: the report's tables, each with rows, shown.
    sections = browser.find_elements(By.CSS_SELECTOR, "section[data-section]")
    assert [s.get_attribute("data-section") for s in sections] == ["rates", "scorecard", "market"]
    for section in sections:
        tables = section.find_elements(By.CSS_SELECTOR, "table.figures")
        assert tables and all(t.is_displayed() for t in tables), section.text[:200]
        assert all(t.find_elements(By.CSS_SELECTOR, "tbody tr") for t in tables)
    assert (tmp_path / "dashboard.png").stat().st_size > 20_000


def test_the_demo_writes_the_page_with_every_panel(seeded_storm: Any) -> None:
    text = seeded_storm.page.read_text()
    for panel in load_dashboard().panels:
        assert f'data-panel="{panel.id}"' in text
    for section in ("rates", "scorecard", "market"):
        assert f'data-section="{section}"' in text, section
    # The market section holds the demo's own market context: the pools it printed, in order,
    # with the same flags (the demo writes the page after its market run, not before).
    parser = _Tables()
    parser.feed(text)
    [pools] = [rows for title, rows in parser.tables.items() if title.startswith("Pools:")]
    header, *rows = pools
    printed = seeded_storm.market["pools"][: len(rows)]
    assert rows and len(rows) == min(len(seeded_storm.market["pools"]), SECTION_ROWS)
    column = {name: header.index(name) for name in ("pool", "advisor", "flag")}
    assert [r[column["pool"]] for r in rows] == [p["pool"] for p in printed]
    assert [r[column["advisor"]] for r in rows] == [p["advisor_bucket"] or "-" for p in printed]
    assert [r[column["flag"]] == "ABOVE" for r in rows] == [p["flagged"] for p in printed]


class _Tables(HTMLParser):
    """Each `table.figures` of the page: its caption (the h3 before it), header and rows."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._title = ""
        self._table: list[list[str]] | None = None  # the figures table being read
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h3":
            self._in_title, self._title = True, ""
        elif tag == "table" and ("class", "figures") in attrs:
            self._table = self.tables[self._title] = []
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in {"td", "th"} and self._table is not None:
            self._table[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3":
            self._in_title = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title += data
        elif self._table and self._table[-1]:
            self._table[-1][-1] += data


def test_the_page_shows_the_rates_scorecard_and_market_of_the_reports(
    seeded_storm: Any, opensearch: Any, tmp_path: Path
) -> None:
    """The page's tables are `report --rates`, `report --scorecard` and `report --market` for
    the page's window: cell for cell the rows the terminal prints (but the advisor data's age in
    hours, which moves with the clock between the page and this test)."""
    board = load_dashboard()
    window = TimeRange.parse(board.time_from, board.time_to)
    path = tmp_path / "page.html"
    write_html(opensearch, path, index=seeded_storm.index, window=window)
    parser = _Tables()
    parser.feed(path.read_text())
    rates = build_rates(opensearch, RatesRequest(window.start, window.end, {}, seeded_storm.prefix))
    request = ReportRequest(window.start, window.end, {}, SECTION_ROWS, seeded_storm.prefix)
    card = build_scorecard(opensearch, ScorecardRequest(request))
    market = build_market(
        opensearch, MarketRequest(window.start, window.end, {}, seeded_storm.prefix)
    )
    assert market.pools and market.advisor, "the seeded demo ran no market run"
    expected = [
        *rate_tables(rates, top=SECTION_ROWS),
        *scorecard_tables(card),
        *market_tables(market, top=SECTION_ROWS),
    ]
    assert len(parser.tables) == len(expected)
    for table in expected:
        title, grid = table.renderables
        rows = [[str(c.header) for c in grid.columns]]
        rows += [list(map(str, row)) for row in zip(*(c.cells for c in grid.columns), strict=True)]
        shown = parser.tables[title.plain]
        if title.plain == "Market context":
            [age] = [n for n, row in enumerate(rows) if row[0] == "advisor context"]
            assert shown[age][1].split(" (")[0] == rows[age][1].split(" (")[0]
            shown, rows = shown[:age] + shown[age + 1 :], rows[:age] + rows[age + 1 :]
        assert shown == rows, title.plain
        assert len(rows) > 1, f"{title.plain} is empty"
