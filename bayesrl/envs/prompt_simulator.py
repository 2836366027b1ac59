"""A learning-policy simulator for prompt selection (after Qu et al. 2025).

A toy of RL fine-tuning with verifiable rewards, cheap enough to run thousands of
steps in a ``lax.scan``: prompt ``i`` has a difficulty ``b_i ~ N(mu_b, sigma_b^2)``
and a discrimination ``a_i ~ LogNormal(0, 0.3^2)``; the policy has a global
ability ``theta_t`` and a per-prompt memorisation ``u_i`` (start 0). Its
success probability is the two-parameter logistic item response (2PL, Birnbaum
1968)::

    gamma_i(t) = sigmoid(a_i (theta_t + u_i - b_i))

Training on a batch of prompts with ``k`` rollouts each draws
``s_i ~ Binomial(k, gamma_i(t))`` and uses the GRPO-signal proxy
``g_i = s_i (k - s_i) / k^2`` (0 iff the group is degenerate, all fail or all
succeed: no advantage, no gradient)::

    theta_{t+1} = theta_t + eta * 4 * mean_{i trained}(a_i g_i)
    u_i        <- u_i + eta_local * g_i          for trained i

so the policy improves only through informative groups, and fastest on exactly
the prompts it trains (which makes a posterior over ``gamma_i`` stale). The
held-out accuracy is ``mean_j sigmoid(a_j (theta_t - b_j))`` over fresh prompts
from the same prior (ability only, no memorisation).

The environment is a gymnax (>= 1.0) ``Environment`` whose action is the int
``[B]`` batch of trained prompts; ``step`` rolls them out, learns, and returns
the success counts as reward with ``info["true_success"]`` (before learning),
``info["heldout_accuracy"]`` (after) and ``info["degenerate"]``. The pure
pieces (:meth:`rollout`, :meth:`learn`, :meth:`true_success`,
:meth:`heldout_accuracy`) let a loop train on a subset of what it rolled out,
as DAPO dynamic sampling does.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from bayesrl import random as fast_random
from bayesrl.envs._environment import Environment
from bayesrl.types import Array, PRNGKey


@struct.dataclass
class PromptSimulatorParams:
    """One simulated task.

    Attributes:
        difficulty: ``[N]`` train prompts' ``b_i``.
        discrimination: ``[N]`` train prompts' ``a_i``.
        test_difficulty: ``[N_test]`` held-out prompts' ``b_j``.
        test_discrimination: ``[N_test]`` held-out prompts' ``a_j``.
        learning_rate: ``eta``, ability step per unit of mean signal.
        local_learning_rate: ``eta_local``, memorisation step of a trained prompt.
        initial_ability: ``theta_0``.
    """

    difficulty: Array
    discrimination: Array
    test_difficulty: Array
    test_discrimination: Array
    learning_rate: Array
    local_learning_rate: Array
    initial_ability: Array


@struct.dataclass
class PromptSimulatorState(environment.EnvState):
    """Policy: global ability ``theta``, memorisation ``u [N]``, step counter."""

    ability: Array
    memorisation: Array
    time: Array


class PromptSimulator(Environment):
    """2PL learning-policy simulator with ``num_rollouts`` rollouts per prompt.

    Args:
        num_prompts: N train prompts.
        num_test: held-out prompts.
        num_rollouts: k rollouts per trained prompt (the GRPO group size).
    """

    def __init__(
        self, num_prompts: int = 20_000, num_test: int = 5_000, num_rollouts: int = 8
    ):
        for name, value, low in (
            ("num_prompts", num_prompts, 2),
            ("num_test", num_test, 1),
            ("num_rollouts", num_rollouts, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.num_prompts = num_prompts
        self.num_test = num_test
        self.num_rollouts = num_rollouts

    def __hash__(self) -> int:
        return hash((type(self), self.num_prompts, self.num_test, self.num_rollouts))

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and (
            (other.num_prompts, other.num_test, other.num_rollouts)
            == (self.num_prompts, self.num_test, self.num_rollouts)
        )

    # -- parameters ----------------------------------------------------------------

    def sample_params(
        self,
        key: PRNGKey,
        mean_difficulty=1.0,
        difficulty_std=1.5,
        discrimination_log_std=0.3,
        learning_rate=0.006,
        local_learning_rate=0.3,
        initial_ability=0.0,
    ) -> PromptSimulatorParams:
        """A task drawn from the prior of section 6.2 (its defaults)."""
        keys = fast_random.split(key, 4)
        total = (self.num_prompts, self.num_test)

        def difficulty(k, n):
            return mean_difficulty + difficulty_std * fast_random.normal(k, (n,))

        def discrimination(k, n):
            return jnp.exp(discrimination_log_std * fast_random.normal(k, (n,)))

        dtype = jnp.result_type(float)
        return PromptSimulatorParams(
            difficulty=difficulty(keys[0], total[0]),
            discrimination=discrimination(keys[1], total[0]),
            test_difficulty=difficulty(keys[2], total[1]),
            test_discrimination=discrimination(keys[3], total[1]),
            learning_rate=jnp.asarray(learning_rate, dtype),
            local_learning_rate=jnp.asarray(local_learning_rate, dtype),
            initial_ability=jnp.asarray(initial_ability, dtype),
        )

    @property
    def default_params(self) -> PromptSimulatorParams:
        return self.sample_params(jax.random.key(0))

    # -- pure pieces ------------------------------------------------------------------

    def init(self, params: PromptSimulatorParams) -> PromptSimulatorState:
        """The untrained policy: ``theta = theta_0``, ``u = 0``."""
        return PromptSimulatorState(
            ability=params.initial_ability,
            memorisation=jnp.zeros((self.num_prompts,), params.difficulty.dtype),
            time=jnp.zeros((), jnp.int32),
        )

    def true_success(self, state, params, ids: Array) -> Array:
        """``gamma_i(t) = sigmoid(a_i (theta_t + u_i - b_i))`` of prompts ``ids``."""
        logit = params.discrimination[ids] * (
            state.ability + state.memorisation[ids] - params.difficulty[ids]
        )
        return jax.nn.sigmoid(logit)

    def rollout(self, key: PRNGKey, state, params, ids: Array) -> Array:
        """Successes ``s_i ~ Binomial(k, gamma_i)`` (int32) of ``k`` rollouts each."""
        success = self.true_success(state, params, ids)
        unit = fast_random.uniform(key, (*ids.shape, self.num_rollouts), success.dtype)
        return jnp.sum(unit < success[..., None], axis=-1).astype(jnp.int32)

    def learn(self, state, params, ids: Array, successes: Array, mask: Array):
        """One policy update from the trained groups ``ids[mask]``."""
        k = self.num_rollouts
        successes = successes.astype(state.memorisation.dtype)
        signal = jnp.where(mask, successes * (k - successes) / k**2, 0.0)
        count = jnp.maximum(jnp.sum(mask), 1)
        ability = (
            state.ability
            + params.learning_rate
            * 4.0
            * jnp.sum(params.discrimination[ids] * signal)
            / count
        )
        memorisation = state.memorisation.at[
            jnp.where(mask, ids, self.num_prompts)
        ].add(params.local_learning_rate * signal, mode="drop")
        return state.replace(
            ability=ability, memorisation=memorisation, time=state.time + 1
        )

    def heldout_accuracy(self, state, params) -> Array:
        """``mean_j sigmoid(a_j (theta_t - b_j))`` over the held-out prompts."""
        return jnp.mean(
            jax.nn.sigmoid(
                params.test_discrimination * (state.ability - params.test_difficulty)
            )
        )

    # -- gymnax interface -------------------------------------------------------------

    @property
    def name(self) -> str:
        return "PromptSimulator"

    @property
    def num_actions(self) -> int:
        return self.num_prompts

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_prompts)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (), jnp.float32)

    def reset_env(self, key: PRNGKey, params):
        del key
        state = self.init(params)
        return self.heldout_accuracy(state, params), state

    def is_terminal(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def step_env(self, key: PRNGKey, state, action, params):
        ids = jnp.asarray(action, jnp.int32)
        successes = self.rollout(key, state, params, ids)
        true_success = self.true_success(state, params, ids)
        state = self.learn(state, params, ids, successes, jnp.ones(ids.shape, bool))
        accuracy = self.heldout_accuracy(state, params)
        info = {
            "true_success": true_success,
            "heldout_accuracy": accuracy,
            "degenerate": (successes == 0) | (successes == self.num_rollouts),
        }
        return accuracy, state, successes.astype(jnp.float32), jnp.zeros((), bool), info
