"""The account-free machinery behind `spot-insights demo` (and the tests, benchmarks and chaos
runs): a synthetic fleet and storm in moto, the deployed capture path recreated there, an SQS
poller that invokes the real ingest handler as Lambda's event source mapping does, a Lambda
context, the local servers, and one run of all of it. No command-line parsing here; the
commands are in spot_cli/commands/."""
