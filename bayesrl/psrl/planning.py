"""Exact finite-horizon planning and evaluation for tabular and factored models.

All functions are pure JAX and jittable; the horizon is static.

* :func:`backward_induction`: the optimal non-stationary policy of a known
  model (Bellman 1957; the planning oracle PSRL assumes, Osband et al. 2013),

      Q_h(s, a) = R(s, a) + (1 - T(s, a)) sum_s' P(s' | s, a) V_{h+1}(s'),
      V_h(s) = max_a Q_h(s, a),   V_H = 0,

  with ``T`` the termination indicator; ties go to the lowest action.
* :func:`policy_evaluation`: ``V^pi_h`` of a non-stationary policy, the same
  recursion with ``a = pi_h(s)``.
* :func:`expected_regret`: ``rho @ (V*_0 - V^pi_0)``, the exact expected regret
  of one episode (as in Colosseum and Mutti et al. 2024).
* :func:`model_l1_error`: the mean over state-action pairs of
  ``|| P_hat(s, a) - P(s, a) ||_1`` (rows of next-state probabilities).
* :func:`factored_expected_next_value`: ``E[V(s') | x]`` for a factored model,
  contracted one factor at a time from the per-factor CPTs so that the dense
  ``[S, A, S]`` matrix is never materialised (memory ``S A S / b_{d_Y}``
  instead of ``S A S``); :func:`factored_backward_induction` plans with it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl.envs.tabular import TabularModel
from bayesrl.types import Array


class Plan(NamedTuple):
    """The output of :func:`backward_induction`.

    Attributes:
        policy: ``int32[H, S]``, the action at step ``h`` in state ``s``.
        values: ``float32[H + 1, S]``, ``V*_h`` (``values[H] == 0``).
        q_values: ``float32[H, S, A]``.
    """

    policy: Array
    values: Array
    q_values: Array


def _backward_induction(
    expected_next_value, rewards: Array, termination: Array, horizon: int
) -> Plan:
    """Backward induction given ``expected_next_value(V) -> [S, A]``."""
    num_states = rewards.shape[0]

    def backup(next_values, _):
        q_values = rewards + (1.0 - termination) * expected_next_value(next_values)
        values = jnp.max(q_values, axis=-1)
        policy = jnp.argmax(q_values, axis=-1).astype(jnp.int32)
        return values, (values, policy, q_values)

    terminal = jnp.zeros((num_states,), rewards.dtype)
    _, (values, policy, q_values) = jax.lax.scan(
        backup, terminal, None, length=horizon, reverse=True
    )
    values = jnp.concatenate([values, terminal[None]], axis=0)
    return Plan(policy=policy, values=values, q_values=q_values)


def backward_induction(
    transitions: Array, rewards: Array, termination: Array, horizon: int
) -> Plan:
    """The optimal ``horizon``-step policy of a known model.

    Args:
        transitions: ``float32[S, A, S]``.
        rewards: ``float32[S, A]``.
        termination: ``float32[S, A]`` (1 ends the episode after ``(s, a)``).
        horizon: ``H`` (static).

    Returns:
        A :class:`Plan`; ``policy[h]`` is the greedy action of ``Q_h`` with ties
        to the lowest index.
    """
    return _backward_induction(
        lambda values: jnp.einsum("sat,t->sa", transitions, values),
        rewards,
        termination,
        horizon,
    )


def factored_backward_induction(
    cpts: Array,
    configurations: Array,
    state_sizes: tuple[int, ...],
    rewards: Array,
    termination: Array,
    horizon: int,
) -> Plan:
    """:func:`backward_induction` on a factored model, without the dense matrix.

    ``P(s' | s, a) = prod_j cpts[j, configurations[s, a, j], s'[j]]``; every
    backup contracts ``E[V_{h+1}(s') | s, a]`` factor by factor
    (:func:`factored_expected_next_value`). Same plan as the dense path up to
    float32 rounding of the sums.

    Args:
        cpts: ``float32[d_Y, U, N]`` per-factor conditionals (padded values 0).
        configurations: ``int32[S, A, d_Y]`` parent configuration of every
            pair for every factor.
        state_sizes: ``(b_1, ..., b_{d_Y})`` (static).
        rewards: ``float32[S, A]``.
        termination: ``float32[S, A]``.
        horizon: ``H`` (static).
    """
    num_states, num_actions = rewards.shape
    flat_configurations = configurations.reshape(num_states * num_actions, -1)
    return _backward_induction(
        lambda values: factored_expected_next_value(
            cpts, flat_configurations, values, state_sizes
        ).reshape(num_states, num_actions),
        rewards,
        termination,
        horizon,
    )


def policy_evaluation(
    transitions: Array, rewards: Array, termination: Array, policy: Array
) -> Array:
    """``V^pi_h(s)`` of a non-stationary policy: ``float32[H + 1, S]``.

    Args:
        transitions: ``float32[S, A, S]``.
        rewards: ``float32[S, A]``.
        termination: ``float32[S, A]``.
        policy: ``int32[H, S]``.
    """
    num_states = rewards.shape[0]
    states = jnp.arange(num_states)

    def backup(next_values, actions):
        q_values = rewards + (1.0 - termination) * jnp.einsum(
            "sat,t->sa", transitions, next_values
        )
        values = q_values[states, actions]
        return values, values

    terminal = jnp.zeros((num_states,), rewards.dtype)
    _, values = jax.lax.scan(backup, terminal, policy, reverse=True)
    return jnp.concatenate([values, terminal[None]], axis=0)


def optimal_value(model: TabularModel, horizon: int) -> Array:
    """``rho . V*_0``: the expected optimal return of one episode."""
    plan = backward_induction(
        model.transitions, model.rewards, model.termination, horizon
    )
    return jnp.dot(model.initial_distribution, plan.values[0])


def policy_value(model: TabularModel, policy: Array) -> Array:
    """``rho . V^pi_0``: the expected return of ``policy`` for one episode."""
    values = policy_evaluation(
        model.transitions, model.rewards, model.termination, policy
    )
    return jnp.dot(model.initial_distribution, values[0])


def expected_regret(model: TabularModel, policy: Array) -> Array:
    """Exact expected regret of one episode: ``rho @ (V*_0 - V^pi_0)``.

    Args:
        model: the true model.
        policy: ``int32[H, S]``; its length is the horizon.
    """
    horizon = policy.shape[0]
    return optimal_value(model, horizon) - policy_value(model, policy)


def model_l1_error(transitions_hat: Array, transitions: Array) -> Array:
    """Mean over ``(s, a)`` of ``|| P_hat(s, a) - P(s, a) ||_1``, the L1 distance
    between the rows of next-state probabilities."""
    return jnp.mean(jnp.sum(jnp.abs(transitions_hat - transitions), axis=-1))


def factored_expected_next_value(
    cpts: Array, configurations: Array, values: Array, state_sizes: tuple[int, ...]
) -> Array:
    """``E[V(s') | x] = sum_{y} prod_j theta_j(y_j | u_j(x)) V(y)``, factor by factor.

    With ``d = d_Y`` and the last factor least significant, the last factor is
    contracted per parent configuration (``U`` rows, not ``X``),

        W_d(u, y_1..y_{d-1}) = sum_{y_d} theta_d(y_d | u) V(y_1..y_d),

    then gathered at ``u_d(x)`` and the remaining factors are contracted one at
    a time, ``W_j(x, y_{<j}) = sum_{y_j} theta_j(y_j | u_j(x)) W_{j+1}(x,
    y_{<=j})``. Cost ``U S + X S / b_d + X S / (b_d b_{d-1}) + ...`` per call
    and largest temporary ``[X, S / b_d]``, against ``X S`` for a product with
    the dense ``[X, S]`` matrix (plus ``X S d_Y`` to build it).

    Args:
        cpts: ``[d_Y, U, N]`` per-factor conditionals ``theta_j(v | u)``
            (padded values are ignored).
        configurations: ``int32[X, d_Y]`` parent configuration of every input
            for every factor.
        values: ``[S]`` with ``S = prod_j b_j`` (first factor most significant).
        state_sizes: ``(b_1, ..., b_{d_Y})`` (static).

    Returns:
        ``[X]``.
    """
    last = len(state_sizes) - 1
    size = state_sizes[last]
    per_configuration = jnp.einsum(
        "ub,rb->ur", cpts[last, :, :size], values.reshape(-1, size)
    )
    partial = per_configuration[configurations[:, last]]  # [X, S / b_d]
    for j in range(last - 1, -1, -1):
        size = state_sizes[j]
        probs = cpts[j, configurations[:, j], :size]  # [X, b_j]
        partial = partial.reshape(partial.shape[0], -1, size)
        partial = jnp.einsum("xb,xab->xa", probs, partial)
    return partial[:, 0]
