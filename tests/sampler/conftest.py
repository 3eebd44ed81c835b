"""A fresh index prefix per test, with every family the sampler provisions (events, exposure,
market) removed after; tests/market shares it."""

import uuid

import pytest

from lambda_src.contract import exposure_index_pattern, index_pattern, market_index_pattern


@pytest.fixture
def prefix(opensearch):
    name = f"smp-{uuid.uuid4().hex[:8]}"
    yield name
    for pattern in (index_pattern(name), exposure_index_pattern(name), market_index_pattern(name)):
        opensearch.indices.delete(index=pattern, expand_wildcards="open,closed")
    for template in (name, f"{name}.exposure", f"{name}.market"):
        opensearch.indices.delete_index_template(name=template, ignore=[404])
