"""Planning: backward induction vs brute force, evaluation, factored contraction."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl.envs import TabularModel, Taxi, random_factored_mdp
from bayesrl.psrl import (
    backward_induction,
    expected_regret,
    factored_backward_induction,
    factored_expected_next_value,
    model_l1_error,
    policy_evaluation,
)


def _random_model(seed, num_states, num_actions, terminate=False):
    """A random model drawn with NumPy (no JAX sampler to compile)."""
    rng = np.random.default_rng(seed)
    transitions = rng.dirichlet(np.ones(num_states), (num_states, num_actions))
    rewards = rng.uniform(size=(num_states, num_actions))
    termination = (
        rng.uniform(size=(num_states, num_actions)) < 0.3
        if terminate
        else np.zeros((num_states, num_actions))
    )
    return (
        jnp.asarray(transitions, jnp.float32),
        jnp.asarray(rewards, jnp.float32),
        jnp.asarray(termination, jnp.float32),
    )


def _numpy_value(transitions, rewards, termination, policy):
    """Plain float64 recursion for one non-stationary policy."""
    p, r, t = (np.asarray(a, np.float64) for a in (transitions, rewards, termination))
    horizon, num_states = policy.shape
    values = np.zeros(num_states)
    for h in reversed(range(horizon)):
        a = policy[h]
        s = np.arange(num_states)
        values = r[s, a] + (1 - t[s, a]) * (p[s, a] @ values)
    return values


def test_backward_induction_equals_brute_force():
    """All (2^3)^3 = 512 deterministic non-stationary policies, 3 states, H = 3."""
    transitions, rewards, termination = _random_model(0, 3, 2, terminate=True)
    plan = backward_induction(transitions, rewards, termination, 3)
    best = np.full(3, -np.inf)
    for flat in itertools.product(range(2), repeat=9):
        policy = np.array(flat).reshape(3, 3)
        best = np.maximum(best, _numpy_value(transitions, rewards, termination, policy))
    np.testing.assert_allclose(plan.values[0], best, rtol=1e-5)
    np.testing.assert_allclose(plan.values[-1], 0.0)
    greedy = _numpy_value(transitions, rewards, termination, np.asarray(plan.policy))
    np.testing.assert_allclose(greedy, best, rtol=1e-5)


def test_policy_evaluation_and_regret(key):
    transitions, rewards, termination = _random_model(1, 5, 3, terminate=True)
    policy = jax.random.randint(key, (4, 5), 0, 3)
    values = policy_evaluation(transitions, rewards, termination, policy)
    np.testing.assert_allclose(
        values[0],
        _numpy_value(transitions, rewards, termination, np.asarray(policy)),
        rtol=1e-5,
    )
    rho = jnp.full((5,), 0.2)
    model = TabularModel(transitions, rewards, termination, rho)
    plan = backward_induction(transitions, rewards, termination, 4)
    assert abs(float(expected_regret(model, plan.policy))) < 1e-6
    regret = float(expected_regret(model, policy))
    assert regret > 0.0
    np.testing.assert_allclose(
        regret, float(rho @ (plan.values[0] - values[0])), rtol=1e-5
    )


def test_ties_go_to_the_lowest_action():
    transitions = jnp.ones((2, 3, 2)) / 2
    plan = backward_induction(transitions, jnp.ones((2, 3)), jnp.zeros((2, 3)), 2)
    assert bool(jnp.all(plan.policy == 0))


def _random_factored_model(seed, state_sizes, num_actions, num_configurations):
    """Random CPTs [d_Y, U, N] (padded values 0) and configurations [S, A, d_Y]."""
    rng = np.random.default_rng(seed)
    num_values = max(state_sizes)
    cpts = np.zeros((len(state_sizes), num_configurations, num_values))
    for j, b in enumerate(state_sizes):
        cpts[j, :, :b] = rng.dirichlet(np.ones(b), num_configurations)
    num_states = int(np.prod(state_sizes))
    configs = rng.integers(0, num_configurations, (num_states, num_actions, 3))
    return jnp.asarray(cpts, jnp.float32), jnp.asarray(configs, jnp.int32)


def _numpy_dense(cpts, configs, state_sizes):
    """Float64 P[s, a, s'] = prod_j cpts[j, configs[s, a, j], s'_j]."""
    cpts, configs = np.asarray(cpts, np.float64), np.asarray(configs)
    grids = np.meshgrid(*[np.arange(b) for b in state_sizes], indexing="ij")
    next_factors = np.stack([g.ravel() for g in grids], -1)  # [S', d_Y]
    dense = np.ones(configs.shape[:2] + (len(next_factors),))
    for j in range(len(state_sizes)):
        dense *= cpts[j][configs[..., j][..., None], next_factors[:, j]]
    return dense


def test_factored_contraction_equals_dense():
    """Spec 5.8 item 6: the dense P equals the factor-by-factor contraction
    (1e-6 relative to |V|), and its rows sum to 1."""
    sizes = (2, 3, 2)
    cpts, configs = _random_factored_model(3, sizes, 4, 5)
    dense = _numpy_dense(cpts, configs, sizes)
    np.testing.assert_allclose(dense.sum(-1), 1.0, atol=1e-6)
    values = jnp.asarray(np.random.default_rng(4).normal(size=12), jnp.float32)
    contracted = factored_expected_next_value(
        cpts, configs.reshape(-1, 3), values, sizes
    )
    np.testing.assert_allclose(
        contracted, (dense @ np.asarray(values, np.float64)).ravel(), atol=1e-6
    )


def test_factored_backward_induction_equals_dense_backward_induction():
    sizes = (3, 2, 4)
    cpts, configs = _random_factored_model(5, sizes, 3, 6)
    rng = np.random.default_rng(6)
    rewards = jnp.asarray(rng.uniform(size=(24, 3)), jnp.float32)
    termination = jnp.asarray(rng.uniform(size=(24, 3)) < 0.2, jnp.float32)
    dense = jnp.asarray(_numpy_dense(cpts, configs, sizes), jnp.float32)
    expected = backward_induction(dense, rewards, termination, 5)
    plan = factored_backward_induction(cpts, configs, sizes, rewards, termination, 5)
    np.testing.assert_array_equal(plan.policy, expected.policy)
    np.testing.assert_allclose(plan.values, expected.values, rtol=1e-5)
    np.testing.assert_allclose(plan.q_values, expected.q_values, rtol=1e-5)


def test_dense_model_rows_sum_to_one_and_taxi_is_deterministic():
    env, params = random_factored_mdp(jax.random.key(2), 4, 2, max_parents=3)
    model = env.model(params)
    np.testing.assert_allclose(model.transitions.sum(-1), 1.0, atol=1e-5)
    taxi = Taxi()
    taxi_model = taxi.model(taxi.default_params)
    assert bool(jnp.all(taxi_model.transitions.max(-1) == 1.0))
    assert float(model_l1_error(model.transitions, model.transitions)) == 0.0
