"""UCRL2: the optimistic inner maximum against a linear program, extended value
iteration against a NumPy reference, optimism, the agent contract."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog

from bayesrl.envs import RiverSwim, TabularMDP, random_tabular_mdp_params
from bayesrl.psrl import (
    backward_induction,
    extended_value_iteration,
    finite_horizon_extended_value_iteration,
    optimal_gain,
    optimistic_transition,
    ucrl2,
)
from bayesrl.psrl.ucrl2 import confidence_radii
from bayesrl.testing import check_agent, tabular_transition


def lp_optimistic_value(p_hat, radius, values):
    """max p . v over {p in simplex : ||p - p_hat||_1 <= radius}, by scipy's LP
    (variables p and e >= |p - p_hat|)."""
    n = len(values)
    cost = np.concatenate([-values, np.zeros(n)])
    eye = np.eye(n)
    a_ub = np.block([[eye, -eye], [-eye, -eye], [np.zeros((1, n)), np.ones((1, n))]])
    b_ub = np.concatenate([p_hat, -p_hat, [radius]])
    a_eq = np.concatenate([np.ones(n), np.zeros(n)])[None]
    result = linprog(cost, a_ub, b_ub, a_eq, [1.0], bounds=[(0, None)] * (2 * n))
    assert result.status == 0
    return -result.fun


def test_optimistic_transition_solves_the_l1_ball_linear_program():
    rng = np.random.default_rng(0)
    num_states = 5
    for trial in range(30):
        values = rng.normal(size=num_states)
        p_hat = rng.dirichlet(np.full(num_states, 0.5))
        radius = [0.0, 0.05, 0.3, 1.0, 2.5][trial % 5]
        p = np.asarray(
            optimistic_transition(
                jnp.asarray(p_hat, jnp.float32),
                jnp.float32(radius),
                jnp.asarray(values, jnp.float32),
            ),
            np.float64,
        )
        assert np.all(p >= 0.0)
        np.testing.assert_allclose(p.sum(), 1.0, atol=1e-6)
        assert np.abs(p - p_hat).sum() <= radius + 1e-5
        np.testing.assert_allclose(
            p @ values, lp_optimistic_value(p_hat, radius, values), atol=1e-5
        )
        best = np.argmax(values)
        assert p[best] == pytest.approx(min(1.0, p_hat[best] + radius / 2), abs=1e-6)


def test_unvisited_pair_puts_all_mass_on_the_best_state():
    values = jnp.array([0.3, 2.0, -1.0, 2.0])
    p = optimistic_transition(jnp.zeros((2, 4)), jnp.array([5.0, 5.0]), values)
    # Ties go to the lowest index among the best states.
    np.testing.assert_array_equal(p, np.tile([0.0, 1.0, 0.0, 0.0], (2, 1)))


def numpy_extended_backward_induction(p_hat, radius, rewards, horizon):
    """Reference: H extended backups, each inner maximum by the LP."""
    num_states, num_actions = rewards.shape
    values = np.zeros(num_states)
    for _ in range(horizon):
        q = np.array(
            [
                [
                    rewards[s, a]
                    + lp_optimistic_value(p_hat[s, a], radius[s, a], values)
                    for a in range(num_actions)
                ]
                for s in range(num_states)
            ]
        )
        values = q.max(1)
    return values


def tiny_confidence_set(seed, visits_per_pair=30):
    """Counts drawn from a random 3-state, 2-action MDP, and Jaksch's sets."""
    rng = np.random.default_rng(seed)
    num_states, num_actions = 3, 2
    transitions = rng.dirichlet(np.ones(num_states), (num_states, num_actions))
    rewards = rng.uniform(size=(num_states, num_actions))
    counts = np.stack(
        [
            [rng.multinomial(visits_per_pair, transitions[s, a]) for a in range(2)]
            for s in range(3)
        ]
    ).astype(np.float64)
    p_hat = counts / visits_per_pair
    reward_radius, transition_radius = confidence_radii(
        jnp.full((3, 2), float(visits_per_pair)), 3 * 2 * visits_per_pair, 3, 2, 0.05
    )
    return (
        transitions,
        rewards,
        p_hat,
        np.asarray(reward_radius),
        np.asarray(transition_radius),
    )


def test_finite_horizon_extended_value_iteration_equals_the_numpy_reference():
    _, rewards, p_hat, _, _ = tiny_confidence_set(1)
    radius = np.array([[0.0, 0.2], [0.5, 1.0], [0.1, 3.0]])
    plan = finite_horizon_extended_value_iteration(
        jnp.asarray(p_hat, jnp.float32),
        jnp.asarray(radius, jnp.float32),
        jnp.asarray(rewards, jnp.float32),
        jnp.zeros((3, 2)),
        4,
    )
    expected = numpy_extended_backward_induction(p_hat, radius, rewards, 4)
    np.testing.assert_allclose(plan.values[0], expected, atol=1e-5)
    # With zero radii extended value iteration is plain backward induction.
    plain = finite_horizon_extended_value_iteration(
        jnp.asarray(p_hat, jnp.float32),
        jnp.zeros((3, 2)),
        jnp.asarray(rewards, jnp.float32),
        jnp.zeros((3, 2)),
        4,
    )
    reference = backward_induction(
        jnp.asarray(p_hat, jnp.float32),
        jnp.asarray(rewards, jnp.float32),
        jnp.zeros((3, 2)),
        4,
    )
    np.testing.assert_allclose(plain.values, reference.values, atol=1e-6)
    np.testing.assert_array_equal(plain.policy, reference.policy)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_optimism_when_the_true_model_is_in_the_confidence_set(seed):
    transitions, rewards, p_hat, reward_radius, transition_radius = tiny_confidence_set(
        seed
    )
    # Precondition: the true model is plausible.
    assert np.all(np.abs(transitions - p_hat).sum(-1) <= transition_radius)
    optimistic_rewards = jnp.asarray(p_hat[..., 0] * 0 + rewards + reward_radius)
    horizon = 5
    optimistic = finite_horizon_extended_value_iteration(
        jnp.asarray(p_hat, jnp.float32),
        jnp.asarray(transition_radius, jnp.float32),
        optimistic_rewards.astype(jnp.float32),
        jnp.zeros((3, 2)),
        horizon,
    )
    true_plan = backward_induction(
        jnp.asarray(transitions, jnp.float32),
        jnp.asarray(rewards, jnp.float32),
        jnp.zeros((3, 2)),
        horizon,
    )
    assert np.all(np.asarray(optimistic.values) >= np.asarray(true_plan.values) - 1e-5)
    # Average reward: the optimistic gain bracket lies above g*.
    average = extended_value_iteration(
        jnp.asarray(p_hat, jnp.float32),
        jnp.asarray(transition_radius, jnp.float32),
        optimistic_rewards.astype(jnp.float32),
        1e-4,
        5000,
    )
    assert bool(average.converged)
    env = TabularMDP(3, 2, horizon)
    params = random_tabular_mdp_params(jax.random.key(0), 3, 2)
    params = params.replace(
        transitions=jnp.asarray(transitions, jnp.float32),
        rewards=jnp.asarray(rewards, jnp.float32),
    )
    g_star = float(optimal_gain(env.model(params)))
    assert float(average.gain_bracket[0]) >= g_star - 1e-4


def test_ucrl2_satisfies_the_agent_contract():
    env = RiverSwim()
    transition = tabular_transition(2, 1, 3)
    for criterion in ("average_reward", "finite_horizon"):
        check_agent(ucrl2(env, criterion=criterion), jnp.int32(2), transition)


def test_ucrl2_refuses_bad_configuration():
    env = RiverSwim()
    with pytest.raises(ValueError, match="criterion"):
        ucrl2(env, criterion="discounted")
    with pytest.raises(ValueError, match="delta"):
        ucrl2(env, delta=1.5)
    with pytest.raises(ValueError, match="max_iterations"):
        ucrl2(env, max_iterations=0)
    with pytest.raises(ValueError, match="termination"):
        ucrl2(env, termination=np.ones((6, 2)))
