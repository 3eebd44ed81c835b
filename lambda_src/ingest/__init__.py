"""Ingest: SQS batches of EC2 Spot events -> enriched documents -> OpenSearch `_bulk`.

`handler.handler` is the Lambda entry point; the other modules are importable and testable alone."""
