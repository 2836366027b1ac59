"""Checks shared by every factory that validates hyper-parameters eagerly."""

from __future__ import annotations

from typing import Any

import jax


def is_concrete(value: Any) -> bool:
    """Whether ``value`` (a number, array or pytree) holds no tracer, so that a
    factory can check it eagerly; traced hyper-parameters are checked by no one
    and flow through ``vmap`` sweeps."""
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(value))
