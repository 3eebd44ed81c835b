"""The market run's tests provision every family under a fresh prefix, as the sampler's do."""

from tests.sampler.conftest import prefix

__all__ = ["prefix"]
