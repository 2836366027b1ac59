"""``bayesrl.testing.check_agent`` itself: its jit-vs-eager comparison of ``init``
accepts rounding differences of a few ulp and rejects anything larger."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl.base import Agent
from bayesrl.testing import JIT_EAGER_EPS, check_agent, tabular_transition

VALUE = np.float32(0.8970730)


def agent_whose_jitted_init_moves(shift_fn, counts_shift=0):
    """A one-arm agent whose ``init`` returns ``shift_fn(VALUE)`` when traced
    (under ``jit``) and ``VALUE`` when run eagerly."""

    def init(key):
        traced = isinstance(jax.random.key_data(key), jax.core.Tracer)
        value = shift_fn(VALUE) if traced else VALUE
        counts = jnp.int32(counts_shift if traced else 0)
        return (jnp.full((3,), value, jnp.float32), counts)

    def act(key, state, obs):
        del key, obs
        return jnp.int32(0), {}

    def update(key, state, transition):
        del key
        return (state[0] + transition.reward, state[1] + 1), {}

    return Agent(init, act, update)


TRANSITION = tabular_transition(0, 0, 0, reward=1.0)


def test_check_agent_accepts_a_few_ulp_between_jitted_and_eager_init():
    def one_ulp(x):
        return np.nextafter(x, np.float32(2.0))

    check_agent(agent_whose_jitted_init_moves(one_ulp), jnp.int32(0), TRANSITION)


@pytest.mark.parametrize("eps_multiple", [4 * JIT_EAGER_EPS, 1e4])
def test_check_agent_rejects_larger_jit_eager_differences(eps_multiple):
    def shifted(x):
        return x + np.float32(eps_multiple * np.finfo(np.float32).eps)

    agent = agent_whose_jitted_init_moves(shifted)
    with pytest.raises(AssertionError, match="jitted init differs from eager"):
        check_agent(agent, jnp.int32(0), TRANSITION)


def test_check_agent_rejects_any_integer_jit_eager_difference():
    agent = agent_whose_jitted_init_moves(lambda x: x, counts_shift=1)
    with pytest.raises(AssertionError, match="jitted init differs from eager"):
        check_agent(agent, jnp.int32(0), TRANSITION)


def test_eager_init_false_skips_only_the_jit_eager_comparison():
    """The same agent passes with ``eager_init=False``, and the other checks
    still run: an ``update`` that changes a leaf's dtype is still caught."""
    agent = agent_whose_jitted_init_moves(lambda x: x, counts_shift=1)
    check_agent(agent, jnp.int32(0), TRANSITION, eager_init=False)

    def update_to_float(key, state, transition):
        del key
        return (state[0], state[1] + transition.reward), {}

    broken = Agent(agent.init, agent.act, update_to_float)
    with pytest.raises(AssertionError, match="update changed a leaf"):
        check_agent(broken, jnp.int32(0), TRANSITION, eager_init=False)
