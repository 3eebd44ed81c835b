"""The scorecard reads indices made the way the report tests make theirs: provisioned by the
deploy-time provisioner and filled by the real ingest handler (tests/cli/conftest.py)."""

from tests.cli.conftest import ingest_events, ingest_events_once, node_writer

__all__ = ["ingest_events", "ingest_events_once", "node_writer"]
