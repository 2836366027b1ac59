"""Factored Taxi: the rule-derived scopes given to F-PSRL are exactly the
parents of each next-state factor, checked by enumerating every (s, a)."""

import itertools

import numpy as np
import pytest

from bayesrl.envs import Taxi


@pytest.fixture(scope="module")
def taxi():
    env = Taxi()
    model = env.model(env.default_params)
    transitions = np.asarray(model.transitions)
    # Taxi is deterministic: one next state per (s, a).
    assert np.all(transitions.max(-1) == 1.0)
    return env, transitions.argmax(-1), model


def is_function_of(inputs, outputs, columns):
    """Whether ``outputs`` (``[n]``) is a function of ``inputs[:, columns]``."""
    seen = {}
    for key, value in zip(map(tuple, inputs[:, list(columns)]), outputs, strict=True):
        if seen.setdefault(key, value) != value:
            return False
    return True


def test_taxi_matches_gymnasium_taxi(taxi):
    """Next state, reward and termination of every (s, a) equal gymnasium's
    Taxi-v3 table (an independent implementation of the rules; same state
    encoding ((row * 5 + col) * 5 + passenger) * 4 + destination)."""
    env, next_state, model = taxi
    taxi_v3 = pytest.importorskip("gymnasium.envs.toy_text.taxi")
    table = taxi_v3.TaxiEnv().P
    rewards = np.asarray(model.rewards)
    termination = np.asarray(model.termination)
    for s, a in itertools.product(range(env.num_states), range(env.num_actions)):
        ((probability, s_next, reward, done),) = table[s][a]
        assert probability == 1.0
        assert (next_state[s, a], rewards[s, a], bool(termination[s, a])) == (
            s_next,
            reward,
            done,
        ), (s, a)


def test_taxi_true_parents_are_exactly_the_parents_of_each_factor(taxi):
    """For every next-state factor j, over all 500 x 6 inputs: s'[j] is a
    function of x[z_j] (the scope F-PSRL gets is sufficient), and of no
    x[z_j minus one parent] (every declared parent is needed)."""
    env, next_state, _ = taxi
    inputs = np.asarray(env.input_factors()).reshape(-1, len(env.input_sizes))
    next_factors = np.asarray(env.state_factors)[next_state.reshape(-1)]
    for j, row in enumerate(env.true_parents):
        scope = row[row >= 0].tolist()
        assert is_function_of(inputs, next_factors[:, j], scope), j
        for parent in scope:
            smaller = [i for i in scope if i != parent]
            assert not is_function_of(inputs, next_factors[:, j], smaller), (j, parent)
