"""The `spot-insights` command line and the local (account-free) pipeline it drives.

Never imports `aws_cdk`: the CLI must start fast and run where the CDK is not installed."""
