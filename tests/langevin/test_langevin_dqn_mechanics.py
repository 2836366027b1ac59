"""The training loop of Adam LMCDQN and its follow-up variants (spec 8.10),
observed from inside: a spy on the loss records, at every gradient step, the
online and target parameters and the minibatch. Checked: target sync exactly at
gradient-step counts 0, T, 2T, ... with inner steps counted; the J inner steps
draw distinct minibatches; the Feel-Good ``s1`` is the first observation of each
transition's episode across episode boundaries; acting is greedy on the current
iterate (no epsilon); FG-ULMCDQN trains under vmap with independent seeds (vmap
equals separate runs: ``test_langevin_dqn``)."""

import importlib

import gymnax
import jax
import numpy as np
import pytest
from flax import nnx
from jax.flatten_util import ravel_pytree

from bayesrl.envs import NChain
from bayesrl.langevin import adam_lmcdqn

# The package re-exports the factory under the module's name.
adam_lmcdqn_module = importlib.import_module("bayesrl.langevin.adam_lmcdqn")

TARGET_EVERY, INNER_STEPS, UPDATES_PER_COLLECT = 7, 4, 2
NUM_COLLECTS, PREFILL = 6, 32
# CartPole resets to a random state, so episode-first observations differ, and
# its continuous observations identify the transitions of a minibatch.
CONFIG = dict(
    optimizer="adam_underdamped_langevin",
    feel_good_weight=0.1,
    num_epochs=1,
    steps_per_epoch=10 * NUM_COLLECTS,
    steps_per_collect=10,
    updates_per_collect=UPDATES_PER_COLLECT,
    num_inner_steps=INNER_STEPS,
    target_update_every=TARGET_EVERY,
    batch_size=8,
    buffer_size=200,
    learning_starts=PREFILL,
    num_eval_episodes=1,
    eval_max_steps=20,
    noise_scale=1e-2,
)


NUM_SEEDS = 2


@pytest.fixture(scope="module")
def spied_run():
    """Two vmapped seeds with the loss spied on.

    Returns ``records[seed]``, one ``(params, target_params, minibatch obs)`` per
    gradient step, and the final state and metrics. The spy's callback runs once
    per seed, in seed order, at every step (vmap unrolls debug callbacks).
    """
    env, env_params = gymnax.make("CartPole-v1")
    records = []
    original = adam_lmcdqn_module.dqn_loss

    def record(params, target_params, obs):
        records.append((np.asarray(params), np.asarray(target_params), np.asarray(obs)))

    def spy(q_fn, params, target_params, batch, **kwargs):
        jax.debug.callback(
            record,
            ravel_pytree(params)[0],
            ravel_pytree(target_params)[0],
            batch.obs,
            ordered=True,
        )
        return original(q_fn, params, target_params, batch, **kwargs)

    keys = jax.random.split(jax.random.key(4), NUM_SEEDS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(adam_lmcdqn_module, "dqn_loss", spy)
        # A fresh train (new closures): no cached trace without the spy.
        train = adam_lmcdqn(env, env_params, **CONFIG)
        state, metrics = jax.jit(jax.vmap(train))(keys)
        jax.effects_barrier()
    per_seed = [records[i::NUM_SEEDS] for i in range(NUM_SEEDS)]
    return per_seed, state, metrics


def test_target_sync_happens_at_gradient_step_counts_multiple_of_t(spied_run):
    num_steps = NUM_COLLECTS * UPDATES_PER_COLLECT * INNER_STEPS
    for records in spied_run[0]:
        assert len(records) == num_steps
        for step, (params, target, _) in enumerate(records):
            if step % TARGET_EVERY == 0:
                # Synced before the step: the target is the current iterate.
                np.testing.assert_array_equal(target, params)
            else:
                np.testing.assert_array_equal(target, records[step - 1][1])
                assert not np.array_equal(target, params)
            if step:
                assert not np.array_equal(params, records[step - 1][0])  # moves


def test_inner_steps_draw_distinct_minibatches(spied_run):
    for records in spied_run[0]:
        for first in range(0, len(records), INNER_STEPS):
            batches = [
                {tuple(row) for row in records[first + j][2]}
                for j in range(INNER_STEPS)
            ]
            for i in range(INNER_STEPS):
                for j in range(i + 1, INNER_STEPS):
                    assert batches[i] != batches[j]


def test_first_observation_of_each_episode_is_stored_across_boundaries(spied_run):
    buffer = spied_run[1].buffer
    num_stored = PREFILL + 10 * NUM_COLLECTS  # < capacity: no wrap-around
    for seed in range(NUM_SEEDS):
        obs = np.asarray(buffer.obs[seed])[:num_stored]
        first_obs = np.asarray(buffer.first_obs[seed])[:num_stored]
        done = np.asarray(buffer.done[seed])[:num_stored] > 0
        assert done[:-1].sum() >= 2  # several episode boundaries in the buffer
        start = 0
        for i in range(num_stored):
            np.testing.assert_array_equal(first_obs[i], obs[start])
            if done[i]:
                start = i + 1
        assert len({row.tobytes() for row in first_obs}) >= 3


def test_acting_is_greedy_on_the_current_iterate(spied_run):
    # No epsilon: every stored action is the argmax of the Q-network whose
    # parameters were current when it was taken, i.e. the iterate the first
    # gradient step of the next learning phase starts from.
    records, state, _ = spied_run
    num_grad = UPDATES_PER_COLLECT * INNER_STEPS
    sizes = (4, *adam_lmcdqn_module.DEFAULT_CONFIG["hidden_sizes"], 2)
    graphdef, _ = nnx.split(
        nnx.eval_shape(
            lambda: adam_lmcdqn_module._MLP(sizes, "lecun_normal", nnx.Rngs(0))
        )
    )
    unravel = ravel_pytree(jax.tree.map(lambda x: x[0], state.params))[1]

    @jax.jit
    def q_values(flat_params, obs):
        return jax.vmap(nnx.merge(graphdef, unravel(flat_params)))(obs)

    for seed in range(NUM_SEEDS):
        obs = np.asarray(state.buffer.obs[seed])
        actions = np.asarray(state.buffer.action[seed])
        for collect in range(NUM_COLLECTS):
            # The prefill and the first collect act with the initial network.
            acting = records[seed][collect * num_grad][0]
            steps = np.arange(PREFILL + 10 * collect, PREFILL + 10 * (collect + 1))
            if collect == 0:
                steps = np.arange(PREFILL + 10)
            q = q_values(acting, obs[steps])
            np.testing.assert_array_equal(actions[steps], np.argmax(q, axis=1))


def test_fg_ulmcdqn_trains_under_vmap_with_independent_seeds(spied_run):
    records, state, metrics = spied_run
    # Each seed has its own initialisation and its own chain.
    assert not np.array_equal(records[0][0][0], records[1][0][0])
    assert not np.array_equal(records[0][-1][0], records[1][-1][0])
    assert np.all(np.asarray(metrics.num_nonfinite) == 0)
    assert np.all(np.isfinite(np.asarray(metrics.loss)))
    for leaf in jax.tree.leaves(state.params):
        assert np.all(np.isfinite(leaf))
    # The aULMC momentum is carried in the optimiser state and has moved.
    momentum = ravel_pytree(state.opt_state.momentum)[0]
    assert np.all(np.isfinite(momentum)) and np.any(momentum != 0)


@pytest.mark.parametrize(
    "config,name",
    [
        (dict(optimizer="ulmc"), "optimizer"),
        (dict(optimizer="adam_underdamped_langevin", friction=0.0), "friction"),
        (dict(optimizer="adam_underdamped_langevin", friction=200.0), "friction"),
        (dict(feel_good_weight=-0.1), "feel_good_weight"),
    ],
)
def test_invalid_variant_configs_are_refused(config, name):
    env = NChain(5)
    with pytest.raises(ValueError, match=name):
        adam_lmcdqn(env, env.default_params, **config)
