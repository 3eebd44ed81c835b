"""Spot Interruption Insights: reusable CDK constructs and the stack that composes them.

The public surface is what `__all__` names; modules whose names start with `_` are private.
Connect a writer to a domain with `SearchDomain.connect_writer` (docs/domain.md).
"""

from spot_insights.dashboard_proxy import DashboardProxy
from spot_insights.exposure_sampler import ExposureSampler
from spot_insights.hub_bus import HubBus
from spot_insights.ingest_pipeline import IngestPipeline
from spot_insights.network import SpotInsightsNetwork
from spot_insights.search_domain import SearchDomain, SizingProfile
from spot_insights.settings import Settings, SettingsError
from spot_insights.spoke_forwarder import SpokeForwarder
from spot_insights.spoke_stack import SpokeStack, SpokeStackSetStack
from spot_insights.stack import SpotInsightsStack

__all__ = [
    "DashboardProxy",
    "ExposureSampler",
    "HubBus",
    "IngestPipeline",
    "SearchDomain",
    "Settings",
    "SettingsError",
    "SizingProfile",
    "SpokeForwarder",
    "SpokeStack",
    "SpokeStackSetStack",
    "SpotInsightsNetwork",
    "SpotInsightsStack",
]
