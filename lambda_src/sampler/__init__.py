"""The fleet exposure sampler (issue 14): counts running Spot instances per group each tick."""
