"""Round-robin warm-up wrapper (the Showdown's initial pulls)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayesrl
from bayesrl import bandits, beliefs, envs
from bayesrl.base import BanditObs, Transition
from bayesrl.testing import check_agent


def test_warmup_pulls_each_arm_in_turn_then_defers_to_the_agent(key):
    env = envs.WheelBandit(0.5)
    inner = bandits.linear_thompson_sampling(env.num_arms, env.dim)
    agent = bandits.round_robin_warmup(inner, env.num_arms, pulls_per_arm=2)
    state, metrics = bayesrl.run(key, agent, env, env.default_params, 14)
    actions = np.asarray(metrics.action)
    np.testing.assert_array_equal(actions[:10], np.tile(np.arange(5), 2))
    assert int(state.num_rounds) == 14
    # After the warm-up the wrapper's action is the wrapped agent's.
    obs = BanditObs(available=jnp.ones(5, bool), context=jnp.array([0.3, -0.8]))

    @jax.jit
    def both(keys):
        wrapped, _ = jax.vmap(agent.act, (0, None, None))(keys, state, obs)
        direct, _ = jax.vmap(inner.act, (0, None, None))(keys, state.inner, obs)
        return wrapped, direct

    wrapped, direct = both(jax.random.split(key, 50))
    np.testing.assert_array_equal(wrapped, direct)


def test_warmup_skips_unavailable_arms_and_passes_the_contract(key):
    inner = bandits.thompson_sampling(beliefs.beta_bernoulli(4))
    agent = bandits.round_robin_warmup(inner, 4, pulls_per_arm=1)
    obs = BanditObs(available=jnp.ones(4, bool))
    transition = Transition(obs, jnp.array(1), jnp.array(1.0), obs, False, False)
    check_agent(agent, obs, transition)
    state = agent.init(key)._replace(num_rounds=jnp.int32(1))  # arm 1's turn
    masked = obs._replace(available=jnp.array([True, False, False, True]))
    action, info = jax.jit(agent.act)(key, state, masked)
    assert int(action) == 3 and float(info.propensity) == 1.0
    bad = transition._replace(reward=jnp.array(jnp.nan))
    after, info = jax.jit(agent.update)(key, state, bad)
    assert bool(info.rejected) and int(after.num_rounds) == 1
    for value in (1, 2.0):
        with pytest.raises(ValueError, match="num_arms"):
            bandits.round_robin_warmup(inner, value)
    with pytest.raises(ValueError, match="pulls_per_arm"):
        bandits.round_robin_warmup(inner, 4, pulls_per_arm=-1)
