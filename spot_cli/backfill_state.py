"""The backfill's state file: per account and region, the window being read and the last
completed page's NextToken, so an interrupted run resumes where it stopped.

Written after every page whose events are stored (to a temporary file, then renamed over the
old one: an interruption leaves the previous state or the new one, never half of either). At
most the page in flight is read again on resume, and rewriting it creates no duplicate (the
documents' ids come from the events).

Default location: `$XDG_STATE_HOME/spot-insights/backfill.json` (`~/.local/state/...` when
XDG_STATE_HOME is unset); `--state FILE` chooses another."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from spot_cli.errors import CliError

VERSION = 1


def default_path(env: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "spot-insights" / "backfill.json"


@dataclass
class RegionState:
    """One account and region. `start`/`end` is the window asked for; `query_end` is where the
    current LookupEvents query ends (`end`, or the oldest event stored when an expired token
    forced a new query; a NextToken is only valid with its query's parameters, so query_end
    never moves while a token is in use); `next_token` continues that query after the last
    stored page."""

    start: str
    end: str
    query_end: str
    next_token: str | None = None
    pages: int = 0
    events: int = 0
    done: bool = False
    restarts: int = 0  # new queries after CloudTrail refused a NextToken
    oldest_stored: str | None = None  # EventTime of the oldest event stored so far

    def window(self) -> tuple[datetime, datetime]:
        return datetime.fromisoformat(self.start), datetime.fromisoformat(self.query_end)


@dataclass
class BackfillState:
    path: Path
    days: int
    regions: dict[str, RegionState] = field(default_factory=dict)

    @staticmethod
    def key(account: str, region: str) -> str:
        return f"{account}/{region}"

    @classmethod
    def load(cls, path: Path, days: int) -> BackfillState:
        """The state at `path` (a new one when the file does not exist). A state written for
        another --days is refused: its windows would not be the ones asked for."""
        if not path.exists():
            return cls(path, days)
        try:
            data = json.loads(path.read_text())
            if data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
            regions = {k: RegionState(**v) for k, v in data["regions"].items()}
            stored_days = int(data["days"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(f"cannot read the state file {path}: {exc}") from exc
        if stored_days != days:
            raise CliError(
                f"the state file {path} is for --days {stored_days}, not {days}; "
                "pass --restart to start over, or another --state"
            )
        return cls(path, days, regions)

    def region(self, account: str, region: str, start: datetime, end: datetime) -> RegionState:
        """The saved state of `account`/`region`, or a new one for the window start..end."""
        key = self.key(account, region)
        if key not in self.regions:
            self.regions[key] = RegionState(start.isoformat(), end.isoformat(), end.isoformat())
        return self.regions[key]

    def save(self) -> None:
        data: dict[str, Any] = {
            "version": VERSION,
            "days": self.days,
            "regions": {k: asdict(v) for k, v in self.regions.items()},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(temporary, self.path)
