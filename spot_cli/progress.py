"""A dependency-free progress bar on stderr (a single rewritten line on a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(
        self, label: str, total: int, stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.label = label
        self.total = max(total, 0)
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self._interactive = self.stream.isatty()
        self._last_draw = 0.0

    def update(self, done: int, note: str = "") -> None:
        self.done = done
        now = time.monotonic()
        # Redraw at most ten times a second; non-terminals get only the final line.
        if self._interactive and (now - self._last_draw > 0.1 or done >= self.total):
            self._last_draw = now
            self.stream.write("\r" + self._line(note))
            self.stream.flush()

    def advance(self, count: int, note: str = "") -> None:
        self.update(self.done + count, note)

    def finish(self, note: str = "") -> None:
        line = self._line(note)
        self.stream.write(("\r" + line if self._interactive else line) + "\n")
        self.stream.flush()

    def _line(self, note: str) -> str:
        fraction = min(1.0, self.done / self.total) if self.total else 1.0
        filled = int(self.width * fraction)
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        bar = "#" * filled + "." * (self.width - filled)
        tail = f"  {note}" if note else ""
        return f"{self.label:<10} [{bar}] {self.done}/{self.total}  {rate:,.0f}/s{tail}"
