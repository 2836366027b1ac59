"""Conformance checks every agent and belief must pass.

The contract (:mod:`bayesrl.base`): pure and jittable functions, the key first
and never stored, a read-only ``act``, static shapes, and ``vmap`` equal to a
loop over seeds.

Use them in your own tests when you write an agent::

    from bayesrl.testing import check_agent
    check_agent(my_agent, obs, transition)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl.base import Agent, Belief, Transition
from bayesrl.types import ArrayTree, PRNGKey

__all__ = ["check_agent", "check_belief", "tabular_transition"]


def _assert_trees_equal(a, b, message: str) -> None:
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b, f"{message}: structures differ ({tree_a} vs {tree_b})"
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=message)


# Jitted and eager ``init`` may round differently: under ``jit`` XLA sees the
# prior state as compile-time constants, folds them (``rsqrt``/``log`` of a
# constant Gamma shape are evaluated by the compiler, not by the run-time
# kernels) and reassociates products of constants (``c * (sqrt(2) * z)``
# becomes ``(c sqrt(2)) * z``), while eager execution runs one operation at a
# time. A 1-ulp change in a log-Gamma draw then propagates through
# log-softmax, ``exp`` and ``mean + noise * scale`` (PSRL's sampled rewards:
# up to 7.5 eps relative to ``max(1, |x|)`` measured over 10 keys). Floating
# leaves are therefore compared with this many float eps, relative and
# absolute (``rtol = atol = JIT_EAGER_EPS * eps``: 7.6e-6 in float32), which
# still rejects any real difference (another key, a lost update); integer
# and boolean leaves (counts, plans, graphs) must be equal.
JIT_EAGER_EPS = 64


def _assert_trees_close(a, b, message: str) -> None:
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b, f"{message}: structures differ ({tree_a} vs {tree_b})"
    for x, y in zip(leaves_a, leaves_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype, f"{message}: dtypes differ ({x.dtype} vs {y.dtype})"
        if np.issubdtype(x.dtype, np.inexact):
            tolerance = JIT_EAGER_EPS * float(np.finfo(x.dtype).eps)
            np.testing.assert_allclose(
                x, y, rtol=tolerance, atol=tolerance, err_msg=message
            )
        else:
            np.testing.assert_array_equal(x, y, err_msg=message)


def check_agent(
    agent: Agent,
    obs: ArrayTree,
    transition: Transition,
    key: PRNGKey | None = None,
    num_keys: int = 4,
    eager_init: bool = True,
) -> None:
    """Check the ``Agent`` contract; raises ``AssertionError`` on a violation.

    Checked: ``init``/``act``/``update`` jit, and jitted ``init`` equals eager
    ``init`` (integer leaves exactly, floating leaves to ``JIT_EAGER_EPS``
    float eps, see its comment; skipped with ``eager_init=False``); ``act`` is
    deterministic given its
    key and leaves the state untouched (it returns no state); ``update``
    preserves the state's structure, shapes and dtypes; a second jitted call
    with new values does not recompile; ``vmap`` over keys equals a loop.

    Args:
        agent: the agent under test.
        obs: an observation the agent can act on.
        transition: a transition the agent can learn from.
        key: a typed key (default ``jax.random.key(0)``).
        num_keys: keys used for the vmap-equals-loop check.
        eager_init: run ``init`` op by op too and compare. An ``init`` that
            samples and plans (PSRL) takes seconds op by op; a fast test may
            skip this part when a slower one keeps it.
    """
    key = jax.random.key(0) if key is None else key
    key_init, key_act, key_update = fast_random.split(key, 3)
    init = jax.jit(agent.init)
    act = jax.jit(agent.act)
    update = jax.jit(agent.update)

    state = init(key_init)
    if eager_init:
        _assert_trees_close(
            state, agent.init(key_init), "jitted init differs from eager"
        )
    state_before = jax.tree.map(jnp.copy, state)
    action, _ = act(key_act, state, obs)
    again, _ = act(key_act, state, obs)
    _assert_trees_equal(action, again, "act is not deterministic given its key")
    _assert_trees_equal(state, state_before, "act modified the state")

    new_state, _ = update(key_update, state, transition)
    assert jax.tree.structure(new_state) == jax.tree.structure(state), (
        "update changed the state's structure"
    )
    for old, new in zip(
        jax.tree.leaves(state), jax.tree.leaves(new_state), strict=True
    ):
        assert old.shape == new.shape and old.dtype == new.dtype, (
            f"update changed a leaf from {old.shape}/{old.dtype} to "
            f"{new.shape}/{new.dtype}"
        )

    act_cache, update_cache = act._cache_size(), update._cache_size()
    act(key_update, new_state, obs)
    update(key_act, new_state, transition)
    assert act._cache_size() == act_cache, "act recompiled for a new state"
    assert update._cache_size() == update_cache, "update recompiled for a new state"

    keys = fast_random.split(key_act, num_keys)
    # Jitted: op-by-op vmap of a sampler's loops costs seconds per agent.
    batched_act = jax.jit(jax.vmap(agent.act, in_axes=(0, None, None)))
    batched, _ = batched_act(keys, new_state, obs)
    for i in range(num_keys):
        single, _ = act(keys[i], new_state, obs)
        _assert_trees_equal(
            jax.tree.map(lambda x, i=i: x[i], batched), single, "vmap(act) != loop"
        )


def tabular_transition(
    state: int, action: int, next_state: int, reward: float = 0.0
) -> Transition:
    """A non-terminal transition between integer states, for :func:`check_agent`
    on tabular agents (PSRL, UCRL2...)."""
    return Transition(
        obs=jnp.int32(state),
        action=jnp.int32(action),
        reward=jnp.float32(reward),
        next_obs=jnp.int32(next_state),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
    )


def check_belief(
    belief: Belief,
    arms: np.ndarray,
    rewards: np.ndarray,
    rtol: float = 1e-5,
) -> None:
    """Check the ``Belief`` contract on a batch of observations.

    Checked: one batched update gives the same posterior (means and counts) as
    the same items added one at a time, in a shuffled order;
    ``discount(state, 1)`` is an exact identity; padding items (arm ``-1``) and
    zero-weight items change nothing; ``sample``, ``mean`` and ``counts`` have
    shape ``[num_arms]``.
    """
    arms = np.asarray(arms, np.int32)
    rewards = np.asarray(rewards, np.float32)
    weights = np.ones_like(rewards)
    prior = belief.init()
    batched = belief.update(
        prior, jnp.asarray(arms), jnp.asarray(rewards), jnp.asarray(weights)
    )
    order = np.random.default_rng(0).permutation(arms.size)
    sequential = prior
    for i in order:
        sequential = belief.update(
            sequential,
            jnp.asarray(arms[i : i + 1]),
            jnp.asarray(rewards[i : i + 1]),
            jnp.ones((1,), jnp.float32),
        )
    # The posterior must agree; the state's layout may not (a sliding window's
    # ring buffer holds the same items in insertion order).
    for summary in (belief.mean, belief.counts):
        np.testing.assert_allclose(
            np.asarray(summary(batched), np.float64),
            np.asarray(summary(sequential), np.float64),
            rtol=rtol,
            atol=1e-5,
            err_msg="batched update != sequential updates",
        )
    _assert_trees_equal(
        belief.discount(batched, 1.0), batched, "discount(1) is not identity"
    )

    padded = belief.update(
        batched,
        jnp.asarray([-1, int(arms[0])], jnp.int32),
        jnp.asarray([0.5, 0.5], jnp.float32),
        jnp.asarray([1.0, 0.0], jnp.float32),
    )
    if (
        belief.config.get("visit_discount", 1.0) == 1.0
        and belief.config.get("discount", 1.0) == 1.0
    ):
        _assert_trees_equal(
            padded, batched, "padding or zero weights changed the state"
        )

    k = belief.num_arms
    assert belief.sample(jax.random.key(1), batched).shape == (k,)
    assert belief.mean(batched).shape == (k,)
    assert belief.counts(batched).shape == (k,)
