"""Spot Interruption Insights: reusable CDK constructs and the stack that composes them."""
