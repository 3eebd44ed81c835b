"""Terminal output through rich: tables and progress bars.

Styles and live redraws only on a terminal; piped or redirected output is plain text (no ANSI
codes) and a progress bar prints just its final line, so scripts, logs and tests read the same
words. rich is imported only here, and only by the commands that print tables or bars (about
60 ms; `--help` never loads it)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

# Piped output is not wrapped at rich's default of 80 columns: a report's widest table
# (pool names, a 30-character bar) fits in this.
PLAIN_WIDTH = 120


def table(
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    left: Sequence[int] = (0,),
) -> RenderableType:
    """A titled table (the title on its own line, never wrapped to the table's width); columns
    are right-aligned (numbers) except those named in `left`."""
    grid = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        header_style="bold",
    )
    for position, header in enumerate(headers):
        grid.add_column(header, justify="left" if position in left else "right")
    body = [[str(cell) for cell in row] for row in rows]
    for row in body:
        grid.add_row(*row)
    if not body:
        grid.caption, grid.caption_justify = "(no data)", "left"
    return Group(Text(title, style="bold"), grid)


def plain_text(renderables: Iterable[RenderableType], width: int = PLAIN_WIDTH) -> str:
    """What `show` prints when piped: the renderables as text, a blank line between them."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    for position, renderable in enumerate(renderables):
        if position:
            console.print()
        console.print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())


def show(renderables: Sequence[RenderableType]) -> None:
    """Print to stdout: styled on a terminal, plain text (as `plain_text`) otherwise."""
    console = Console()
    if not console.is_terminal:
        print(plain_text(renderables))
        return
    for position, renderable in enumerate(renderables):
        if position:
            console.print()
        console.print(renderable)


class ProgressBar:
    """One task's bar on stderr: redrawn on a terminal, only its final line otherwise."""

    def __init__(self, label: str, total: int) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[note]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._task: TaskID = self._progress.add_task(label, total=max(total, 0), note="", rate="")
        self._progress.start()
        self.done = 0

    @property
    def total(self) -> int:
        return int(self._progress.tasks[0].total or 0)

    @total.setter
    def total(self, value: int) -> None:
        self._progress.update(self._task, total=max(value, 0))

    def update(self, done: int, note: str = "") -> None:
        self.done = done
        task = self._progress.tasks[0]
        elapsed = task.elapsed or 0.0
        rate = f"{done / elapsed:,.0f}/s" if elapsed > 0 else ""
        self._progress.update(self._task, completed=done, note=note, rate=rate)

    def advance(self, count: int, note: str = "") -> None:
        self.update(self.done + count, note)

    def finish(self, note: str = "") -> None:
        self.update(self.done, note)
        self._progress.stop()
