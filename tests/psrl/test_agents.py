"""PSRL, F-PSRL and C-PSRL agents: reductions, vmap, compilation, regret, errors."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import bayesrl
from bayesrl.envs import (
    FactoredMDP,
    RiverSwim,
    Taxi,
    random_factored_mdp,
    random_factored_mdp_params,
)
from bayesrl.psrl import cpsrl, fpsrl, psrl, run_episodes
from bayesrl.psrl.planning import policy_value
from bayesrl.testing import check_agent, tabular_transition

NUM_EPISODES = 50


@functools.partial(jax.jit, static_argnames=("agent", "env", "num_episodes"))
def run_seeds(keys, agent, env, params, num_episodes):
    """``run_episodes`` vmapped over keys (one compilation per agent)."""
    return jax.vmap(lambda k: run_episodes(k, agent, env, params, num_episodes))(keys)


@functools.partial(jax.jit, static_argnames=("env",))
@chex.assert_max_traces(n=1)
def cpsrl_experiment(key, known_parents, alpha, params, env):
    """C-PSRL (Z = 3); G0, alpha and the instance are data (no retrace)."""
    agent = cpsrl(env, known_parents, 3, prior_alpha=alpha, reward=params.rewards)
    return run_episodes(key, agent, env, params, NUM_EPISODES)[1]


@pytest.fixture(scope="module")
def instance():
    """d_Y = 4 binary state factors, 2 binary action factors, |z*| = 3."""
    return random_factored_mdp(jax.random.key(7), 4, 2, max_parents=3, horizon=6)


@pytest.fixture(scope="module")
def full_graph_agents(instance):
    env, params = instance
    known = np.asarray(params.parents)
    causal = cpsrl(env, known, 3, reward=params.rewards)
    factored = fpsrl(env, known, reward=params.rewards)
    return causal, factored


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_cpsrl_with_the_full_graph_is_fpsrl(instance, full_graph_agents):
    env, params = instance
    causal, factored = full_graph_agents
    key = jax.random.key(3)
    state_c, metrics_c = run_episodes(key, causal, env, params, NUM_EPISODES)
    state_f, metrics_f = run_episodes(key, factored, env, params, NUM_EPISODES)
    # Bit for bit in regrets, values, returns, graphs, policies, models and
    # counts. The l1 error is a float reduction over identical models that XLA
    # may order differently in the two programs: equal to 1 ulp.
    _assert_trees_equal(
        metrics_c._replace(model_l1_error=None), metrics_f._replace(model_l1_error=None)
    )
    np.testing.assert_allclose(
        metrics_c.model_l1_error, metrics_f.model_l1_error, rtol=1e-6
    )
    assert float(metrics_c.regret.sum()) > 0.0
    np.testing.assert_array_equal(state_c.policy, state_f.policy)
    np.testing.assert_array_equal(state_c.cpts, state_f.cpts)
    np.testing.assert_array_equal(
        causal.transition_model(state_c), factored.transition_model(state_f)
    )
    node = jnp.arange(4)
    np.testing.assert_array_equal(
        state_c.counts[node, state_c.graph], state_f.counts[:, 0]
    )
    np.testing.assert_array_equal(metrics_c.sampled_parents[-1], params.parents)


def test_fpsrl_with_one_flat_factor_each_side_is_psrl():
    env = FactoredMDP((6,), (3,), 5, 2)
    params = random_factored_mdp_params(jax.random.key(2), env)
    key = jax.random.key(4)
    # Known rewards (reward learning is covered by the generic-runner test).
    flat = psrl(env, prior_alpha=0.3, reward=params.rewards)
    factored = fpsrl(env, np.array([[0, 1]]), params.rewards, prior_alpha=0.3)
    state_p, metrics_p = run_episodes(key, flat, env, params, NUM_EPISODES)
    state_f, metrics_f = run_episodes(key, factored, env, params, NUM_EPISODES)
    _assert_trees_equal(metrics_p.regret, metrics_f.regret)
    np.testing.assert_allclose(
        metrics_p.model_l1_error, metrics_f.model_l1_error, rtol=1e-6
    )
    _assert_trees_equal(
        (state_p.counts, state_p.policy, state_p.cpts),
        (state_f.counts, state_f.policy, state_f.cpts),
    )


@pytest.mark.slow
def test_factored_planner_gives_the_dense_planner_trajectory(instance):
    """C-PSRL (eta = 1, Z = 3) planning factor by factor: the same plans, hence
    the same regrets, graphs and counts as building the dense model; the dense
    sampled model's rows sum to 1. (Slow, about 20 s; the default suite keeps
    the factored-vs-dense contraction and backward-induction tests of
    test_psrl_planning.py.)"""
    env, params = instance
    known = np.asarray(params.parents)[:, :1]
    key = jax.random.key(5)
    runs = {}
    for planner in ("dense", "factored"):
        agent = cpsrl(env, known, 3, reward=params.rewards, planner=planner)
        runs[planner] = run_episodes(key, agent, env, params, NUM_EPISODES)
    (state_d, metrics_d), (state_f, metrics_f) = runs["dense"], runs["factored"]
    _assert_trees_equal(
        (metrics_d.regret, metrics_d.sampled_parents, state_d.counts),
        (metrics_f.regret, metrics_f.sampled_parents, state_f.counts),
    )
    np.testing.assert_array_equal(state_d.policy, state_f.policy)
    assert float(metrics_d.regret.sum()) > 0.0
    dense_model = agent.transition_model(state_f)
    np.testing.assert_allclose(dense_model.sum(-1), 1.0, atol=1e-5)


def test_vmap_over_seeds_equals_a_loop(instance, full_graph_agents):
    env, params = instance
    causal, _ = full_graph_agents
    keys = jax.random.split(jax.random.key(9), 4)
    batched = run_seeds(keys, causal, env, params, NUM_EPISODES)
    for i, key in enumerate(keys):
        single = run_episodes(key, causal, env, params, NUM_EPISODES)
        for x, y in zip(jax.tree.leaves(single), jax.tree.leaves(batched), strict=True):
            if jnp.issubdtype(x.dtype, jnp.integer):
                np.testing.assert_array_equal(x, y[i])
            else:
                np.testing.assert_allclose(x, y[i], atol=1e-5)


def test_psrl_regret_exceeds_cpsrl_regret_fast(instance, full_graph_agents):
    """Fast version of the slow orderings: 4 paired seeds x 50 episodes."""
    env, params = instance
    causal, _ = full_graph_agents
    keys = jax.random.split(jax.random.key(9), 4)
    flat = psrl(env, 1.0 / env.num_states, params.rewards)
    causal_total = run_seeds(keys, causal, env, params, NUM_EPISODES)[1].regret
    flat_total = run_seeds(keys, flat, env, params, NUM_EPISODES)[1].regret
    causal_total, flat_total = causal_total.sum(1), flat_total.sum(1)
    assert bool(jnp.all(flat_total > causal_total))
    diff = np.asarray(flat_total - causal_total)
    half = stats.t.ppf(0.975, 3) * diff.std(ddof=1) / 2.0
    assert diff.mean() - half > 0


def test_one_compilation_while_key_g0_alpha_and_instance_change(instance):
    env, _ = instance
    for i, eta in enumerate((0, 1, 2)):
        known = np.full((4, 3), -1)
        known[:, :eta] = np.arange(eta)
        metrics = cpsrl_experiment(
            jax.random.key(i),
            jnp.asarray(known),
            0.5 + i,
            random_factored_mdp_params(jax.random.key(10 + i), env),
            env,
        )
        assert metrics.regret.shape == (NUM_EPISODES,)
        assert bool(jnp.all(jnp.isfinite(metrics.regret)))


def _monte_carlo_value(env, params, policy, num_rollouts, key):
    """Mean and standard error of the return of ``policy`` over rollouts."""

    def rollout(k):
        k_reset, k_steps = jax.random.split(k)
        _, state = env.reset_env(k_reset, params)

        def step(carry, k_step):
            state, alive, total = carry
            action = policy[state.time, state.state]
            _, state, reward, terminated, _ = env.step_env(
                k_step, state, action, params
            )
            total = total + jnp.where(alive, reward, 0.0)
            return (state, alive & ~terminated, total), None

        carry = (state, jnp.ones((), bool), jnp.zeros(()))
        return jax.lax.scan(step, carry, jax.random.split(k_steps, env.horizon))[0][2]

    returns = jax.jit(jax.vmap(rollout))(jax.random.split(key, num_rollouts))
    return float(returns.mean()), float(returns.std() / np.sqrt(num_rollouts))


@pytest.mark.parametrize("which", ["random_fmdp", "taxi"])
def test_exact_policy_value_matches_monte_carlo_within_3_se(which, instance, key):
    if which == "taxi":
        env = Taxi()
        params = env.default_params
    else:
        env, params = instance
    policy = jax.random.randint(key, (env.horizon, env.num_states), 0, env.num_actions)
    exact = float(policy_value(env.model(params), policy))
    mean, se = _monte_carlo_value(env, params, policy, 10_000, jax.random.key(1))
    assert se > 0
    assert abs(mean - exact) < 3 * se


def test_wrong_known_edge_is_kept_and_the_agent_still_runs(instance):
    """|z*_0| = Z = 3 and G0 holds a non-parent of node 0: z*_0 is not in Z_0."""
    env, _ = instance
    params = random_factored_mdp_params(jax.random.key(21), env)
    true = np.asarray(params.parents)
    wrong = int(np.setdiff1d(np.arange(6), true[0])[0])
    known = np.full((4, 3), -1)
    known[0, 0] = wrong
    metrics = cpsrl_experiment(jax.random.key(0), jnp.asarray(known), 1.0, params, env)
    assert bool(jnp.all(jnp.any(metrics.sampled_parents[:, 0] == wrong, axis=-1)))
    assert bool(jnp.all(jnp.isfinite(metrics.regret)))
    # Node 0 can never be modelled exactly: the model error stays away from 0.
    assert float(metrics.model_l1_error[-10:].min()) > 0.05


def test_generic_runner_uses_update_and_replans_each_episode():
    env = RiverSwim(horizon=10)
    agent = psrl(env)
    state, metrics = bayesrl.run(jax.random.key(0), agent, env, env.default_params, 100)
    assert int(state.episode) == 10
    # The transition that ends an episode carries gymnax's reset observation, so
    # only its reward is counted.
    assert int(state.counts.sum()) == 100 - 10
    assert float(state.reward_posterior.sum()) == pytest.approx(
        2 * env.num_states * 2 + 100
    )
    assert metrics.action.shape == (100,)


def test_cpsrl_satisfies_the_agent_contract_on_a_small_instance():
    """The fast sibling of the slow contract test below: check_agent on C-PSRL
    (learned reward, one known parent per factor) on a 2-factor binary FMDP,
    without the op-by-op init (seconds of eager planning), which the slow test
    keeps along with PSRL and F-PSRL (about 8 s per agent even so)."""
    env, params = random_factored_mdp(jax.random.key(3), 2, 1, max_parents=2, horizon=3)
    parents = np.asarray(params.parents)
    check_agent(
        cpsrl(env, parents[:, :1], 2),
        jnp.int32(1),
        tabular_transition(1, 1, 2, 0.5),
        eager_init=False,
    )


@pytest.mark.slow  # about 10-20 s per check_agent call (eager init, compiles)
@pytest.mark.parametrize("reward", [None, "normal_gamma"])
def test_psrl_family_satisfies_the_agent_contract(instance, reward):
    """check_agent on PSRL (both criteria), F-PSRL and C-PSRL with learned
    rewards (Beta or Normal-Gamma): jitted init equals eager init (to a few
    float eps, see ``bayesrl.testing.JIT_EAGER_EPS``), act is read-only and
    deterministic, update keeps shapes and does not recompile, vmap = loop."""
    river = RiverSwim()
    for criterion in ("finite_horizon", "average_reward"):
        agent = psrl(river, reward=reward, criterion=criterion)
        check_agent(agent, jnp.int32(2), tabular_transition(2, 1, 3, 0.5))
    env, _ = instance
    parents = np.asarray(instance[1].parents)
    for agent in (
        fpsrl(env, parents, reward),
        cpsrl(env, parents[:, :1], 3, reward=reward),
    ):
        check_agent(agent, jnp.int32(5), tabular_transition(5, 2, 9, 0.5))


def test_forbidden_parents_confine_the_sampled_graph(instance):
    """Forbidding every input outside the true parent sets leaves C-PSRL only
    subsets of the truth to sample (G0 empty, Z = 3)."""
    env, params = instance
    true_parents = np.asarray(params.parents)
    num_inputs = len(env.input_sizes)
    forbidden = np.full((true_parents.shape[0], num_inputs), -1)
    for j, row in enumerate(true_parents):
        outside = [i for i in range(num_inputs) if i not in set(row[row >= 0])]
        forbidden[j, : len(outside)] = outside
    agent = cpsrl(
        env,
        np.full((true_parents.shape[0], 1), -1),
        3,
        reward=params.rewards,
        forbidden_parents=forbidden,
    )
    state, metrics = run_episodes(jax.random.key(3), agent, env, params, 5)
    assert bool(jnp.all(jnp.isfinite(metrics.regret)))
    for j, row in enumerate(true_parents):
        sampled = np.asarray(state.sampled_parents[j])
        assert set(sampled[sampled >= 0].tolist()) <= set(row[row >= 0].tolist())


def test_invalid_inputs_raise_clear_errors(instance):
    env, params = instance
    with pytest.raises(ValueError, match="known_parents"):
        cpsrl(env, np.array([[0, 1, 2, 3]] * 4), 3)
    with pytest.raises(ValueError, match="known_parents"):
        cpsrl(env, np.array([[0, 9]] * 4), 3)
    with pytest.raises(ValueError, match="known_parents"):
        cpsrl(env, np.array([[0, 1]] * 3), 3)
    with pytest.raises(ValueError, match="max_parents"):
        cpsrl(env, np.full((4, 1), -1), 7)
    with pytest.raises(ValueError, match="planner"):
        cpsrl(env, np.full((4, 1), -1), 3, planner="sparse")
    with pytest.raises(ValueError, match="hyperprior"):
        cpsrl(env, np.full((4, 1), -1), 2, hyperprior="flat")
    with pytest.raises(ValueError, match="prior_alpha"):
        cpsrl(env, np.full((4, 1), -1), 2, prior_alpha=0.0)
    with pytest.raises(ValueError, match="known and forbidden"):
        cpsrl(env, np.array([[0, -1]] * 4), 3, forbidden_parents=np.array([[0]] * 4))
    with pytest.raises(ValueError, match="forbidden_parents"):
        cpsrl(env, np.full((4, 1), -1), 3, forbidden_parents=np.array([[9]] * 4))
    with pytest.raises(ValueError, match="parents"):
        fpsrl(env, np.array([[0, 0]] * 4))
    with pytest.raises(ValueError, match="reward"):
        psrl(env, reward=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="env"):
        cpsrl(RiverSwim(), np.full((1, 1), -1), 1)
