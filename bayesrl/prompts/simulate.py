"""One ``lax.scan`` loop that trains the simulated policy under a prompt-selection
method: Uniform, MoPPS, DAPO dynamic sampling, or
the Oracle, all reading the same kind of epoch-permutation candidate stream.

* ``"uniform"``: train on the next ``B`` prompts of the stream.
* ``"mopps"``: the agent selects ``B`` of the next ``B_hat`` candidates; every
  trained group updates the posterior (degenerate ones included).
* ``"dapo"``: :func:`bayesrl.prompts.dapo.dynamic_sampling` with
  ``max_batches`` batches of ``B`` at most; trains on the kept groups.
* ``"oracle"``: the ``B`` of the next ``B_hat`` candidates whose *true*
  success is closest to the target (what MoPPS would do with a perfect model).

Per step (:class:`SimulationMetrics`): held-out accuracy after the step,
rollouts used, the zero-variance fraction of trained (and generated) groups,
the mean true success of trained prompts, and for MoPPS
``rho_candidates`` = Spearman(posterior mean, true success) over the candidates,
``rho_selected`` = Spearman(posterior mean, empirical success) over the
selected, and the official ``rho_selected_mopps`` = Spearman(draw,
-empirical success) over the selected (negative = predictive).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl.base import Agent
from bayesrl.envs.prompt_simulator import PromptSimulator, PromptSimulatorParams
from bayesrl.prompts import stream as candidate_stream
from bayesrl.prompts._metrics import spearman
from bayesrl.prompts.dapo import dynamic_sampling
from bayesrl.prompts.mopps import advance_stream, describe
from bayesrl.prompts.mopps import select as mopps_select
from bayesrl.prompts.mopps import update as mopps_update
from bayesrl.types import PRNGKey

METHODS = ("uniform", "mopps", "dapo", "oracle")


class SimulationMetrics(NamedTuple):
    """Per-step metrics, each ``[num_steps]`` after :func:`simulate`."""

    heldout_accuracy: jax.Array
    rollouts: jax.Array
    zero_variance_fraction: jax.Array
    generated_zero_variance_fraction: jax.Array
    mean_true_success: jax.Array
    rho_candidates: jax.Array
    rho_selected: jax.Array
    rho_selected_mopps: jax.Array


def _nan():
    return jnp.full((), jnp.nan, jnp.float32)


def simulate(
    key: PRNGKey,
    simulator: PromptSimulator,
    params: PromptSimulatorParams,
    method: str,
    num_steps: int,
    batch_size: int,
    *,
    agent: Agent | None = None,
    num_candidates: int | None = None,
    max_batches: int = 8,
    target: float = 0.5,
) -> SimulationMetrics:
    """Train the simulated policy for ``num_steps`` steps under ``method``.

    Args:
        key: a typed key.
        simulator: the environment (its ``num_rollouts`` is ``k``).
        params: the simulated task.
        method: one of ``"uniform"``, ``"mopps"``, ``"dapo"``, ``"oracle"``.
        num_steps: T (static).
        batch_size: B, trained prompts per step (static).
        agent: a :func:`bayesrl.prompts.mopps` agent (``"mopps"`` only; its
            ``batch_size`` must be B).
        num_candidates: ``B_hat`` of ``"oracle"``.
        max_batches: DS cap on generated batches per step.
        target: the oracle's target success rate.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    k = simulator.num_rollouts
    key_stream, key_agent, key_steps = fast_random.split(key, 3)
    sim_state = simulator.init(params)

    if method == "mopps":
        if agent is None:
            raise ValueError('method "mopps" needs agent=bayesrl.prompts.mopps(...)')
        config, mopps_params = describe(agent)
        if config.num_select != batch_size:
            raise ValueError(
                f"the agent selects {config.num_select} prompts, not {batch_size}"
            )
        selector_state = agent.init(key_agent)
    else:
        selector_state = candidate_stream.init(key_stream, simulator.num_prompts)
    chunk = batch_size if method in ("uniform", "dapo") else num_candidates
    if method == "oracle" and num_candidates is None:
        raise ValueError('method "oracle" needs num_candidates')

    def degenerate(successes):
        return (successes == 0) | (successes == k)

    def train(key_rollout, sim_state, ids):
        successes = simulator.rollout(key_rollout, sim_state, params, ids)
        true = simulator.true_success(sim_state, params, ids)
        sim_state = simulator.learn(
            sim_state, params, ids, successes, jnp.ones(ids.shape, bool)
        )
        return sim_state, successes, true

    def step(carry, step_key):
        sim_state, selector_state = carry
        key_select, key_rollout, key_advance = fast_random.split(step_key, 3)
        rho_candidates = rho_selected = rho_mopps = _nan()
        generated_zero_variance = _nan()
        if method == "mopps":
            ids, info = mopps_select(
                key_select,
                selector_state,
                mopps_params,
                num_select=batch_size,
                num_candidates=config.num_candidates,
                strategy=config.strategy,
                shapes_at_least_one=config.shapes_at_least_one,
                time_decay=config.time_decay,
            )
            sim_before = sim_state
            sim_state, successes, true = train(key_rollout, sim_state, ids)
            selector_state, _ = mopps_update(
                selector_state,
                ids,
                successes,
                jnp.full(ids.shape, k),
                jnp.ones(ids.shape, bool),
                mopps_params,
            )
            selector_state = advance_stream(
                key_advance, selector_state, config.num_candidates
            )
            empirical = successes / k
            candidate_truth = simulator.true_success(
                sim_before, params, info.candidates
            )
            rho_candidates = spearman(info.posterior_mean, candidate_truth)
            rho_selected = spearman(info.selected_posterior_mean, empirical)
            rho_mopps = spearman(info.selected_draws, -empirical)
            trained_degenerate = degenerate(successes)
            mask = jnp.ones(ids.shape, bool)
            rollouts = batch_size * k
        elif method == "dapo":

            def rollout_fn(key, ids):
                return simulator.rollout(key, sim_state, params, ids)

            result, selector_state = dynamic_sampling(
                key_select,
                selector_state,
                rollout_fn,
                simulator.num_prompts,
                batch_size,
                k,
                max_batches,
            )
            ids, successes, mask = result.ids, result.successes, result.mask
            true = simulator.true_success(sim_state, params, ids)
            sim_state = simulator.learn(sim_state, params, ids, successes, mask)
            trained_degenerate = degenerate(successes)
            rollouts = result.num_generated * k
            generated_zero_variance = result.num_degenerate / result.num_generated
        else:
            candidates = candidate_stream.peek(
                selector_state, chunk, simulator.num_prompts
            )
            if method == "uniform":
                ids = candidates
            else:
                truth = simulator.true_success(sim_state, params, candidates)
                _, positions = jax.lax.top_k(-jnp.abs(truth - target), batch_size)
                ids = candidates[positions]
            selector_state = candidate_stream.advance(
                key_advance, selector_state, chunk, simulator.num_prompts
            )
            sim_state, successes, true = train(key_rollout, sim_state, ids)
            trained_degenerate = degenerate(successes)
            mask = jnp.ones(ids.shape, bool)
            rollouts = batch_size * k
        count = jnp.maximum(jnp.sum(mask), 1)
        metrics = SimulationMetrics(
            heldout_accuracy=simulator.heldout_accuracy(sim_state, params),
            rollouts=jnp.asarray(rollouts, jnp.int32),
            zero_variance_fraction=jnp.sum(mask & trained_degenerate) / count,
            generated_zero_variance_fraction=jnp.asarray(
                generated_zero_variance, jnp.float32
            ),
            mean_true_success=jnp.sum(jnp.where(mask, true, 0.0)) / count,
            rho_candidates=jnp.asarray(rho_candidates, jnp.float32),
            rho_selected=jnp.asarray(rho_selected, jnp.float32),
            rho_selected_mopps=jnp.asarray(rho_mopps, jnp.float32),
        )
        return (sim_state, selector_state), metrics

    keys = fast_random.split(key_steps, num_steps)
    _, metrics = jax.lax.scan(step, (sim_state, selector_state), keys)
    return metrics


def steps_to_target(accuracy: jax.Array, target: float) -> jax.Array:
    """1-based first step whose held-out accuracy reaches ``target``; ``T + 1``
    when never reached (works on ``[..., T]``)."""
    reached = accuracy >= target
    num_steps = accuracy.shape[-1]
    first = jnp.argmax(reached, axis=-1) + 1
    return jnp.where(jnp.any(reached, axis=-1), first, num_steps + 1)


def rollouts_to_target(
    accuracy: jax.Array, rollouts: jax.Array, target: float
) -> jax.Array:
    """Cumulative rollouts at :func:`steps_to_target` (inf when never reached)."""
    steps = steps_to_target(accuracy, target)
    cumulative = jnp.cumsum(rollouts.astype(jnp.float32), axis=-1)
    index = jnp.minimum(steps - 1, accuracy.shape[-1] - 1)
    at = jnp.take_along_axis(cumulative, index[..., None], axis=-1)[..., 0]
    return jnp.where(steps <= accuracy.shape[-1], at, jnp.inf)
