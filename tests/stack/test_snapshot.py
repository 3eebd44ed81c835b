"""Snapshots of the synthesized template per configuration variant.

Refresh after an intended change with `.venv/bin/pytest tests/stack --snapshot-update` and review
the diff like code."""

import pytest
from aws_cdk.assertions import Template
from syrupy.extensions.json import JSONSnapshotExtension

from tests.stack.synth import VARIANTS, synth_stack


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_template_matches_snapshot(variant: str, snapshot_json) -> None:
    assert Template.from_stack(synth_stack(VARIANTS[variant])).to_json() == snapshot_json
