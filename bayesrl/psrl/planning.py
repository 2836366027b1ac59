"""Exact finite-horizon planning and evaluation for tabular and factored models.

All functions are pure JAX and jittable; the horizon is static.

* :func:`backward_induction`: the optimal non-stationary policy of a known
  model (Bellman 1957; the planning oracle PSRL assumes, Osband et al. 2013),

      Q_h(s, a) = R(s, a) + (1 - T(s, a)) sum_s' P(s' | s, a) V_{h+1}(s'),
      V_h(s) = max_a Q_h(s, a),   V_H = 0,

  with ``T`` the termination indicator; ties go to the lowest action.
* :func:`policy_evaluation`: ``V^pi_h`` of a non-stationary policy, the same
  recursion with ``a = pi_h(s)``.
* :func:`expected_regret`: ``rho . (V*_0 - V^pi_0)``, the exact expected regret
  of one episode (as in Colosseum and Mutti et al. 2024).
* :func:`model_l1_error`: the mean over state-action pairs of
  ``|| P_hat(. | s, a) - P(. | s, a) ||_1``.
* :func:`factored_expected_next_value`: ``E[V(s') | x]`` for a factored model,
  contracted one factor at a time so that the dense ``[S, A, S]`` matrix is
  never materialised (memory ``S A S / b_{d_Y}`` instead of ``S A S``).
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


def _bellman_backup(
    transitions: Array, rewards: Array, termination: Array, next_values: Array
) -> Array:
    """``Q(s, a) = R + (1 - T) P V'`` for all pairs: ``float32[S, A]``."""
    return rewards + (1.0 - termination) * jnp.einsum(
        "sat,t->sa", transitions, next_values
    )


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
    num_states = rewards.shape[0]

    def backup(next_values, _):
        q_values = _bellman_backup(transitions, rewards, termination, next_values)
        values = jnp.max(q_values, axis=-1)
        policy = jnp.argmax(q_values, axis=-1).astype(jnp.int32)
        return values, (values, policy, q_values)

    terminal = jnp.zeros((num_states,), rewards.dtype)
    _, (values, policy, q_values) = jax.lax.scan(
        backup, terminal, None, length=horizon, reverse=True
    )
    values = jnp.concatenate([values, terminal[None]], axis=0)
    return Plan(policy=policy, values=values, q_values=q_values)


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
        q_values = _bellman_backup(transitions, rewards, termination, next_values)
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
    """Exact expected regret of one episode: ``rho . (V*_0 - V^pi_0)``.

    Args:
        model: the true model.
        policy: ``int32[H, S]``; its length is the horizon.
    """
    horizon = policy.shape[0]
    return optimal_value(model, horizon) - policy_value(model, policy)


def model_l1_error(transitions_hat: Array, transitions: Array) -> Array:
    """Mean over ``(s, a)`` of ``|| P_hat(. | s, a) - P(. | s, a) ||_1``."""
    return jnp.mean(jnp.sum(jnp.abs(transitions_hat - transitions), axis=-1))


def factored_expected_next_value(factor_probs: list[Array], values: Array) -> Array:
    """``E[V(s') | x] = sum_{y} prod_j theta_j(y_j | x) V(y)`` factor by factor.

    Contracts the last factor first: ``W_{d}(x, y_1..y_{d-1}) = sum_{y_d}
    theta_d(y_d | x) V(y_1..y_d)``, then ``W_{d-1}`` from ``W_d`` and so on, so
    the largest temporary is ``[X, S / b_d]`` rather than the ``[X, S]`` dense
    transition matrix.

    Args:
        factor_probs: ``d_Y`` arrays ``[X, b_j]``, the per-factor next-state
            distributions of every input ``x`` (``X = S * A`` for all pairs).
        values: ``[S]`` with ``S = prod_j b_j`` (first factor most significant).

    Returns:
        ``[X]``.
    """
    sizes = [probs.shape[-1] for probs in factor_probs]
    last = factor_probs[-1]
    partial = jnp.einsum("xb,ab->xa", last, values.reshape(-1, sizes[-1]))
    for probs, size in zip(factor_probs[-2::-1], sizes[-2::-1], strict=True):
        partial = partial.reshape(partial.shape[0], -1, size)
        partial = jnp.einsum("xb,xab->xa", probs, partial)
    return partial[:, 0]
