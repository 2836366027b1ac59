"""Eager checks of the PSRL factories' arguments (raise ``ValueError``).

Values that are traced (a factory called inside ``jax.vmap`` over known
parents or ``alpha``) are checked for shape only; concrete values are checked
fully, so bad input is refused at the boundary, never inside jit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesrl._checks import is_concrete
from bayesrl.envs.factored import FactoredMDP
from bayesrl.envs.tabular import TabularMDP

MEMORY_BUDGET_BYTES = 2**31
"""Largest count table a factory accepts (2 GiB, per agent, before vmap)."""


def check_env(env: Any, *, factored: bool) -> None:
    kind = FactoredMDP if factored else TabularMDP
    if not isinstance(env, kind):
        raise ValueError(f"env must be a {kind.__name__}, got {type(env).__name__}")


def resolve_reward(env: TabularMDP, reward: Any):
    """None or ``"normal_gamma"`` (learn the reward) or a ``float32[S, A]``
    known reward table."""
    if reward is None:
        return None
    if isinstance(reward, str):
        if reward != "normal_gamma":
            raise ValueError(
                "reward must be None, 'normal_gamma' or an [S, A] table, "
                f"got {reward!r}"
            )
        return reward
    shape = (env.num_states, env.num_actions)
    if np.shape(reward) != shape:
        raise ValueError(f"reward must have shape {shape}, got {np.shape(reward)}")
    if is_concrete(reward) and not np.all(np.isfinite(np.asarray(reward))):
        raise ValueError("reward must be finite")
    return reward


def resolve_termination(env: TabularMDP, termination: Any):
    """The known termination table (the environment's rules by default)."""
    if termination is None:
        return env.default_termination()
    shape = (env.num_states, env.num_actions)
    if np.shape(termination) != shape:
        raise ValueError(
            f"termination must have shape {shape}, got {np.shape(termination)}"
        )
    return termination


def check_parent_lists(
    name: str, parents: Any, num_outputs: int, num_inputs: int, max_parents: int
) -> None:
    """Shape ``[d_Y, K]``; concrete values in ``[-1, d_X)``, no repeats, at most
    ``max_parents`` per node."""
    shape = np.shape(parents)
    if len(shape) != 2 or shape[0] != num_outputs:
        raise ValueError(
            f"{name} must be an int array [d_Y={num_outputs}, K] padded with -1, "
            f"got shape {shape}"
        )
    if not is_concrete(parents):
        return
    values = np.asarray(parents)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {values.dtype}")
    if np.any((values < -1) | (values >= num_inputs)):
        raise ValueError(
            f"{name} holds factor indices outside [0, d_X={num_inputs}) "
            f"(-1 is padding): {values.tolist()}"
        )
    for j, row in enumerate(values):
        listed = row[row >= 0]
        if len(set(listed.tolist())) != len(listed):
            raise ValueError(f"{name}[{j}] repeats a factor: {row.tolist()}")
        if len(listed) > max_parents:
            raise ValueError(
                f"{name}[{j}] has {len(listed)} parents, more than "
                f"max_parents={max_parents}"
            )


def check_disjoint_parents(known_parents: Any, forbidden_parents: Any) -> None:
    """Refuse a factor listed both as a known and as a forbidden parent of one
    node (checked when both are concrete)."""
    if not (is_concrete(known_parents) and is_concrete(forbidden_parents)):
        return
    known, forbidden = np.asarray(known_parents), np.asarray(forbidden_parents)
    for j, (row_known, row_forbidden) in enumerate(zip(known, forbidden, strict=True)):
        both = set(row_known[row_known >= 0].tolist()) & set(
            row_forbidden[row_forbidden >= 0].tolist()
        )
        if both:
            raise ValueError(
                f"factors {sorted(both)} are both known and forbidden parents of "
                f"next-state factor {j}"
            )


def check_memory(
    num_outputs: int, num_candidates: int, num_configs: int, num_values: int
) -> None:
    size = 4 * num_outputs * num_candidates * num_configs * num_values
    if size > MEMORY_BUDGET_BYTES:
        raise ValueError(
            f"the count table needs {size} bytes (4 * d_Y={num_outputs} * "
            f"M={num_candidates} * U={num_configs} * N={num_values}), over the "
            f"{MEMORY_BUDGET_BYTES}-byte budget; lower max_parents or give more "
            "known parents"
        )
