"""Lambda code: ingest handler, provisioning custom resource, shared helpers.

Never imports aws_cdk: this package is the Lambda asset."""
