"""Average-reward planning and the continuing loop: relative value iteration
against policy enumeration, exact gains, the doubling schedule re-derived in
NumPy, vmap = loop, the PSRL << UCRL2 ordering of Osband et al. (2013)."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesrl.envs import RiverSwim, TabularMDP, random_tabular_mdp_params
from bayesrl.psrl import (
    optimal_gain,
    policy_gain,
    psrl,
    relative_value_iteration,
    run_continuing,
    run_episodes,
    ucrl2,
)


def numpy_gain(transitions, rewards, policy):
    """Gain of a unichain stationary policy: the stationary distribution
    solves mu (P_pi - I) = 0, sum mu = 1 (least squares on the stacked system)."""
    num_states = len(policy)
    chain = transitions[np.arange(num_states), policy]
    system = np.vstack([(chain - np.eye(num_states)).T, np.ones(num_states)])
    target = np.concatenate([np.zeros(num_states), [1.0]])
    mu = np.linalg.lstsq(system, target, rcond=None)[0]
    return mu @ rewards[np.arange(num_states), policy]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relative_value_iteration_finds_the_best_of_all_policies(seed):
    rng = np.random.default_rng(seed)
    num_states, num_actions = 4, 3
    transitions = rng.dirichlet(np.ones(num_states), (num_states, num_actions))
    rewards = rng.uniform(size=(num_states, num_actions))
    gains = {
        policy: numpy_gain(transitions, rewards, np.array(policy))
        for policy in itertools.product(range(num_actions), repeat=num_states)
    }
    best = max(gains.values())
    plan = relative_value_iteration(
        jnp.asarray(transitions, jnp.float32), jnp.asarray(rewards, jnp.float32), 1e-5
    )
    assert bool(plan.converged)
    low, high = np.asarray(plan.gain_bracket)
    assert low - 1e-5 <= best <= high + 1e-5
    assert gains[tuple(np.asarray(plan.policy).tolist())] >= best - 1e-5
    exact = policy_gain(
        jnp.asarray(transitions, jnp.float32),
        jnp.asarray(rewards, jnp.float32),
        plan.policy,
        jnp.full((num_states,), 1.0 / num_states),
    )
    np.testing.assert_allclose(exact, best, atol=1e-5)


def test_policy_gain_is_the_cesaro_average_on_a_periodic_chain():
    # Two states swapped every step: P_pi^n does not converge, the average does.
    transitions = jnp.array([[[0.0, 1.0]], [[1.0, 0.0]]])
    rewards = jnp.array([[1.0], [0.0]])
    gain = policy_gain(
        transitions, rewards, jnp.zeros(2, jnp.int32), jnp.array([1.0, 0])
    )
    np.testing.assert_allclose(gain, 0.5, atol=1e-6)


def test_riverswim_optimal_gain_is_that_of_always_swimming_right():
    env = RiverSwim()
    params = env.default_params
    expected = numpy_gain(
        np.asarray(params.transitions, np.float64),
        np.asarray(params.rewards, np.float64),
        np.ones(6, int),
    )
    np.testing.assert_allclose(optimal_gain(env.model(params)), expected, rtol=1e-5)


def numpy_doubling_starts(states, actions, num_states, num_actions):
    """Episode starts of the doubling rule re-derived from the played pairs."""
    visits = np.zeros((num_states, num_actions), int)
    in_episode = np.zeros_like(visits)
    starts = np.zeros(len(states), bool)
    new_episode = True
    for t, (s, a) in enumerate(zip(states, actions, strict=True)):
        if new_episode:
            starts[t] = True
            visits += in_episode
            in_episode[:] = 0
        in_episode[s, a] += 1
        new_episode = in_episode[s, a] >= max(1, visits[s, a])
    return starts


@functools.partial(jax.jit, static_argnames=("agent", "env", "num_steps", "schedule"))
def run_seeds(keys, agent, env, params, num_steps, schedule="doubling"):
    return jax.vmap(
        lambda k: run_continuing(k, agent, env, params, num_steps, schedule=schedule)
    )(keys)


@pytest.fixture(scope="module")
def riverswim_runs():
    env = RiverSwim()
    params = env.default_params
    keys = jax.random.split(jax.random.key(0), 4)
    agents = {
        "psrl": psrl(env, reward="normal_gamma", criterion="average_reward"),
        "ucrl2": ucrl2(env),
    }
    return (
        env,
        params,
        keys,
        agents,
        {
            name: run_seeds(keys, agent, env, params, 1500)
            for name, agent in agents.items()
        },
    )


def test_doubling_schedule_matches_its_numpy_rederivation(riverswim_runs):
    env, _, _, _, runs = riverswim_runs
    for _, metrics in runs.values():
        for seed in range(metrics.state.shape[0]):
            expected = numpy_doubling_starts(
                np.asarray(metrics.state[seed]),
                np.asarray(metrics.action[seed]),
                env.num_states,
                env.num_actions,
            )
            np.testing.assert_array_equal(metrics.episode_start[seed], expected)
        # Episodes grow: far fewer than steps.
        assert int(metrics.episode_start.sum(1).max()) < 200


def test_regret_is_t_times_gain_minus_the_rewards(riverswim_runs):
    env, params, _, _, runs = riverswim_runs
    rewards = np.asarray(params.rewards)
    for _, metrics in runs.values():
        paid = rewards[np.asarray(metrics.state), np.asarray(metrics.action)]
        np.testing.assert_allclose(metrics.reward, paid)
        gain = np.asarray(metrics.optimal_gain)[:, None]
        np.testing.assert_allclose(metrics.regret, gain - paid, atol=1e-6)


def test_psrl_regret_is_below_ucrl2_on_riverswim_fast(riverswim_runs):
    """Fast version of the psrl2013 ordering: 4 paired seeds x 1500 steps."""
    _, _, _, _, runs = riverswim_runs
    psrl_total = np.asarray(runs["psrl"][1].regret).sum(1)
    ucrl2_total = np.asarray(runs["ucrl2"][1].regret).sum(1)
    assert np.all(ucrl2_total > psrl_total)


def test_vmap_over_seeds_equals_a_loop(riverswim_runs):
    """PSRL (the sampling agent; UCRL2's vmap is covered by check_agent)."""
    env, params, keys, agents, runs = riverswim_runs
    _, batched = runs["psrl"]
    for seed in (0, 3):
        _, single = run_continuing(keys[seed], agents["psrl"], env, params, 1500)
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[seed])


def test_fixed_schedule_starts_every_tau_steps():
    env = TabularMDP(5, 2, 10)
    params = random_tabular_mdp_params(jax.random.key(1), 5, 2)
    agent = psrl(env, criterion="average_reward")
    _, metrics = run_continuing(jax.random.key(2), agent, env, params, 95, schedule=7)
    np.testing.assert_array_equal(
        np.flatnonzero(np.asarray(metrics.episode_start)), np.arange(0, 95, 7)
    )


def test_continuing_inputs_are_checked():
    env = RiverSwim()
    params = env.default_params
    with pytest.raises(ValueError, match="average-reward"):
        run_continuing(jax.random.key(0), psrl(env), env, params, 10)
    agent = ucrl2(env)
    with pytest.raises(ValueError, match="schedule"):
        run_continuing(jax.random.key(0), agent, env, params, 10, schedule="halving")
    with pytest.raises(ValueError, match="num_steps"):
        run_continuing(jax.random.key(0), agent, env, params, 0)
    with pytest.raises(ValueError, match="criterion"):
        psrl(env, criterion="discounted")
    with pytest.raises(ValueError, match="planning_tolerance"):
        psrl(env, criterion="average_reward", planning_tolerance=0.0)


@pytest.mark.slow
def test_psrl2013_ordering_on_riverswim_at_the_paper_sizes():
    """20 paired runs x 10^4 steps, both columns of RiverSwim: UCRL2's total
    regret exceeds PSRL's with a paired 95% t-interval above 0."""
    env = RiverSwim()
    params = env.default_params
    keys = jax.random.split(jax.random.key(5), 20)
    continuing = {
        name: np.asarray(run_seeds(keys, agent, env, params, 10_000)[1].regret).sum(1)
        for name, agent in (
            ("psrl", psrl(env, reward="normal_gamma", criterion="average_reward")),
            ("ucrl2", ucrl2(env)),
        )
    }
    episodic = {
        name: np.asarray(
            jax.jit(
                jax.vmap(
                    lambda k, agent=agent: (
                        run_episodes(k, agent, env, params, 500, model_error=False)[
                            1
                        ].regret
                    )
                )
            )(keys)
        ).sum(1)
        for name, agent in (
            ("psrl", psrl(env, reward="normal_gamma")),
            ("ucrl2", ucrl2(env, criterion="finite_horizon")),
        )
    }
    for totals in (continuing, episodic):
        difference = totals["ucrl2"] - totals["psrl"]
        half = stats.t.ppf(0.975, 19) * difference.std(ddof=1) / np.sqrt(20)
        assert difference.mean() - half > 0
        assert totals["ucrl2"].mean() > 5 * totals["psrl"].mean()
