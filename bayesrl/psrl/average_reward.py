"""Average-reward planning: relative value iteration and the exact gain of a policy.

The continuing (no reset) setting of Osband, Russo & Van Roy (2013, §6) and
Jaksch, Ortner & Auer (2010) scores a stationary policy ``pi`` by its gain

    g^pi = lim_T (1/T) E[sum_{t<T} R(s_t, pi(s_t))],

and the optimal gain ``g* = max_pi g^pi`` solves the average-reward Bellman
equation ``g* + h(s) = max_a [R(s, a) + sum_s' P(s' | s, a) h(s')]``.

* :func:`relative_value_iteration` (Puterman 1994, §8.5.5):
  ``w_{i+1} = T v_i``, ``v_{i+1} = w_{i+1} - w_{i+1}(0)``, stopped when
  ``sp(w_{i+1} - v_i) = max(.) - min(.) < tolerance`` (the rule of Jaksch et
  al. 2010 and of the MATLAB code of Osband et al. 2013) or after
  ``max_iterations``. Then ``min(w_{i+1} - v_i) <= g* <= max(w_{i+1} - v_i)``
  and the greedy policy is ``tolerance``-optimal (Puterman Thm 8.5.5 for
  aperiodic unichain models). The subtraction of ``w(0)`` keeps the values
  bounded in float32 and does not change the span or the greedy policy.
* :func:`policy_gain`: the exact gain of a stationary policy from a start
  distribution ``rho``, ``g = rho . L^inf r_pi`` with the lazy chain ``L = (I +
  P_pi) / 2``. ``L`` has the stationary distributions of ``P_pi`` and is
  aperiodic, so ``L^n`` converges to the Cesaro limit of ``P_pi^n`` (periodic
  or multichain policies included); ``L^(2^k)`` is formed by ``k`` squarings.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl.envs.tabular import TabularModel
from bayesrl.types import Array

# L^(2^30): about 10^9 lazy steps, far beyond the mixing time of the chains
# this is used on (tens of states, transition probabilities well above 1e-6);
# each squaring is one [S, S] product, its rows renormalised so that float32
# rounding cannot compound over the squarings.
NUM_SQUARINGS = 30


class AverageRewardPlan(NamedTuple):
    """The output of :func:`relative_value_iteration`.

    Attributes:
        policy: ``int32[S]``, the greedy stationary policy of the last backup.
        bias: ``float32[S]``, the relative values ``v`` (``v[0] = 0``).
        gain: the midpoint of the bracket ``[min, max]`` of ``T v - v``.
        gain_bracket: ``float32[2]``, ``(min, max)`` of ``T v - v``; it holds
            the optimal gain of the planned model.
        iterations: ``int32`` number of backups done.
        converged: whether the span fell below the tolerance.
    """

    policy: Array
    bias: Array
    gain: Array
    gain_bracket: Array
    iterations: Array
    converged: Array


def span(values: Array) -> Array:
    """``sp(v) = max_s v(s) - min_s v(s)``."""
    return jnp.max(values) - jnp.min(values)


def value_iteration_until_span(
    bellman, num_states: int, tolerance, max_iterations: int
) -> AverageRewardPlan:
    """Relative value iteration with any Bellman operator.

    Args:
        bellman: ``v -> (T v, greedy policy)``, ``float32[S] -> (float32[S],
            int32[S])``.
        num_states: ``S``.
        tolerance: stop when ``sp(T v - v) < tolerance`` (may be traced).
        max_iterations: the cap on backups (static).
    """

    def not_done(carry):
        _, _, difference, iteration = carry
        return (span(difference) >= tolerance) & (iteration < max_iterations)

    def backup(carry):
        values, _, _, iteration = carry
        next_values, policy = bellman(values)
        difference = next_values - values
        return next_values - next_values[0], policy, difference, iteration + 1

    values = jnp.zeros((num_states,), jnp.float32)
    next_values, policy = bellman(values)
    carry = (next_values - next_values[0], policy, next_values, jnp.int32(1))
    values, policy, difference, iterations = jax.lax.while_loop(not_done, backup, carry)
    bracket = jnp.stack([jnp.min(difference), jnp.max(difference)])
    return AverageRewardPlan(
        policy=policy,
        bias=values,
        gain=bracket.mean(),
        gain_bracket=bracket,
        iterations=iterations,
        converged=span(difference) < tolerance,
    )


def relative_value_iteration(
    transitions: Array, rewards: Array, tolerance=0.01, max_iterations: int = 1000
) -> AverageRewardPlan:
    """The gain-optimal stationary policy of a known model.

    ``T v(s) = max_a [R(s, a) + sum_s' P(s' | s, a) v(s')]``, iterated as in
    the module docstring; ties go to the lowest action. The defaults
    (``tolerance = 0.01``, 1000 backups) are those of the MATLAB code of
    Osband et al. (2013), ``SetPriors.m``.

    Args:
        transitions: ``float32[S, A, S]``.
        rewards: ``float32[S, A]``.
        tolerance: span stopping threshold (may be traced).
        max_iterations: the cap on backups (static).
    """

    def bellman(values):
        q_values = rewards + jnp.einsum("sat,t->sa", transitions, values)
        return jnp.max(q_values, -1), jnp.argmax(q_values, -1).astype(jnp.int32)

    return value_iteration_until_span(
        bellman, rewards.shape[0], tolerance, max_iterations
    )


def policy_gain(
    transitions: Array, rewards: Array, policy: Array, start: Array
) -> Array:
    """Exact gain ``rho @ lim_n L^n r_pi`` of a stationary policy (see module).

    Args:
        transitions: ``float32[S, A, S]``.
        rewards: ``float32[S, A]``.
        policy: ``int32[S]``.
        start: ``float32[S]``, the start distribution ``rho``.
    """
    states = jnp.arange(rewards.shape[0])
    chain = transitions[states, policy]
    lazy = 0.5 * (chain + jnp.eye(chain.shape[0], dtype=chain.dtype))

    def square(_, matrix):
        matrix = matrix @ matrix
        return matrix / matrix.sum(-1, keepdims=True)

    limit = jax.lax.fori_loop(0, NUM_SQUARINGS, square, lazy)
    return start @ limit @ rewards[states, policy]


def optimal_gain(model: TabularModel, tolerance=1e-5, max_iterations=20_000) -> Array:
    """``g*`` from ``model.initial_distribution``: the exact gain of the policy
    of a tight relative value iteration (:func:`policy_gain`)."""
    plan = relative_value_iteration(
        model.transitions, model.rewards, tolerance, max_iterations
    )
    return policy_gain(
        model.transitions, model.rewards, plan.policy, model.initial_distribution
    )
