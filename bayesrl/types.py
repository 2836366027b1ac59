"""Type aliases shared across bayesrl."""

from typing import Any

import jax

PRNGKey = jax.Array
"""A typed PRNG key made with ``jax.random.key``."""

Array = jax.Array
ArrayTree = Any
"""A pytree of arrays (NamedTuple, dict, tuple, None...)."""
