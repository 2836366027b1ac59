"""LMC-LSVI: Langevin Monte Carlo least-squares value iteration (linear MDPs).

Ishfaq, Lan, Xu, Mahmood, Precup, Anandkumar & Azizzadenesheli, "Provable and
Practical: Efficient Exploration in Reinforcement Learning via Langevin Monte
Carlo", ICLR 2024 (https://arxiv.org/abs/2305.18246), Algorithm 1.

For each step ``h`` of an episodic MDP with horizon ``H``, ``Q_h(s, a) =
phi(s, a)' w_h``. At the end of episode ``k``, for ``h = H .. 1`` (backward)::

    L_h(w) = sum_tau [r_tau + V_{h+1}(s'_tau) - w' phi_tau]^2 + ridge ||w||^2
           = w' Lambda_h w - 2 b_h' w + const,   Lambda_h = sum phi phi' + ridge I
    w <- w_h (warm start from the previous episode's final iterate)
    repeat J times:  w <- w - eta P grad L_h(w) + sqrt(2 eta / beta) P^{1/2} xi
    Q_h = clip(phi' w, v_lo (H-h+1), v_hi (H-h+1)),   V_h = max_a Q_h

and the agent acts greedily on ``Q_1 .. Q_H`` during the next episode (one
sample per episode: temporal consistency gives deep exploration). The Gibbs
target ``exp(-beta L_h)`` is the RLSVI Gaussian ``N(w_hat, (2 beta)^{-1}
Lambda_h^{-1})``. Theorem 4.2 takes ``ridge = 1``, ``eta = 1 / (4
lambda_max(Lambda))``, ``J = 2 kappa log(4 H K d)`` and ``beta^{-1/2} =
O~(H sqrt(d))``, and bounds the regret by ``O~(d^{3/2} H^{3/2} sqrt(T))``.

Preconditioning: with the paper's global step the direction
of eigenvalue ``lambda_i`` contracts by ``1 - lambda_i / (2 lambda_max)`` per
step, so with one-hot (tabular) features and a small ridge the rarely visited
coordinates, the ones that carry the exploration value, never receive their
posterior noise. ``preconditioner="diagonal"`` (the default) uses ``P =
diag(Lambda)^{-1}``, which makes tabular ``Lambda`` perfectly conditioned;
``"full"`` uses ``P = Lambda^{-1}``; ``"none"`` is the paper's step
``eta = step_size_scale / lambda_max``. With ``"full"``, ``step_size_scale=0.5``,
``num_inner_steps=1`` and ``exact_discretisation=True`` each step is an exact
RLSVI draw (Osband et al. 2016), the reference this sampler approximates.

Optimistic M-sample variant (Remark 4.3, Appendix D): ``num_chains = M``
independent chains per step, each warm-started from its own iterate, and
``Q_h = clip(max_m phi' w_m)``. One Gaussian sample is optimistic with
probability at least ``1 / (2 sqrt(2 e pi)) ~= 0.121``, so M samples fail with
probability at most ``(1 - 0.121)^M``.

Features: tabular one-hot (``num_states`` and ``state_fn(obs) -> index``; the
precision is a diagonal vector, so ``d = num_states * num_actions`` may be in
the thousands) or user features (``feature_fn(obs) -> [num_actions, dim]``, a
dense precision). The data are the last ``max_episodes`` episodes (a ring
buffer); ``Lambda_h`` and ``b_h`` are recomputed from it at every episode end
because ``V_{h+1}`` changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl._checks import check_positive
from bayesrl.base import Agent, Transition
from bayesrl.langevin.quadratic import quadratic_langevin_step
from bayesrl.types import Array, ArrayTree, PRNGKey

_PRECONDITIONERS = ("none", "diagonal", "full")


class LMCLSVIState(NamedTuple):
    """State of :func:`lmc_lsvi`.

    Attributes:
        weights: ``[H, M, d]`` the current iterate of each chain at each step.
        features: ``[E, H, d]`` (user features) or ``[E, H]`` state-action
            indices (tabular) of the buffered transitions.
        next_features: ``[E, H, A, d]`` (user features) or ``[E, H]`` next-state
            indices (tabular).
        rewards: ``[E, H]`` buffered rewards.
        bootstrap: ``[E, H]`` 0 where the transition ended the episode.
        valid: ``[E, H]`` which buffer slots hold data.
        step: the step ``h`` (0-based) within the current episode.
        episode: the number of completed episodes.
        num_nonfinite: chain updates reverted because they were not finite.
    """

    weights: Array
    features: Array
    next_features: Array
    rewards: Array
    bootstrap: Array
    valid: Array
    step: Array
    episode: Array
    num_nonfinite: Array


class LMCLSVIInfo(NamedTuple):
    """Diagnostics of one update (meaningful at episode ends).

    Attributes:
        episode_end: whether this update ran the backward Langevin pass.
        condition_number: ``[H]`` ``kappa(Lambda_h)``.
        contraction: ``[H]`` worst-direction contraction of the pass,
            ``max_i |1 - 2 eta lambda_i(P Lambda_h)|^J``; near 1 means a stalled
            chain whose rarely visited directions keep their old values.
        num_nonfinite: cumulative reverted chain updates.
    """

    episode_end: Array
    condition_number: Array
    contraction: Array
    num_nonfinite: Array


class LMCLSVIActInfo(NamedTuple):
    """Diagnostics of a decision: the clipped optimistic Q-values acted on."""

    q_values: Array


def lmc_lsvi(
    num_actions: int,
    horizon: int,
    *,
    max_episodes: int,
    num_states: int | None = None,
    state_fn: Callable[[ArrayTree], Array] | None = None,
    feature_fn: Callable[[ArrayTree], Array] | None = None,
    dim: int | None = None,
    num_inner_steps: int = 10,
    num_chains: int = 1,
    ridge: float | Array = 1e-3,
    inverse_temperature: float | Array = 5.0,
    step_size_scale: float | Array = 0.25,
    preconditioner: str = "diagonal",
    exact_discretisation: bool = False,
    value_bounds: tuple[float, float] = (0.0, 1.0),
    noise_multiplier: float | Array = 1.0,
    epsilon: float | Array = 0.0,
) -> Agent:
    """Build an LMC-LSVI agent for an episodic MDP of fixed horizon.

    The defaults: tabular features with ``ridge = 1e-3``
    and ``beta^{-1} = 0.2``, so an unvisited coordinate has posterior std
    ``sqrt(1 / (2 beta ridge)) = 10``, of the order of the value range, while a
    visited one concentrates; ``J = 10`` diagonally preconditioned steps with
    ``eta_0 = 1/4`` contract every direction by ``2^{-10}`` per episode.

    Args:
        num_actions: number of actions ``A``.
        horizon: ``H``, the number of steps per episode (an episode also ends
            early on ``terminated`` or ``truncated``).
        max_episodes: ``E``, the capacity of the episode ring buffer (static).
        num_states: tabular mode: the number of states.
        state_fn: tabular mode: ``obs -> state index`` in ``[0, num_states)``.
        feature_fn: feature mode: ``obs -> [num_actions, dim]`` features
            ``phi(s, a)`` (the theory assumes ``||phi|| <= 1``).
        dim: feature mode: ``d``.
        num_inner_steps: ``J`` Langevin steps per step ``h`` per episode.
        num_chains: ``M`` chains; ``M > 1`` acts on the optimistic max.
        ridge: ``lambda > 0``.
        inverse_temperature: ``beta > 0``.
        step_size_scale: ``eta_0``; the step is ``eta_0 / lambda_max(P Lambda)``
            (``eta_0 < 1`` for stability, ``1/4`` in the theory).
        preconditioner: ``"diagonal"`` (default), ``"full"`` or ``"none"``.
        exact_discretisation: with ``"full"`` (or tabular ``"diagonal"``, where
            the two coincide), multiply the noise by ``sqrt(1 - eta_0)`` so the
            chain's stationary law is exactly the Gibbs law.
        value_bounds: ``(v_lo, v_hi)``; ``Q_h`` is clipped to ``[v_lo, v_hi] *
            (H - h + 1)``. ``(0, 1)`` in the paper; negative rewards (DeepSea's
            move cost) need ``v_lo < 0``.
        noise_multiplier: multiplies the Langevin noise; 0 gives plain ridge
            regression (the ε-greedy LSVI baseline with ``epsilon > 0``).
        epsilon: dithering probability of a uniform action (0 for LMC-LSVI).

    Returns:
        An :class:`~bayesrl.base.Agent` whose ``act`` is greedy on the clipped
        optimistic Q (ties broken at random) and whose ``update`` stores the
        transition and, at the end of an episode, runs the backward pass.

    Raises:
        ValueError: for invalid sizes, modes or hyper-parameters.
    """
    for name, value in (
        ("num_actions", num_actions),
        ("horizon", horizon),
        ("max_episodes", max_episodes),
        ("num_inner_steps", num_inner_steps),
        ("num_chains", num_chains),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if preconditioner not in _PRECONDITIONERS:
        raise ValueError(
            f"preconditioner must be one of {_PRECONDITIONERS}, got {preconditioner!r}"
        )
    tabular = feature_fn is None
    if tabular:
        if state_fn is None or not isinstance(num_states, int) or num_states < 1:
            raise ValueError(
                "lmc_lsvi needs either feature_fn and dim, or num_states (a "
                "positive int) and state_fn"
            )
        dim = num_states * num_actions
    elif not isinstance(dim, int) or dim < 1:
        raise ValueError(f"feature mode needs a positive int dim, got {dim!r}")
    if exact_discretisation and preconditioner == "none":
        raise ValueError("exact_discretisation needs preconditioner='full'")
    if exact_discretisation and preconditioner == "diagonal" and not tabular:
        raise ValueError("exact_discretisation needs preconditioner='full'")
    check_positive("ridge", ridge)
    check_positive("inverse_temperature", inverse_temperature)
    check_positive("step_size_scale", step_size_scale)
    check_positive("noise_multiplier", noise_multiplier, allow_zero=True)
    check_positive("epsilon", epsilon, allow_zero=True)
    if not isinstance(step_size_scale, jax.core.Tracer) and step_size_scale >= 1.0:
        raise ValueError(
            f"step_size_scale must be < 1 for a stable chain, got {step_size_scale!r}"
        )
    if not isinstance(epsilon, jax.core.Tracer) and epsilon > 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
    v_lo, v_hi = (float(bound) for bound in value_bounds)
    if not v_lo <= v_hi:
        raise ValueError(f"value_bounds must satisfy lo <= hi, got {value_bounds!r}")
    num_steps, num_episodes = num_inner_steps, max_episodes
    remaining = horizon - jnp.arange(horizon)  # H - h + 1 with h 1-based

    # --- the two feature representations -----------------------------------
    def q_values(weights_h: Array, obs: ArrayTree) -> Array:
        """``[M, A]`` unclipped ``phi(obs, a)' w_m``."""
        if tabular:
            index = state_fn(obs) * num_actions + jnp.arange(num_actions)
            return weights_h[:, index]
        return weights_h @ feature_fn(obs).T

    def next_q_values(weights_h: Array, next_features: Array) -> Array:
        """``[E, M, A]`` for the buffered next states."""
        if tabular:
            index = next_features[:, None] * num_actions + jnp.arange(num_actions)
            return jnp.moveaxis(weights_h[:, index], 0, 1)
        return jnp.einsum("ead,md->ema", next_features, weights_h)

    def regression_stats(features, targets, valid):
        """``Lambda_h`` (diagonal vector or dense) and ``b_h``."""
        weight = valid.astype(jnp.float32)
        if tabular:
            counts = jax.ops.segment_sum(weight, features, num_segments=dim)
            shift = jax.ops.segment_sum(weight * targets, features, num_segments=dim)
            return counts + ridge, shift
        gram = jnp.einsum("e,ed,ef->df", weight, features, features)
        shift = jnp.einsum("e,ed->d", weight * targets, features)
        return gram + ridge * jnp.eye(dim), shift

    def chain_step(xi, w, precision, shift, eta):
        if tabular:
            noise = noise_multiplier * jnp.sqrt(2.0 * eta / inverse_temperature)
            if preconditioner == "none":
                return w - 2.0 * eta * (precision * w - shift) + noise * xi
            if exact_discretisation:
                noise = noise * jnp.sqrt(1.0 - eta)
            return (
                w
                - 2.0 * eta * (w - shift / precision)
                + noise * xi / jnp.sqrt(precision)
            )
        return quadratic_langevin_step(
            noise_multiplier * xi,
            w,
            precision,
            shift,
            eta,
            inverse_temperature,
            preconditioner,
            exact_discretisation,
        )

    def step_size_and_spectrum(precision):
        """``eta`` and the eigenvalues of ``P Lambda`` (for the diagnostics)."""
        if tabular:
            if preconditioner == "none":
                spectrum = precision
            else:
                spectrum = jnp.ones_like(precision)
            kappa = jnp.max(precision) / jnp.min(precision)
        else:
            if preconditioner == "none":
                spectrum = jnp.linalg.eigvalsh(precision)
            elif preconditioner == "diagonal":
                root = 1.0 / jnp.sqrt(jnp.diagonal(precision))
                spectrum = jnp.linalg.eigvalsh(root[:, None] * precision * root)
            else:
                spectrum = jnp.ones((dim,))
            eigenvalues = jnp.linalg.eigvalsh(precision)
            kappa = eigenvalues[-1] / eigenvalues[0]
        eta = step_size_scale / jnp.max(spectrum)
        contraction = jnp.max(jnp.abs(1.0 - 2.0 * eta * spectrum)) ** num_steps
        return eta, kappa, contraction

    def optimistic_q(q: Array, h: Array) -> Array:
        """Clip the max over chains (axis -2) to ``[v_lo, v_hi] * (H - h + 1)``."""
        bound = jnp.take(remaining, h)
        return jnp.clip(jnp.max(q, axis=-2), v_lo * bound, v_hi * bound)

    # --- the agent ------------------------------------------------------------
    def init(key: PRNGKey) -> LMCLSVIState:
        del key
        if tabular:
            features = jnp.zeros((num_episodes, horizon), jnp.int32)
            next_features = jnp.zeros((num_episodes, horizon), jnp.int32)
        else:
            features = jnp.zeros((num_episodes, horizon, dim), jnp.float32)
            next_features = jnp.zeros(
                (num_episodes, horizon, num_actions, dim), jnp.float32
            )
        zero = jnp.zeros((), jnp.int32)
        return LMCLSVIState(
            weights=jnp.zeros((horizon, num_chains, dim), jnp.float32),
            features=features,
            next_features=next_features,
            rewards=jnp.zeros((num_episodes, horizon), jnp.float32),
            bootstrap=jnp.zeros((num_episodes, horizon), jnp.float32),
            valid=jnp.zeros((num_episodes, horizon), bool),
            step=zero,
            episode=zero,
            num_nonfinite=zero,
        )

    def act(
        key: PRNGKey, state: LMCLSVIState, obs: ArrayTree
    ) -> tuple[Array, LMCLSVIActInfo]:
        key_tie, key_explore, key_uniform = fast_random.split(key, 3)
        h = jnp.minimum(state.step, horizon - 1)
        q = optimistic_q(q_values(state.weights[h], obs), h)
        tie_break = fast_random.uniform(key_tie, (num_actions,))
        greedy = jnp.argmax(jnp.where(q >= jnp.max(q), tie_break, -1.0))
        uniform = fast_random.randint(key_uniform, (), 0, num_actions)
        explore = fast_random.uniform(key_explore) < epsilon
        action = jnp.where(explore, uniform, greedy).astype(jnp.int32)
        return action, LMCLSVIActInfo(q_values=q)

    def backward_pass(key: PRNGKey, state: LMCLSVIState):
        """Algorithm 1's loop over ``h = H .. 1`` with J warm-started steps."""

        def body(next_weights, inputs):
            h, weights_h, features, next_features, rewards, bootstrap, valid, k = inputs
            next_q = next_q_values(next_weights, next_features)
            next_value = jnp.max(
                optimistic_q(next_q, jnp.minimum(h + 1, horizon - 1)), -1
            )
            next_value = jnp.where(h == horizon - 1, 0.0, next_value)
            targets = rewards + bootstrap * next_value
            precision, shift = regression_stats(features, targets, valid)
            eta, kappa, contraction = step_size_and_spectrum(precision)
            noise = fast_random.normal(k, (num_steps, num_chains, dim))

            def inner(w, xi):
                step = jax.vmap(chain_step, in_axes=(0, 0, None, None, None))
                return step(xi, w, precision, shift, eta), None

            new_weights, _ = jax.lax.scan(inner, weights_h, noise)
            finite = jnp.all(jnp.isfinite(new_weights), axis=-1, keepdims=True)
            new_weights = jnp.where(finite, new_weights, weights_h)
            reverted = jnp.sum(~finite)
            return new_weights, (new_weights, kappa, contraction, reverted)

        xs = (
            jnp.arange(horizon),
            state.weights,
            jnp.swapaxes(state.features, 0, 1),
            jnp.swapaxes(state.next_features, 0, 1),
            state.rewards.T,
            state.bootstrap.T,
            state.valid.T,
            fast_random.split(key, horizon),
        )
        _, (weights, kappa, contraction, reverted) = jax.lax.scan(
            body, state.weights[-1], xs, reverse=True
        )
        state = state._replace(
            weights=weights, num_nonfinite=state.num_nonfinite + jnp.sum(reverted)
        )
        return state, kappa, contraction

    def update(
        key: PRNGKey, state: LMCLSVIState, transition: Transition
    ) -> tuple[LMCLSVIState, LMCLSVIInfo]:
        slot = state.episode % num_episodes
        h = jnp.minimum(state.step, horizon - 1)
        action = jnp.reshape(transition.action, ()).astype(jnp.int32)
        valid = jnp.where(h == 0, jnp.zeros((horizon,), bool), state.valid[slot])
        ended = (
            jnp.asarray(transition.terminated)
            | jnp.asarray(transition.truncated)
            | (h == horizon - 1)
        )
        reward = jnp.reshape(transition.reward, ()).astype(jnp.float32)
        finite = jnp.isfinite(reward)
        if tabular:
            feature = state_fn(transition.obs) * num_actions + action
            next_feature = state_fn(transition.next_obs)
        else:
            feature = feature_fn(transition.obs)[action]
            next_feature = feature_fn(transition.next_obs)
        state = state._replace(
            features=state.features.at[slot, h].set(feature),
            next_features=state.next_features.at[slot, h].set(next_feature),
            rewards=state.rewards.at[slot, h].set(jnp.where(finite, reward, 0.0)),
            bootstrap=state.bootstrap.at[slot, h].set(1.0 - ended),
            valid=state.valid.at[slot].set(valid.at[h].set(finite)),
        )
        nan_info = jnp.full((horizon,), jnp.nan)

        def end_episode(state):
            state, kappa, contraction = backward_pass(key, state)
            state = state._replace(
                step=jnp.zeros_like(state.step), episode=state.episode + 1
            )
            return state, kappa, contraction

        def continue_episode(state):
            return state._replace(step=state.step + 1), nan_info, nan_info

        state, kappa, contraction = jax.lax.cond(
            ended, end_episode, continue_episode, state
        )
        return state, LMCLSVIInfo(
            episode_end=ended,
            condition_number=kappa,
            contraction=contraction,
            num_nonfinite=state.num_nonfinite,
        )

    return Agent(init=init, act=act, update=update)
