"""The commands the docs give a reader: collected from the Markdown itself, so a command added
to README.md, docs/*.md or a folder README is seen by the smoke tests without anyone
registering it first.

Collected: fenced shell code (bash, sh, shell, console or no language) and inline code spans,
split at `;`, `&&`, `||` and ` | `, with `$(...)` substitutions looked into, comments and
backslash continuations handled; kept when a piece starts with one of COMMAND_START (after an
optional `.venv/bin/`). Figure spans (tests/support/figures.py) are left out: the command in a
figure's provenance line is the benchmark's own, smoke-run under its plain form. Makefile
targets are commands too (`make <target>`), documented or not."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.figures import documents, outside_spans

ROOT = Path(__file__).resolve().parents[2]
COMMAND_START = re.compile(
    r"^(?:\.venv/bin/)?(?:make\s|spot-insights(?:\s|$)|scripts/\w|python3?\s(?:.*\s)?-m\s)"
)
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
FENCE = re.compile(r"^\s*(```|~~~)\s*([\w-]*)")
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
SEPARATORS = re.compile(r"\s*(?:;|&&|\|\||\s\|\s)\s*")
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")


def _strip_comment(line: str) -> str:
    """Drop a shell comment (`#` after whitespace, outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _split(text: str) -> list[str]:
    pieces = []
    for inner in SUBSTITUTION.findall(text):
        pieces.extend(_split(inner))
    outer = SUBSTITUTION.sub("SUBST", text)
    pieces.extend(p for p in SEPARATORS.split(outer) if p)
    return pieces


def _commands_in(text: str) -> list[str]:
    found = []
    for piece in _split(text):
        command = " ".join(piece.removeprefix("$ ").split())
        if COMMAND_START.match(command):
            found.append(command)
    return found


def commands_in_markdown(text: str) -> list[str]:
    text = outside_spans(text)
    found: list[str] = []
    fence: str | None = None
    shell = False
    pending = ""
    prose: list[str] = []
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is None and opening:
            fence, shell = opening.group(1), opening.group(2).lower() in SHELL_FENCES
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
                continue
            if not shell:
                continue
            code = _strip_comment(line).rstrip()
            if code.endswith("\\"):
                pending += code[:-1] + " "
                continue
            found.extend(_commands_in(pending + code))
            pending = ""
            continue
        prose.append(line)
    for span in INLINE.findall("\n".join(prose)):
        found.extend(_commands_in(span))
    return found


def documented_commands() -> dict[str, list[str]]:
    """Each command the docs give -> the files that give it."""
    where: dict[str, list[str]] = {}
    for path in documents():
        for command in commands_in_markdown(path.read_text()):
            name = str(path.relative_to(ROOT))
            if name not in where.setdefault(command, []):
                where[command].append(name)
    for target in make_targets():
        where.setdefault(f"make {target}", []).append("Makefile")
    return where


def make_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", text, re.M)
    rules = re.findall(r"^([a-zA-Z][\w-]*):(?!=)", text, re.M)
    return sorted(set(rules) | set(phony.group(1).split() if phony else []))
