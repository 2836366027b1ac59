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

Options of the reference code (``devzhk/LMCTS``: ``algo/langevin.py``,
``algo/lmcts.py``); every default is the textbook algorithm above:

* ``loss="logistic"``: the Bernoulli negative log-likelihood
  ``l(f, r) = log(1 + e^f) - r f`` for rewards in ``[0, 1]`` (``f`` is the
  logit), instead of ``(f - r)^2``.
* ``step_size_decay="inverse_t"``: at every round ``t`` that is a multiple of
  ``decay_every`` (20), ``eta <- eta_0 / t`` (full batch) or ``10 eta_0 / t``
  (when that round was in minibatch mode), held until the next multiple; the
  rounds before the first multiple keep ``eta_0``.
* ``batch_size=B``: each inner step uses ``B`` stored rounds drawn uniformly with
  replacement, and the data term is rescaled by ``n / B`` (``n`` stored rounds)
  so its gradient is an unbiased estimate of the full sum's; while ``n <= B``
  the full batch is used, as in the reference.
* ``freeze_noise_step_size=True``: the reference's noise, fixed at construction
  as ``sqrt(2 beta^{-1} / eta_0)`` and multiplied by the current ``eta_t``:
  ``theta <- theta - eta_t (grad L + sqrt(2 / (beta eta_0)) xi)``, i.e. noise std
  ``eta_t sqrt(2 / (beta eta_0))`` instead of ``sqrt(2 eta_t / beta)``; after a
  decay the effective temperature is ``beta^{-1} eta_t / eta_0``.
* ``feel_good=(lambda_fg, b)``: Feel-Good Thompson sampling (Zhang, "Feel-Good
  Thompson Sampling for Contextual Bandits and Reinforcement Learning", SIAM J.
  Math. Data Sci. 2022, https://arxiv.org/abs/2110.00871) adds an optimism
  term to the loss, ``L_t(theta) - lambda_fg sum_{s<=t} min(b, max_a f(x_s, a;
  theta))``.

The logistic loss, minibatches and the Feel-Good term need the rounds
themselves, so with any of them the linear model also keeps a ``capacity``
buffer (its sufficient statistics still give the adaptive step size: the
logistic Hessian is at most ``V / 4 + 2 ridge I``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from bayesrl import random as fast_random
from bayesrl._checks import check_positive, is_concrete
from bayesrl.base import ActInfo, Agent, BanditObs, Transition
from bayesrl.langevin.sgld import sgld
from bayesrl.types import Array, ArrayTree, PRNGKey

_LOSSES = ("squared", "logistic")
_STEP_SIZE_DECAYS = ("none", "inverse_t")


class LMCTSState(NamedTuple):
    """State of :func:`lmc_ts`.

    Attributes:
        params: the current Langevin iterate (``[num_arms, dim]`` for the linear
            model, the network's parameter state otherwise).
        gram: linear model: ``[num_arms, dim, dim]`` ``sum x x'`` per arm.
        shift: linear model: ``[num_arms, dim]`` ``sum r x`` per arm.
        contexts: ``[capacity, dim]`` buffered contexts (neural model, or any
            option that needs the rounds; ``capacity = 0`` otherwise).
        actions: ``[capacity]`` buffered arms.
        rewards: ``[capacity]`` buffered rewards.
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
        rejected: the reward was not finite (or, with the logistic loss,
            outside ``[0, 1]``); the round was ignored.
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
    loss: str = "squared",
    step_size_decay: str = "none",
    decay_every: int = 20,
    batch_size: int | None = None,
    freeze_noise_step_size: bool = False,
    feel_good: tuple[float | Array, float | Array] | None = None,
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
        capacity: the buffer size (the number of rounds stored, the last ones);
            needed by the neural model and by the logistic loss, minibatches
            and the Feel-Good term.
        loss: ``"squared"`` ``(f - r)^2`` or ``"logistic"`` ``log(1 + e^f) - r
            f`` (rewards in ``[0, 1]``).
        step_size_decay: ``"none"`` or ``"inverse_t"`` (the reference's
            ``eta_0 / t`` every ``decay_every`` rounds, ``10 eta_0 / t`` in
            minibatch mode); ``eta_0`` is the constant or adaptive step size.
        decay_every: rounds between two decays (20 in the reference).
        batch_size: None for full-batch gradients, else the minibatch size
            ``B <= capacity`` (each inner step draws a fresh minibatch).
        freeze_noise_step_size: the reference's noise std ``eta_t sqrt(2 /
            (beta eta_0))`` instead of ``sqrt(2 eta_t / beta)`` (they differ
            only after a decay).
        feel_good: None, or ``(lambda_fg >= 0, b)``: subtract ``lambda_fg
            sum_s min(b, max_a f(x_s, a))`` from the loss.

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
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    if step_size_decay not in _STEP_SIZE_DECAYS:
        raise ValueError(
            f"step_size_decay must be one of {_STEP_SIZE_DECAYS}, "
            f"got {step_size_decay!r}"
        )
    if (
        not isinstance(decay_every, int)
        or isinstance(decay_every, bool)
        or decay_every < 1
    ):
        raise ValueError(f"decay_every must be a positive int, got {decay_every!r}")
    if batch_size is not None and (
        not isinstance(batch_size, int)
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(
            f"batch_size must be None or a positive int, got {batch_size!r}"
        )
    if not isinstance(freeze_noise_step_size, bool):
        raise ValueError(
            f"freeze_noise_step_size must be a bool, got {freeze_noise_step_size!r}"
        )
    if feel_good is not None:
        if not isinstance(feel_good, tuple) or len(feel_good) != 2:
            raise ValueError(
                f"feel_good must be None or a pair (lambda_fg, b), got {feel_good!r}"
            )
        feel_good_weight, feel_good_cap = feel_good
        check_positive("feel_good weight lambda_fg", feel_good_weight, allow_zero=True)
        if is_concrete(feel_good_cap):
            cap = np.asarray(feel_good_cap)
            if cap.ndim != 0 or cap.dtype.kind not in "iuf" or np.isnan(cap):
                raise ValueError(
                    f"the feel_good cap b must be a number, got {feel_good_cap!r}"
                )
    linear = network_factory is None
    buffered = (
        not linear
        or loss == "logistic"
        or batch_size is not None
        or feel_good is not None
    )
    if not linear and step_size is None:
        raise ValueError("the neural LMC-TS needs a constant step_size")
    if buffered:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            what = "the neural model" if not linear else "this loss or option"
            raise ValueError(
                f"{what} stores the rounds: it needs a positive int capacity, "
                f"got {capacity!r}"
            )
        if batch_size is not None and batch_size > capacity:
            raise ValueError(
                f"batch_size must be <= capacity, got {batch_size} > {capacity}"
            )
    else:
        capacity = 0
    if not linear:
        graphdef, _ = nnx.split(nnx.eval_shape(lambda: network_factory(nnx.Rngs(0))))

    def scores_fn(params: ArrayTree, context: Array) -> Array:
        if linear:
            return params @ context
        return nnx.merge(graphdef, params)(context)

    def rounds_loss(params, contexts, actions, rewards, mask) -> Array:
        """``sum_s l(f(x_s, a_s), r_s)`` (minus the Feel-Good term) over the
        rounds where ``mask`` holds."""
        preds = jax.vmap(scores_fn, in_axes=(None, 0))(params, contexts)
        chosen = jnp.take_along_axis(preds, actions[:, None], axis=1)[:, 0]
        if loss == "squared":
            per_round = (chosen - rewards) ** 2
        else:
            per_round = jax.nn.softplus(chosen) - rewards * chosen
        if feel_good is not None:
            per_round = per_round - feel_good_weight * jnp.minimum(
                feel_good_cap, jnp.max(preds, axis=1)
            )
        return jnp.sum(jnp.where(mask, per_round, 0.0))

    def loss_fn(params: ArrayTree, state: LMCTSState, batch_key) -> Array:
        """The data term of ``L_t``: from the sufficient statistics (linear,
        squared, full batch), the whole buffer, or a rescaled minibatch."""
        if not buffered:
            quadratic = jnp.einsum("ad,ade,ae->", params, state.gram, params)
            return quadratic - 2.0 * jnp.sum(params * state.shift)
        num_stored = jnp.minimum(state.count, capacity)
        if batch_size is None:
            mask = jnp.arange(capacity) < num_stored
            return rounds_loss(
                params, state.contexts, state.actions, state.rewards, mask
            )
        minibatch = num_stored > batch_size
        sampled = fast_random.randint(batch_key, (batch_size,), 0, num_stored)
        index = jnp.where(minibatch, sampled, jnp.arange(batch_size))
        mask = minibatch | (jnp.arange(batch_size) < num_stored)
        scale = jnp.where(minibatch, num_stored / batch_size, 1.0)
        return scale * rounds_loss(
            params,
            state.contexts[index],
            state.actions[index],
            state.rewards[index],
            mask,
        )

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
            state = state._replace(gram=gram, shift=shift)
        if buffered:
            slot = state.count % capacity
            state = state._replace(
                contexts=state.contexts.at[slot].set(context),
                actions=state.actions.at[slot].set(action),
                rewards=state.rewards.at[slot].set(reward),
            )
        return state._replace(count=state.count + 1)

    def round_step_size(state: LMCTSState) -> Array:
        """``eta_0``: the constant step size or the theory's adaptive one."""
        if step_size is not None:
            return jnp.asarray(step_size, jnp.float32)
        eigenvalues = jnp.linalg.eigvalsh(state.gram)  # [num_arms, dim]
        return step_size_scale / (jnp.max(eigenvalues) + ridge)

    def decay_factor(count: Array) -> Array:
        """``eta_t / eta_0`` of the reference schedule at round ``t = count``:
        ``1`` before the first multiple ``m`` of ``decay_every``, then ``1 / m``
        (``10 / m`` if round ``m`` was in minibatch mode) until the next one."""
        last_decay = (count // decay_every) * decay_every
        numerator = 1.0
        if batch_size is not None:
            minibatch = jnp.minimum(last_decay, capacity) > batch_size
            numerator = jnp.where(minibatch, 10.0, 1.0)
        return jnp.where(
            last_decay > 0, numerator / jnp.maximum(last_decay, 1), 1.0
        ).astype(jnp.float32)

    def update(
        key: PRNGKey, state: LMCTSState, transition: Transition
    ) -> tuple[LMCTSState, LMCTSInfo]:
        context = transition.obs.context
        action = jnp.reshape(transition.action, ()).astype(jnp.int32)
        reward = jnp.reshape(transition.reward, ()).astype(jnp.float32)
        rejected = ~jnp.isfinite(reward) | ~jnp.all(jnp.isfinite(context))
        if loss == "logistic":
            rejected = rejected | (reward < 0.0) | (reward > 1.0)
        added = add_round(state, context, action, jnp.where(rejected, 0.0, reward))
        state = jax.tree.map(
            lambda old, new: jnp.where(rejected, old, new), state, added
        )
        eta = round_step_size(state)
        noise_multiplier = 1.0
        if step_size_decay == "inverse_t":
            factor = decay_factor(state.count)
            eta = eta * factor
            if freeze_noise_step_size:
                # sqrt(2 eta_t / beta) sqrt(eta_t / eta_0) = eta_t sqrt(2 / beta eta_0)
                noise_multiplier = jnp.sqrt(factor)
        sampler = sgld(
            eta,
            temperature=1.0 / inverse_temperature,
            noise_multiplier=noise_multiplier,
        )
        num_steps_t = jnp.minimum(state.count, num_inner_steps)

        def penalised_loss(params, batch_key):
            penalty = sum(jnp.sum(p**2) for p in jax.tree.leaves(params))
            return loss_fn(params, state, batch_key) + ridge * penalty

        grad_fn = jax.grad(penalised_loss)
        if batch_size is None:
            noise_keys = fast_random.split(key, num_inner_steps)
            batch_keys = None  # full-batch gradients draw nothing
        else:
            key_noise, key_batch = fast_random.split(key)
            noise_keys = fast_random.split(key_noise, num_inner_steps)
            batch_keys = fast_random.split(key_batch, num_inner_steps)

        def inner(carry, inputs):
            params, sampler_state = carry
            step, step_key, batch_key = inputs
            updates, new_sampler_state = sampler.update(
                grad_fn(params, batch_key), sampler_state, key=step_key
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

        (params, sampler_state), _ = jax.lax.scan(
            inner,
            (state.params, sampler.init(state.params)),
            (jnp.arange(num_inner_steps), noise_keys, batch_keys),
        )
        state = state._replace(params=params)
        return state, LMCTSInfo(
            num_inner_steps=num_steps_t,
            step_size=eta,
            num_nonfinite=sampler_state.num_nonfinite,
            rejected=rejected,
        )

    return Agent(init=init, act=act, update=update)
