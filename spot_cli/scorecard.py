"""The rebalance scorecard: how good are rebalance recommendations as an early signal?

Per pool (instance type x AZ ID) and per capacity group, from link fields written at ingest
(lambda_src/ingest/linking.py), so every figure is an aggregation, never a join:

* precision: of the rebalance recommendations, the share followed by an interruption warning of
  the same instance within the horizon (`followed_by_warning` and `warning_after_seconds`);
* recall: of the interruption warnings, the share preceded by a rebalance recommendation within
  the horizon (`rebalance_lead_seconds`);
* lead time: percentiles of `rebalance_lead_seconds` (every warning with a rebalance ahead);
* no signal: instances evicted with neither a warning nor a rebalance recommendation (eviction
  documents with `warned: false` and `rebalance_recommended: false`, issue 13).

One `_msearch`: a search per grouping, each a `terms` aggregation with `filter`, `percentiles`
and `cardinality` below it, plus one search for the whole selection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from rich.console import RenderableType

from lambda_src.contract import EVICTION_EVENT_TYPE
from spot_cli.percentiles import PERCENTS, label, percentile_values, percentiles_agg
from spot_cli.report import (
    FOLLOWED_FIELD,
    LEAD_FIELD,
    REBALANCE_EVENT_TYPE,
    UNKNOWN,
    WARNING_EVENT_TYPE,
    ReportRequest,
    base_filter,
    human_seconds,
    run_sections,
)
from spot_cli.scorecard_command import DEFAULT_HORIZON
from spot_cli.terminal import plain_text, table

# Issue 13's link fields on eviction documents (one per instance, lambda_src/ingest/linking.py):
# whether a warning and a rebalance recommendation came before the eviction.
WARNED_FIELD = "warned"
REBALANCE_RECOMMENDED_FIELD = "rebalance_recommended"
AFTER_FIELD = "warning_after_seconds"
# Groupings: name in the output -> document field.
GROUPINGS: Mapping[str, str] = {"pools": "pool", "capacity_groups": "capacity_group"}
TOTAL = "(all)"
# The documents a scorecard reads (the dashboard's scorecard panels read the same).
EVENT_TYPES = (REBALANCE_EVENT_TYPE, WARNING_EVENT_TYPE, EVICTION_EVENT_TYPE)


@dataclass(frozen=True)
class ScorecardRequest:
    report: ReportRequest
    horizon: timedelta = DEFAULT_HORIZON

    def __post_init__(self) -> None:
        if self.horizon <= timedelta(0):
            raise ValueError(f"the horizon must be positive, got {self.horizon}")

    @property
    def horizon_seconds(self) -> int:
        return int(self.horizon.total_seconds())


@dataclass(frozen=True)
class Score:
    key: str
    rebalances: int
    rebalances_followed: int  # by a warning within the horizon
    warnings: int
    warnings_preceded: int  # by a rebalance within the horizon
    lead_seconds: Mapping[str, float | None]  # p50, p90, p99 of every rebalance lead
    no_signal: int  # instances evicted without a warning or a rebalance

    @property
    def precision(self) -> float | None:
        return self.rebalances_followed / self.rebalances if self.rebalances else None

    @property
    def recall(self) -> float | None:
        return self.warnings_preceded / self.warnings if self.warnings else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


@dataclass(frozen=True)
class Scorecard:
    horizon_seconds: int
    total: Score
    pools: list[Score]
    capacity_groups: list[Score]

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon_seconds": self.horizon_seconds,
            "total": self.total.to_dict(),
            **{name: [s.to_dict() for s in getattr(self, name)] for name in GROUPINGS},
        }


def score_aggs(horizon_seconds: int) -> dict[str, Any]:
    """The figures of one group, as aggregations under it (also the scorecard panels'
    aggregations, scripts/build_dashboard.py)."""
    return {
        "rebalances": {
            "filter": {"term": {"event_type": REBALANCE_EVENT_TYPE}},
            "aggs": {
                "followed": {
                    "filter": {
                        "bool": {
                            "filter": [
                                {"term": {FOLLOWED_FIELD: True}},
                                {"range": {AFTER_FIELD: {"lte": horizon_seconds}}},
                            ]
                        }
                    }
                }
            },
        },
        "warnings": {
            "filter": {"term": {"event_type": WARNING_EVENT_TYPE}},
            "aggs": {
                "preceded": {"filter": {"range": {LEAD_FIELD: {"lte": horizon_seconds}}}},
                "lead": percentiles_agg(LEAD_FIELD),
            },
        },
        "no_signal": {
            "filter": {
                "bool": {
                    "filter": [
                        {"term": {"event_type": EVICTION_EVENT_TYPE}},
                        {"term": {WARNED_FIELD: False}},
                        {"term": {REBALANCE_RECOMMENDED_FIELD: False}},
                    ]
                }
            },
            # One eviction document per instance, but cardinality keeps a redelivered
            # eviction under another id (should one ever exist) from counting twice.
            "aggs": {"instances": {"cardinality": {"field": "instance_id"}}},
        },
    }


def scorecard_queries(request: ScorecardRequest) -> dict[str, dict[str, Any]]:
    """The searches of one `_msearch`: the whole selection, then one per grouping."""
    types = list(EVENT_TYPES)
    query = {"bool": {"filter": [*base_filter(request.report), {"terms": {"event_type": types}}]}}
    scores = score_aggs(request.horizon_seconds)
    # The whole selection's figures at the top level (no name clashes with the groupings').
    queries: dict[str, dict[str, Any]] = {"total": {"size": 0, "query": query, "aggs": scores}}
    for name, field_name in GROUPINGS.items():
        queries[name] = {
            "size": 0,
            "query": query,
            "aggs": {
                name: {
                    "terms": {"field": field_name, "size": request.report.top, "missing": UNKNOWN},
                    "aggs": scores,
                }
            },
        }
    return queries


def _score(key: str, bucket: Mapping[str, Any]) -> Score:
    rebalances, warnings = bucket["rebalances"], bucket["warnings"]
    return Score(
        key=key,
        rebalances=int(rebalances["doc_count"]),
        rebalances_followed=int(rebalances["followed"]["doc_count"]),
        warnings=int(warnings["doc_count"]),
        warnings_preceded=int(warnings["preceded"]["doc_count"]),
        lead_seconds=percentile_values(warnings["lead"]),
        no_signal=int(bucket["no_signal"]["instances"]["value"]),
    )


def build_scorecard(client: Any, request: ScorecardRequest) -> Scorecard:
    aggs = run_sections(client, request.report.index, scorecard_queries(request))
    return Scorecard(
        horizon_seconds=request.horizon_seconds,
        total=_score(TOTAL, aggs),
        **{name: [_score(str(b["key"]), b) for b in aggs[name]["buckets"]] for name in GROUPINGS},
    )


# -- rendering ----------------------------------------------------------------------------------


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _row(score: Score) -> list[Any]:
    leads = [human_seconds(score.lead_seconds.get(label(p))) for p in PERCENTS]
    return [
        score.key,
        score.rebalances,
        _share(score.precision),
        score.warnings,
        _share(score.recall),
        *leads,
        score.no_signal,
    ]


def scorecard_tables(scorecard: Scorecard) -> list[RenderableType]:
    horizon = human_seconds(scorecard.horizon_seconds)
    columns = [
        "",
        "rebalances",
        f"precision ({horizon})",
        "warnings",
        f"recall ({horizon})",
        *(f"lead {label(p)}" for p in PERCENTS),
        "no signal",
    ]
    sections: Sequence[tuple[str, str, list[Score]]] = (
        ("Rebalance scorecard by pool (instance type x AZ ID)", "pool", scorecard.pools),
        ("Rebalance scorecard by capacity group", "capacity group", scorecard.capacity_groups),
    )
    return [
        table(
            title,
            [label, *columns[1:]],
            [_row(s) for s in [*scores, scorecard.total]],
        )
        for title, label, scores in sections
    ]


def render_scorecard(scorecard: Scorecard) -> str:
    return plain_text(scorecard_tables(scorecard))
