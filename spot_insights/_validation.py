"""Prop checks the constructs share, so a bad value fails at synth naming the prop."""

from __future__ import annotations

from lambda_src.contract import validate_index_prefix


def index_prefix_prop(value: str) -> str:
    """`value` if it can prefix the indices (the contract's one rule), else ValueError naming
    the `index_prefix` prop, the value and the expected form."""
    try:
        return validate_index_prefix(value)
    except ValueError as error:
        raise ValueError(f"index_prefix: {error}") from None
