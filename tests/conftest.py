"""Shared pytest configuration: float32 by default, deterministic keys."""

import jax
import pytest


@pytest.fixture
def key():
    """A fixed typed key: statistical tests must not depend on the run."""
    return jax.random.key(20261123)
