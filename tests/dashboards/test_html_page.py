"""`spot-insights report --html` opened in Debian's headless Chromium: every panel drawn, no
console error (the page's Content-Security-Policy turns any network request into one), and a
screenshot kept under the test's temporary directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from spot_cli.dashboard_panels import load_dashboard
from spot_cli.main import main

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
    assert (tmp_path / "dashboard.png").stat().st_size > 20_000


def test_the_demo_writes_the_page_with_every_panel(seeded_storm: Any) -> None:
    text = seeded_storm.page.read_text()
    for panel in load_dashboard().panels:
        assert f'data-panel="{panel.id}"' in text
