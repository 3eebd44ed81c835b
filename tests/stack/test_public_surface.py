"""The construct library's public surface: what `spot_insights` exports, and every public
attribute of the three constructs declared (typed) at the class top."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import spot_insights
from spot_insights import DashboardProxy, ExposureSampler, IngestPipeline, SearchDomain
from tests.stack.synth import VARIANTS, synth_stack


def test_all_exports_the_constructs_and_their_types() -> None:
    assert {"IngestPipeline", "SearchDomain", "DashboardProxy", "SizingProfile"} <= set(
        spot_insights.__all__
    )
    for name in spot_insights.__all__:
        assert getattr(spot_insights, name).__module__.startswith("spot_insights.")


def test_helper_modules_are_private() -> None:
    public = {m.name for m in pkgutil.iter_modules(spot_insights.__path__) if m.name[0] != "_"}
    assert public == {
        "dashboard_proxy",
        "deployment",
        "exposure_sampler",
        "hub_bus",
        "ingest_pipeline",
        "network",
        "search_domain",
        "settings",
        "spoke_forwarder",
        "spoke_stack",
        "stack",
    }
    for name in public:
        importlib.import_module(f"spot_insights.{name}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_public_attribute_is_declared_at_the_class_top(variant: str) -> None:
    stack = synth_stack(VARIANTS[variant])
    for construct, cls in (
        (stack.ingest, IngestPipeline),
        (stack.search, SearchDomain),
        (stack.proxy, DashboardProxy),
        (stack.sampler, ExposureSampler),
    ):
        assigned = {name for name in vars(construct) if not name.startswith("_")}
        assert assigned <= set(cls.__annotations__), (
            cls.__name__,
            assigned - set(cls.__annotations__),
        )
