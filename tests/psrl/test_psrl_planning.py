"""Planning: backward induction vs brute force, evaluation, factored contraction."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl.envs import TabularModel, Taxi, random_factored_mdp
from bayesrl.envs.factored import product_of_factors
from bayesrl.psrl import (
    backward_induction,
    expected_regret,
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


def test_factored_contraction_equals_dense():
    rng = np.random.default_rng(3)
    sizes = (2, 3, 2)
    factor_probs = [
        jnp.asarray(rng.dirichlet(np.ones(b), 7), jnp.float32) for b in sizes
    ]
    dense = product_of_factors(factor_probs)
    np.testing.assert_allclose(dense.sum(-1), 1.0, atol=1e-6)
    values = jnp.asarray(rng.normal(size=12), jnp.float32)
    np.testing.assert_allclose(
        factored_expected_next_value(factor_probs, values), dense @ values, atol=1e-5
    )


def test_dense_model_rows_sum_to_one_and_taxi_is_deterministic():
    env, params = random_factored_mdp(jax.random.key(2), 4, 2, max_parents=3)
    model = env.model(params)
    np.testing.assert_allclose(model.transitions.sum(-1), 1.0, atol=1e-5)
    taxi = Taxi()
    taxi_model = taxi.model(taxi.default_params)
    assert bool(jnp.all(taxi_model.transitions.max(-1) == 1.0))
    assert float(model_l1_error(model.transitions, model.transitions)) == 0.0
