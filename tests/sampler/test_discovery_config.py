"""The discovery variables of the sampler function: parsed once, refused in one line."""

from __future__ import annotations

import pytest

from lambda_src.contract import IngestEnv, SamplerEnv
from lambda_src.ingest.search_client import ConfigurationError
from lambda_src.sampler.config import SamplerConfig

BASE = {
    IngestEnv.OPENSEARCH_ENDPOINT: "https://search.example",
    SamplerEnv.REGIONS: "us-east-1,eu-west-1,us-east-1",
    IngestEnv.SPOKE_ROLE_NAME: "spot-insights-enrichment",
    SamplerEnv.DISCOVERY_DAYS: "30",
    SamplerEnv.EVENTS_INDEX: "spot-interruptions-*",
}


def test_discovery_is_read_with_its_index_and_repeated_regions_are_dropped() -> None:
    config = SamplerConfig.from_env(BASE)
    assert (config.discovery_days, config.events_index) == (30, "spot-interruptions-*")
    assert config.regions == ("us-east-1", "eu-west-1")
    off = SamplerConfig.from_env({**BASE, SamplerEnv.DISCOVERY_DAYS: "0"})
    assert (off.discovery_days, off.events_index) == (0, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({SamplerEnv.DISCOVERY_DAYS: "366"}, "SAMPLE_DISCOVERY_DAYS must be whole days"),
        ({SamplerEnv.DISCOVERY_DAYS: "-1"}, "SAMPLE_DISCOVERY_DAYS must be whole days"),
        ({IngestEnv.SPOKE_ROLE_NAME: ""}, "SAMPLE_DISCOVERY_DAYS needs SPOKE_ROLE_NAME"),
        ({SamplerEnv.EVENTS_INDEX: ""}, "SAMPLE_DISCOVERY_DAYS needs SAMPLE_EVENTS_INDEX"),
    ],
)
def test_bad_discovery_settings_are_refused_in_one_line(change, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SamplerConfig.from_env({**BASE, **change})
