"""Langevin Monte Carlo Thompson sampling (LMC-TS) for contextual bandits.

Xu, Zheng, Mazumdar, Azizzadenesheli & Anandkumar, "Langevin Monte Carlo for
Contextual Bandits", ICML 2022 (https://arxiv.org/abs/2206.11254). Instead of
building a Gaussian (Laplace) posterior, LMC-TS runs a few Langevin steps on the
regularised squared loss after every round and acts greedily on the iterate:

1. warm start ``theta_{t,0} = theta_{t-1,K_{t-1}}``;
2. ``K_t = min(t, K)`` steps of
   ``theta <- theta - eta_t grad L_t(theta) + sqrt(2 eta_t / beta) xi``;
3. play ``argmax_a f(x_t, a; theta_{t,K_t})``.

The loss is the plain sum ``L_t(theta) = sum_{s<=t} (f(x_s, a_s; theta) - r_s)^2
+ ridge * ||theta||^2``. Its Gibbs law ``exp(-beta L_t)`` for a linear model is
the LinTS posterior ``N(V^{-1} b, (2 beta)^{-1} V^{-1})`` with ``V = sum x x' +
ridge I``, i.e. ``nu^2 = 1 / (2 beta)``.

Models:

* linear (``network_factory=None``): one parameter vector per arm,
  ``f(x, a) = theta_a . x`` for a context ``x [dim]`` shared by the arms. The
  gradient ``2 ((V_a + ridge I) theta_a - b_a)`` comes from sufficient statistics,
  so a round costs ``O(K num_arms dim^2)`` whatever ``t``. The step size is the
  theory's ``eta_t = step_size_scale / lambda_max(V_t + ridge I)`` (1/4 in the
  paper) unless ``step_size`` is given.
* neural: ``network_factory(rngs) -> nnx.Module`` mapping ``x [dim]`` to
  ``[num_arms]`` scores (Flax NNX, split into graphdef and params); the data
  live in a fixed-capacity masked buffer and ``step_size`` is required.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from bayesrl import random as fast_random
from bayesrl._checks import check_positive
from bayesrl.base import ActInfo, Agent, BanditObs, Transition
from bayesrl.langevin.sgld import sgld
from bayesrl.types import Array, ArrayTree, PRNGKey


class LMCTSState(NamedTuple):
    """State of :func:`lmc_ts`.

    Attributes:
        params: the current Langevin iterate (``[num_arms, dim]`` for the linear
            model, the network's parameter state otherwise).
        gram: linear model: ``[num_arms, dim, dim]`` ``sum x x'`` per arm.
        shift: linear model: ``[num_arms, dim]`` ``sum r x`` per arm.
        contexts: neural model: ``[capacity, dim]`` buffered contexts.
        actions: neural model: ``[capacity]`` buffered arms.
        rewards: neural model: ``[capacity]`` buffered rewards.
        count: number of rounds observed.
    """

    params: ArrayTree
    gram: Array
    shift: Array
    contexts: Array
    actions: Array
    rewards: Array
    count: Array


class LMCTSInfo(NamedTuple):
    """Diagnostics of one LMC-TS update.

    Attributes:
        num_inner_steps: ``K_t = min(t, K)`` steps taken this round.
        step_size: ``eta_t`` used this round.
        num_nonfinite: Langevin steps reverted because they were not finite.
        rejected: the reward was not finite; the round was ignored.
    """

    num_inner_steps: Array
    step_size: Array
    num_nonfinite: Array
    rejected: Array


def lmc_ts(
    num_arms: int,
    dim: int,
    *,
    inverse_temperature: float | Array,
    num_inner_steps: int = 25,
    ridge: float | Array = 1.0,
    step_size: float | Array | None = None,
    step_size_scale: float | Array = 0.25,
    network_factory: Callable[[nnx.Rngs], nnx.Module] | None = None,
    capacity: int | None = None,
) -> Agent:
    """Build an LMC-TS agent for a contextual bandit with a shared context.

    Args:
        num_arms: number of arms.
        dim: context dimension.
        inverse_temperature: ``beta > 0``; the linear target's covariance is
            ``(2 beta)^{-1} V^{-1}`` (the paper uses ``beta^{-1} = c d log T``).
        num_inner_steps: ``K``, the maximum Langevin steps per round (static).
        ridge: ``lambda > 0`` (the reference's weight decay 2.0 on a ``1/2``-less
            loss is ``lambda = 1``).
        step_size: a constant ``eta``; required for the neural model. None for the
            linear model means ``step_size_scale / lambda_max(V_t + ridge I)``.
        step_size_scale: ``eta_0`` of the adaptive linear step size (1/4).
        network_factory: None for the linear model, else a function building an
            NNX module from ``nnx.Rngs`` (called once per seed in ``init``).
        capacity: neural model: the buffer size (the number of rounds to store).

    Returns:
        An :class:`~bayesrl.base.Agent`; ``act`` is greedy on the current iterate
        (read-only), ``update`` adds the round and moves the chain.

    Raises:
        ValueError: for invalid sizes or hyper-parameters.
    """
    for name, value in (("num_arms", num_arms), ("dim", dim)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(num_inner_steps, int) or num_inner_steps < 1:
        raise ValueError(
            f"num_inner_steps must be a positive int, got {num_inner_steps!r}"
        )
    check_positive("inverse_temperature", inverse_temperature)
    check_positive("ridge", ridge)
    check_positive("step_size_scale", step_size_scale)
    if step_size is not None:
        check_positive("step_size", step_size)
    linear = network_factory is None
    if not linear:
        if step_size is None:
            raise ValueError("the neural LMC-TS needs a constant step_size")
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(
                f"the neural LMC-TS needs a positive int capacity, got {capacity!r}"
            )
        graphdef, _ = nnx.split(nnx.eval_shape(lambda: network_factory(nnx.Rngs(0))))
    else:
        capacity = 0

    def scores_fn(params: ArrayTree, context: Array) -> Array:
        if linear:
            return params @ context
        return nnx.merge(graphdef, params)(context)

    def loss_fn(params: ArrayTree, state: LMCTSState) -> Array:
        if linear:
            quadratic = jnp.einsum("ad,ade,ae->", params, state.gram, params)
            return quadratic - 2.0 * jnp.sum(params * state.shift)
        preds = jax.vmap(scores_fn, in_axes=(None, 0))(params, state.contexts)
        chosen = jnp.take_along_axis(preds, state.actions[:, None], axis=1)[:, 0]
        mask = jnp.arange(capacity) < jnp.minimum(state.count, capacity)
        return jnp.sum(jnp.where(mask, (chosen - state.rewards) ** 2, 0.0))

    def init(key: PRNGKey) -> LMCTSState:
        if linear:
            params = jnp.zeros((num_arms, dim), jnp.float32)
        else:
            _, params = nnx.split(network_factory(nnx.Rngs(key)))
        return LMCTSState(
            params=params,
            gram=jnp.zeros((num_arms, dim, dim) if linear else (0,), jnp.float32),
            shift=jnp.zeros((num_arms, dim) if linear else (0,), jnp.float32),
            contexts=jnp.zeros((capacity, dim), jnp.float32),
            actions=jnp.zeros((capacity,), jnp.int32),
            rewards=jnp.zeros((capacity,), jnp.float32),
            count=jnp.zeros((), jnp.int32),
        )

    def act(key: PRNGKey, state: LMCTSState, obs: BanditObs) -> tuple[Array, ActInfo]:
        del key
        scores = jnp.where(
            obs.available, scores_fn(state.params, obs.context), -jnp.inf
        )
        action = jnp.argmax(scores).astype(jnp.int32)
        return action, ActInfo(
            scores=scores,
            propensity=jnp.full((), jnp.nan),
            no_arm_available=~jnp.any(obs.available),
        )

    def add_round(state: LMCTSState, context, action, reward) -> LMCTSState:
        if linear:
            gram = state.gram.at[action].add(jnp.outer(context, context))
            shift = state.shift.at[action].add(reward * context)
            return state._replace(gram=gram, shift=shift, count=state.count + 1)
        slot = state.count % capacity
        return state._replace(
            contexts=state.contexts.at[slot].set(context),
            actions=state.actions.at[slot].set(action),
            rewards=state.rewards.at[slot].set(reward),
            count=state.count + 1,
        )

    def round_step_size(state: LMCTSState) -> Array:
        if step_size is not None:
            return jnp.asarray(step_size, jnp.float32)
        eigenvalues = jnp.linalg.eigvalsh(state.gram)  # [num_arms, dim]
        return step_size_scale / (jnp.max(eigenvalues) + ridge)

    def update(
        key: PRNGKey, state: LMCTSState, transition: Transition
    ) -> tuple[LMCTSState, LMCTSInfo]:
        context = transition.obs.context
        action = jnp.reshape(transition.action, ()).astype(jnp.int32)
        reward = jnp.reshape(transition.reward, ()).astype(jnp.float32)
        rejected = ~jnp.isfinite(reward) | ~jnp.all(jnp.isfinite(context))
        added = add_round(state, context, action, jnp.where(rejected, 0.0, reward))
        state = jax.tree.map(
            lambda old, new: jnp.where(rejected, old, new), state, added
        )
        eta = round_step_size(state)
        sampler = sgld(eta, temperature=1.0 / inverse_temperature)
        num_steps_t = jnp.minimum(state.count, num_inner_steps)

        def penalised_loss(params):
            penalty = sum(jnp.sum(p**2) for p in jax.tree.leaves(params))
            return loss_fn(params, state) + ridge * penalty

        grad_fn = jax.grad(penalised_loss)

        def inner(carry, inputs):
            params, sampler_state = carry
            step, step_key = inputs
            updates, new_sampler_state = sampler.update(
                grad_fn(params), sampler_state, key=step_key
            )
            active = step < num_steps_t
            params = jax.tree.map(
                lambda p, u: jnp.where(active, p + u, p), params, updates
            )
            sampler_state = jax.tree.map(
                lambda old, new: jnp.where(active, new, old),
                sampler_state,
                new_sampler_state,
            )
            return (params, sampler_state), None

        keys = fast_random.split(key, num_inner_steps)
        (params, sampler_state), _ = jax.lax.scan(
            inner,
            (state.params, sampler.init(state.params)),
            (jnp.arange(num_inner_steps), keys),
        )
        state = state._replace(params=params)
        return state, LMCTSInfo(
            num_inner_steps=num_steps_t,
            step_size=eta,
            num_nonfinite=sampler_state.num_nonfinite,
            rejected=rejected,
        )

    return Agent(init=init, act=act, update=update)
