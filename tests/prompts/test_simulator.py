"""Prompt simulator, DAPO dynamic sampling and the qualitative effects MoPPS must
show on it (``prompts.md`` section 6.4 and section 7.5, items 6-8)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl.envs.prompt_simulator import PromptSimulator
from bayesrl.prompts import mopps
from bayesrl.prompts import stream as candidate_stream
from bayesrl.prompts.dapo import dynamic_sampling
from bayesrl.prompts.simulate import rollouts_to_target, simulate, steps_to_target


def test_simulator_matches_its_formulas():
    sim = PromptSimulator(num_prompts=50, num_test=40, num_rollouts=8)
    params = sim.sample_params(jax.random.key(0))
    state = sim.init(params)
    a, b = np.asarray(params.discrimination), np.asarray(params.difficulty)
    ids = jnp.asarray([3, 7, 7, 10])
    successes = jnp.asarray([0, 4, 6, 8])
    mask = jnp.asarray([True, True, True, False])
    new = sim.learn(state, params, ids, successes, mask)
    signal = np.array([0, 4 * 4, 6 * 2, 0]) / 64.0
    expected_ability = 0.0 + 0.006 * 4 * np.sum(a[[3, 7, 7, 10]] * signal) / 3
    assert float(new.ability) == pytest.approx(expected_ability, rel=1e-5)
    expected_u = np.zeros(50)
    expected_u[7] = 0.3 * (signal[1] + signal[2])
    np.testing.assert_allclose(np.asarray(new.memorisation), expected_u, rtol=1e-5)
    gamma = 1 / (1 + np.exp(-a * (float(new.ability) + expected_u - b)))
    np.testing.assert_allclose(
        np.asarray(sim.true_success(new, params, jnp.arange(50))), gamma, rtol=1e-5
    )
    heldout = np.mean(
        1
        / (
            1
            + np.exp(
                -np.asarray(params.test_discrimination)
                * (float(new.ability) - np.asarray(params.test_difficulty))
            )
        )
    )
    assert float(sim.heldout_accuracy(new, params)) == pytest.approx(heldout, rel=1e-5)
    # Binomial(8, gamma) rollouts: mean within 5 standard errors.
    draws = jax.jit(jax.vmap(lambda k: sim.rollout(k, new, params, jnp.arange(50))))(
        jax.random.split(jax.random.key(1), 4000)
    )
    standard_error = np.sqrt(8 * gamma * (1 - gamma) / 4000)
    assert np.all(
        np.abs(np.asarray(draws).mean(0) - 8 * gamma) < 5 * standard_error + 1e-6
    )


def test_dynamic_sampling_keeps_informative_groups_in_stream_order():
    num_prompts, batch, k = 90, 10, 8
    stream = candidate_stream.init(jax.random.key(0), num_prompts)
    order = np.asarray(
        candidate_stream.permute(
            stream.round_keys, jnp.arange(num_prompts), num_prompts
        )
    )

    def rollout_fn(key, ids):  # deterministic: degenerate iff id % 9 in {0, 8}
        return ids % (k + 1)

    result, _ = jax.jit(
        lambda key, s: dynamic_sampling(
            key, s, rollout_fn, num_prompts, batch, k, max_batches=8
        )
    )(jax.random.key(1), stream)
    informative = order[(order % 9 != 0) & (order % 9 != 8)]
    np.testing.assert_array_equal(np.asarray(result.ids), informative[:batch])
    assert bool(jnp.all(result.mask))
    position = np.flatnonzero(order == informative[batch - 1])[0]
    assert int(result.num_generated) == batch * (position // batch + 1)
    assert int(result.num_degenerate) == np.sum(
        np.isin(order[: int(result.num_generated)] % 9, (0, 8))
    )

    def all_degenerate(key, ids):
        return jnp.zeros_like(ids)

    capped, _ = dynamic_sampling(
        jax.random.key(2), stream, all_degenerate, num_prompts, batch, k, 3
    )
    assert int(capped.num_generated) == 3 * batch and not bool(jnp.any(capped.mask))


def effects(num_prompts, num_test, batch, steps, seeds, target, warmup):
    sim = PromptSimulator(num_prompts, num_test, 8)
    agents = {
        "mopps": mopps(num_prompts, batch, candidate_multiplier=8),
        "mopps_decay": mopps(
            num_prompts, batch, candidate_multiplier=8, time_discount=0.99
        ),
    }

    def run(method, agent_name, seed):
        key = jax.random.key(seed)
        params = sim.sample_params(jax.random.fold_in(key, 1))
        return simulate(
            jax.random.fold_in(key, 2),
            sim,
            params,
            method,
            steps,
            batch,
            agent=agents.get(agent_name),
            max_batches=8,
        )

    out = {}
    for name, method in (
        ("uniform", "uniform"),
        ("mopps", "mopps"),
        ("mopps_decay", "mopps"),
        ("dapo", "dapo"),
    ):
        metrics = jax.jit(
            lambda s, m=method, n=name: jax.lax.map(lambda x: run(m, n, x), s)
        )(jnp.arange(seeds))
        rho = np.asarray(metrics.rho_candidates)[:, warmup:]
        rho_mopps = np.asarray(metrics.rho_selected_mopps)[:, warmup:]
        out[name] = dict(
            zero_variance=float(np.mean(np.asarray(metrics.zero_variance_fraction))),
            steps=np.asarray(steps_to_target(metrics.heldout_accuracy, target)),
            rollouts=np.asarray(
                rollouts_to_target(metrics.heldout_accuracy, metrics.rollouts, target)
            ),
            bias=float(
                np.mean(np.asarray(metrics.mean_true_success)[:, warmup:]) - 0.5
            ),
            rho_candidates=float(np.mean(rho)) if method == "mopps" else None,
            rho_mopps=float(np.mean(rho_mopps)) if method == "mopps" else None,
        )
    return out


def check_effects(out, rho_floor, steps_ok=True):
    # 1. MoPPS cuts the zero-variance fraction at identical rollouts.
    assert out["mopps"]["zero_variance"] <= 0.7 * out["uniform"]["zero_variance"]
    # 2. fewer steps than Uniform, fewer rollouts than DS, to the target.
    assert np.all(np.isfinite(out["mopps"]["rollouts"]))
    assert out["mopps"]["steps"].mean() < out["uniform"]["steps"].mean()
    assert out["mopps"]["rollouts"].mean() < out["dapo"]["rollouts"].mean()
    # 3. DS trains on no degenerate group and needs the fewest steps.
    assert out["dapo"]["zero_variance"] == 0.0
    if steps_ok:
        assert out["dapo"]["steps"].mean() <= out["mopps"]["steps"].mean()
    # 4. the posterior predicts; the official sign convention is negative-good.
    assert out["mopps"]["rho_candidates"] > rho_floor
    assert out["mopps"]["rho_mopps"] < 0
    # 8. time decay must not increase the stale-posterior bias.
    assert out["mopps_decay"]["bias"] <= out["mopps"]["bias"] + 0.01


def test_simulator_effects_fast():
    out = effects(4000, 500, 64, 120, seeds=2, target=0.38, warmup=20)
    check_effects(out, rho_floor=0.6)


@pytest.mark.slow
def test_simulator_effects_section_6_defaults():
    # Warm-up: a prompt is a candidate about once per N / B_hat ~ 10 steps and
    # trained once per N / B ~ 80 steps, so posteriors are informative after ~100.
    out = effects(20_000, 5_000, 256, 300, seeds=3, target=0.38, warmup=100)
    check_effects(out, rho_floor=0.8)
    # 5. stale-posterior bias: selected prompts sit above the target.
    assert out["mopps"]["bias"] > 0
