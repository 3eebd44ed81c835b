"""`spot-insights report --html FILE`: the saved dashboard's panels as one self-contained page.

Each chart is a panel of dashboards/spot-insights-visualizations.ndjson, queried through
spot_cli.dashboard_panels exactly as the dashboard queries it, and drawn with Vega-Lite (the
grammar OpenSearch Dashboards' own Vega panels use). Vega, Vega-Lite and vega-embed come from
npm (package.json, installed by `make setup`) and are inlined, so the page opens offline and a
Content-Security-Policy forbids it any network request."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from spot_cli.dashboard_panels import (
    Dashboard,
    Panel,
    PanelResult,
    TimeRange,
    human_duration,
    load_dashboard,
    run_panel,
    run_search,
)
from spot_cli.errors import CliError

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = (
    "node_modules/vega/build/vega.min.js",
    "node_modules/vega-lite/build/vega-lite.min.js",
    "node_modules/vega-embed/build/vega-embed.min.js",
)
# Scripts inline (the libraries and the specs), eval for Vega's expression parser, nothing else.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data:; font-src data:"
)
RECENT_ROWS = 50
SECTION_ROWS = 10  # rows per rates/scorecard/market table, as `make demo` prints them
_SOURCE_MAP = re.compile(r"//# sourceMappingURL=\S+")
_SCRIPT_END = re.compile(r"</script|<!--", re.IGNORECASE)


@dataclass(frozen=True)
class PageSummary:
    path: Path
    panels: int
    window: TimeRange


def _libraries(root: Path = ROOT) -> str:
    parts = []
    for relative in LIBRARIES:
        path = root / relative
        if not path.is_file():
            raise CliError(f"{relative} is missing: run `make setup` (npm ci) first")
        # A source map comment would make developer tools fetch the .map file.
        text = _SOURCE_MAP.sub("", path.read_text())
        if _SCRIPT_END.search(text):  # would end the inline <script> early
            raise CliError(f"{relative} contains '</script' and cannot be inlined")
        parts.append(text)
    return "\n".join(f"<script>{p}</script>" for p in parts)


def _json_in_script(value: Any) -> str:
    """JSON that cannot close its <script> element ("<\\/" means "</" in a JSON string)."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


# -- Vega-Lite specs from panel answers ----------------------------------------------------------


def _records(result: PanelResult) -> list[dict[str, Any]]:
    width = len(result.panel.buckets)
    records = []
    for row in result.rows:
        record = {f"b{n}": row[n] for n in range(width)}
        record.update(
            {name: row[index] for index, name in enumerate(result.columns) if index >= width}
        )
        records.append(record)
    return records


def _base(records: list[dict[str, Any]], height: int = 220) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "data": {"values": records},
        "width": "container",
        "height": height,
        "config": {"view": {"stroke": None}, "axis": {"labelLimit": 220}},
    }


def _metric(result: PanelResult) -> dict[str, Any]:
    [row] = result.rows
    record = {"value": f"{row[-1]:,}"}
    spec = _base([record], height=70)
    spec.update(
        mark={"type": "text", "fontSize": 42, "fontWeight": "bold", "color": "#1f4e79"},
        encoding={"text": {"field": "value", "type": "nominal"}},
    )
    return spec


def _percentiles(result: PanelResult) -> dict[str, Any]:
    [row] = result.rows
    records = [
        {"percentile": name.split(" of ")[0], "seconds": value, "label": human_duration(value)}
        for name, value in zip(result.columns, row, strict=True)
        if value is not None
    ]
    spec = _base(records, height=110)
    y = {"field": "percentile", "type": "nominal", "sort": None, "title": None}
    x = {"field": "seconds", "type": "quantitative", "title": "seconds"}
    spec["layer"] = [
        {"mark": {"type": "bar", "color": "#5b8db8"}, "encoding": {"y": y, "x": x}},
        {
            "mark": {"type": "text", "align": "left", "dx": 4},
            "encoding": {"y": y, "x": x, "text": {"field": "label"}},
        },
    ]
    return spec


def _shares(result: PanelResult) -> dict[str, Any]:
    records = _records(result)
    spec = _base(records, height=90)
    y = {"field": "b0", "type": "nominal", "sort": None, "title": None}
    x = {
        "field": "Count percentages",
        "type": "quantitative",
        "axis": {"format": ".0%"},
        "title": "share",
        "scale": {"domain": [0, 1]},
    }
    tooltip = [{"field": "b0", "title": "bucket"}, {"field": "Count"}]
    spec["layer"] = [
        {
            "mark": {"type": "bar", "color": "#5b8db8"},
            "encoding": {"y": y, "x": x, "tooltip": tooltip},
        },
        {
            "mark": {"type": "text", "align": "left", "dx": 4},
            "encoding": {"y": y, "x": x, "text": {"field": "Count percentages", "format": ".1%"}},
        },
    ]
    return spec


def _bars(result: PanelResult, horizontal: bool) -> dict[str, Any]:
    records = _records(result)
    spec = _base(records, height=max(120, 22 * len(records)) if horizontal else 220)
    category = {
        "field": "b0",
        "type": "nominal",
        "title": None,
        "sort": "-x" if horizontal else None,
    }
    value = {"field": "Count", "type": "quantitative", "title": "warnings"}
    encoding = {"y": category, "x": value} if horizontal else {"x": category, "y": value}
    encoding["tooltip"] = [{"field": "b0", "title": "bucket"}, {"field": "Count"}]
    spec.update(mark={"type": "bar", "color": "#5b8db8"}, encoding=encoding)
    return spec


def _over_time(result: PanelResult) -> dict[str, Any]:
    """Bars as wide as the interval, stacked by region (computed here: Vega-Lite does not
    stack bars that have both x and x2)."""
    width = timedelta(seconds=result.interval_seconds or 0)
    records = sorted(_records(result), key=lambda r: (r["b0"], r["b1"]))
    base: dict[str, int] = {}
    for record in records:
        start = datetime.fromisoformat(record["b0"].replace("Z", "+00:00"))
        record["b0_end"] = (start + width).isoformat()
        record["y0"] = base.get(record["b0"], 0)
        record["y1"] = base[record["b0"]] = record["y0"] + record["Count"]
    spec = _base(records)
    spec.update(
        mark={"type": "bar"},
        encoding={
            "x": {
                "field": "b0",
                "type": "temporal",
                "title": f"event time (per {result.interval})",
            },
            "x2": {"field": "b0_end"},
            "y": {"field": "y1", "type": "quantitative", "title": "warnings"},
            "y2": {"field": "y0"},
            "color": {"field": "b1", "type": "nominal", "title": "region"},
            "tooltip": [
                {"field": "b0", "type": "temporal", "format": "%Y-%m-%d %H:%M", "title": "from"},
                {"field": "b1", "title": "region"},
                {"field": "Count"},
            ],
        },
    )
    return spec


def _heatmap(result: PanelResult) -> dict[str, Any]:
    records = _records(result)
    types = {r["b0"] for r in records}
    spec = _base(records, height=max(160, 20 * len(types)))
    x = {"field": "b1", "type": "nominal", "title": "AZ ID"}
    y = {"field": "b0", "type": "nominal", "title": "instance type"}
    spec["layer"] = [
        {
            "mark": "rect",
            "encoding": {
                "x": x,
                "y": y,
                "color": {"field": "Count", "type": "quantitative", "scale": {"scheme": "reds"}},
                "tooltip": [
                    {"field": "b0", "title": "type"},
                    {"field": "b1", "title": "AZ ID"},
                    {"field": "Count"},
                ],
            },
        },
        {
            "mark": {"type": "text", "fontSize": 10},
            "encoding": {"x": x, "y": y, "text": {"field": "Count"}},
        },
    ]
    return spec


def vega_lite_spec(result: PanelResult) -> dict[str, Any]:  # noqa: PLR0911 (one per chart)
    """One chart per panel type the dashboard uses; anything else is a bug to fix here."""
    panel = result.panel
    kinds = [a.type for a in panel.buckets]
    if panel.type == "metric" and not kinds:
        return _metric(result)
    if panel.type == "table" and not kinds and panel.metrics[0].type == "percentiles":
        return _percentiles(result)
    if panel.type == "table" and panel.params.get("percentageCol"):
        return _shares(result)
    if panel.type == "horizontal_bar" and kinds == ["terms"]:
        return _bars(result, horizontal=True)
    if panel.type == "histogram" and kinds == ["range"]:
        return _bars(result, horizontal=False)
    if panel.type == "histogram" and kinds == ["date_histogram", "terms"]:
        return _over_time(result)
    if panel.type == "heatmap" and kinds == ["terms", "terms"]:
        return _heatmap(result)
    raise CliError(f"panel {panel.id!r} ({panel.type} with {kinds}) has no chart in the page yet")


# -- the report's tables (rates, scorecard, market) -----------------------------------------------


@dataclass(frozen=True)
class TableSection:
    """A part of the page drawn from the terminal report's own tables (`rate_tables`,
    `scorecard_tables`, `market_tables`): the same rows, so the page can never disagree with
    `report --rates`, `--scorecard` or `--market`. `tables` is empty and `note` says why when
    there is no data."""

    id: str
    title: str
    tables: tuple[Any, ...] = ()
    note: str = ""


def _table_html(renderable: Any) -> str:
    """A `terminal.table` (a rich Group of its title and a Table) as an HTML table."""
    title, grid = renderable.renderables
    headers = [str(column.header) for column in grid.columns]
    cells = [[str(cell) for cell in column.cells] for column in grid.columns]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = (
        "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in zip(*cells, strict=True)
        )
        or f'<tr><td colspan="{len(headers)}">(no data)</td></tr>'
    )
    return (
        f"<h3>{html.escape(str(title.plain))}</h3>"
        f'<div class="scroll"><table class="figures"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _section_html(section: TableSection) -> str:
    inner = "".join(_table_html(t) for t in section.tables)
    note = f"<p>{html.escape(section.note)}</p>" if section.note else ""
    return (
        f'<section class="panel wide" data-section="{html.escape(section.id)}">'
        f"<h2>{html.escape(section.title)}</h2>{note}{inner}</section>"
    )


def report_sections(
    client: Any,
    *,
    index_prefix: str,
    window: TimeRange,
    selections: Mapping[str, Sequence[str]],
    rates: Any = None,
    scorecard: Any = None,
    market: Any = None,
) -> list[TableSection]:
    """The rates, the scorecard and the market context of the page's window and filters, built
    by the commands' own code unless the caller (the demo) already has them."""
    # Imported here: these load the report's queries, and rates needs lambda_src.contract.
    from spot_cli.market import MarketRequest, build_market, market_tables  # noqa: PLC0415
    from spot_cli.rates import RatesRequest, build_rates, rate_tables  # noqa: PLC0415
    from spot_cli.report import ReportRequest  # noqa: PLC0415
    from spot_cli.scorecard import (  # noqa: PLC0415
        ScorecardRequest,
        build_scorecard,
        scorecard_tables,
    )

    filters = {k: list(v) for k, v in selections.items() if v}
    sections = []
    try:
        rates = rates or build_rates(
            client, RatesRequest(window.start, window.end, filters, index_prefix)
        )
        sections.append(
            TableSection(
                "rates",
                "Interruption rates (warnings per 1,000 instance-hours)",
                tuple(rate_tables(rates, top=SECTION_ROWS)),
            )
        )
    except LookupError as exc:  # no exposure index yet: the rest of the page still stands
        sections.append(TableSection("rates", "Interruption rates", note=f"No rates: {exc}."))
    try:
        scorecard = scorecard or build_scorecard(
            client,
            ScorecardRequest(
                ReportRequest(window.start, window.end, filters, SECTION_ROWS, index_prefix)
            ),
        )
        sections.append(
            TableSection("scorecard", "Rebalance scorecard", tuple(scorecard_tables(scorecard)))
        )
    except LookupError as exc:
        sections.append(TableSection("scorecard", "Rebalance scorecard", note=f"{exc}."))
    market_title = "Market context (Spot prices and the advisor's buckets)"
    try:
        market = market or build_market(
            client, MarketRequest(window.start, window.end, filters, index_prefix)
        )
        sections.append(
            TableSection("market", market_title, tuple(market_tables(market, top=SECTION_ROWS)))
        )
    except LookupError as exc:  # no market index yet (the daily run has not run)
        sections.append(TableSection("market", market_title, note=f"No market context: {exc}."))
    return sections


# -- the page -------------------------------------------------------------------------------------


def _events_table(columns: Sequence[str], rows: list[dict[str, Any]], durations: set[str]) -> str:
    def cell(name: str, value: Any) -> str:
        if value is None:
            return ""
        return human_duration(value) if name in durations else str(value)

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(c, r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return (
        f'<div class="scroll"><table class="events"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;
background:#f6f7f9}
h1{margin:0 0 4px}.meta{color:#555;margin-bottom:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:16px}
.panel{background:#fff;border:1px solid #dde;border-radius:6px;padding:12px}
.panel h2{font-size:15px;margin:0 0 4px}.panel p{font-size:12px;color:#666;margin:0 0 8px}
.chart{width:100%}.wide{grid-column:1/-1}
.scroll{overflow-x:auto}table.events{border-collapse:collapse;font-size:12px;width:100%}
.events th,.events td{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;
white-space:nowrap}
.panel h3{font-size:13px;margin:12px 0 4px}table.figures{border-collapse:collapse;font-size:12px}
.figures th,.figures td{border-bottom:1px solid #eee;padding:3px 8px;text-align:right;
white-space:nowrap}.figures th:first-child,.figures td:first-child{text-align:left}
"""

SCRIPT = """
const specs = JSON.parse(document.getElementById('specs').textContent);
Promise.all(Object.entries(specs).map(([id, spec]) => {
  const el = document.querySelector(`[data-panel="${id}"]`);
  return vegaEmbed(el, spec, {actions: false, renderer: 'svg'}).then(() => {
    el.dataset.rendered = 'true';
  });
})).then(() => { document.body.dataset.rendered = String(Object.keys(specs).length); })
  .catch((error) => { console.error('chart failed', error); });
"""


def render_page(
    board: Dashboard,
    *,
    results: Sequence[PanelResult],
    recent: list[dict[str, Any]],
    window: TimeRange,
    selections: Mapping[str, Sequence[str]],
    libraries: str,
    tables: Sequence[TableSection] = (),
) -> str:
    specs = {r.panel.id: vega_lite_spec(r) for r in results}
    chosen = "; ".join(f"{k} = {', '.join(v)}" for k, v in selections.items() if v) or "none"
    sections = []
    for result in results:
        panel: Panel = result.panel
        wide = " wide" if panel.type in {"heatmap"} or panel.id.endswith("over-time") else ""
        sections.append(
            f'<section class="panel{wide}"><h2>{html.escape(panel.title)}</h2>'
            f'<div class="chart" data-panel="{html.escape(panel.id)}"></div></section>'
        )
    sections += [_section_html(t) for t in tables]
    durations = {n for n in board.pattern.fields if board.pattern.is_duration(n)}
    if board.search is not None:
        columns = [board.pattern.time_field, *board.search.columns]
        sections.append(
            f'<section class="panel wide"><h2>{html.escape(board.search.title)}</h2>'
            f"<p>newest {len(recent)} events</p>"
            f"{_events_table(columns, recent, durations)}</section>"
        )
    specs_json = _json_in_script(specs)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{html.escape(board.title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(board.title)}</h1>"
        f'<div class="meta">{_iso(window.start)} to {_iso(window.end)} (UTC); filters: '
        f"{html.escape(chosen)}; generated {_iso(datetime.now(UTC))} by spot-insights report "
        "from the dashboard's saved panels.</div>"
        f'<div class="grid">{"".join(sections)}</div>'
        f'<script type="application/json" id="specs">{specs_json}</script>'
        f"{libraries}<script>{SCRIPT}</script></body></html>\n"
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def write_html(
    client: Any,
    path: Path,
    *,
    index: str,
    window: TimeRange | None = None,
    selections: Mapping[str, Sequence[str]] | None = None,
    rates: Any = None,
    scorecard: Any = None,
    market: Any = None,
) -> PageSummary:
    """Without a window the dashboard's own default time range (last 7 days) applies. `index`
    is the events family's pattern (`<prefix>-*`); the rates, the scorecard and the market
    context are built for its prefix unless given (the demo passes the ones it printed)."""
    board = load_dashboard()
    window = window or TimeRange.parse(board.time_from, board.time_to)
    selections = {k: list(v) for k, v in (selections or {}).items() if v}
    libraries = _libraries()
    results = [
        run_panel(client, p, board.pattern, window, selections=selections, index=index)
        for p in board.panels
    ]
    recent = (
        run_search(
            client,
            board.search,
            board.pattern,
            window,
            selections=selections,
            size=RECENT_ROWS,
            index=index,
        )
        if board.search
        else []
    )
    tables = report_sections(
        client,
        index_prefix=index.removesuffix("-*"),
        window=window,
        selections=selections,
        rates=rates,
        scorecard=scorecard,
        market=market,
    )
    path.write_text(
        render_page(
            board,
            results=results,
            recent=recent,
            window=window,
            selections=selections,
            libraries=libraries,
            tables=tables,
        )
    )
    return PageSummary(path=path.resolve(), panels=len(results), window=window)
