"""Round-robin warm-up wrapper (the Showdown's initial pulls)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayesrl
from bayesrl import bandits, beliefs, envs
from bayesrl.base import BanditObs, Transition
from bayesrl.testing import check_agent


def test_round_robin_warmup(key):
    """Rounds 0-9 pull arms 0..4 twice in turn and every pull reaches the
    wrapped agent; afterwards the wrapper acts as the wrapped agent; a turn
    whose arm is unavailable goes to the next available arm; a rejected update
    is not counted; the Agent contract holds."""
    env = envs.BernoulliBandit(5)
    inner = bandits.thompson_sampling(beliefs.beta_bernoulli(5))
    agent = bandits.round_robin_warmup(inner, 5, pulls_per_arm=2)
    state, metrics = bayesrl.run(key, agent, env, env.default_params, 14)
    actions = np.asarray(metrics.action)
    np.testing.assert_array_equal(actions[:10], np.tile(np.arange(5), 2))
    assert int(state.num_rounds) == 14
    counts = np.asarray(state.inner.successes + state.inner.failures)
    np.testing.assert_array_equal(counts, np.bincount(actions, minlength=5))

    obs = BanditObs(available=jnp.ones(5, bool))
    transition = Transition(obs, jnp.array(1), jnp.array(1.0), obs, False, False)
    check_agent(agent, obs, transition)
    act, inner_act = jax.jit(agent.act), jax.jit(inner.act)
    for step_key in jax.random.split(key, 5):
        assert int(act(step_key, state, obs)[0]) == int(
            inner_act(step_key, state.inner, obs)[0]
        )

    turn_of_arm_1 = state._replace(num_rounds=jnp.int32(6))
    masked = BanditObs(available=jnp.array([True, False, False, True, False]))
    action, info = act(key, turn_of_arm_1, masked)
    assert int(action) == 3 and float(info.propensity) == 1.0
    bad = transition._replace(reward=jnp.array(jnp.nan))
    after, info = jax.jit(agent.update)(key, turn_of_arm_1, bad)
    assert bool(info.rejected) and int(after.num_rounds) == 6

    for value in (1, 2.0):
        with pytest.raises(ValueError, match="num_arms"):
            bandits.round_robin_warmup(inner, value)
    with pytest.raises(ValueError, match="pulls_per_arm"):
        bandits.round_robin_warmup(inner, 4, pulls_per_arm=-1)
