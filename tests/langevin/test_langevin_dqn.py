"""Adam LMCDQN: vmap over seeds equals separate runs, independence of seeds,
revert-and-flag at extreme step sizes, refused configurations, DQN mechanics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl.envs import NChain
from bayesrl.langevin import adam_lmcdqn, n_step_returns
from bayesrl.langevin.adam_lmcdqn import _MLP

SMALL = dict(
    num_epochs=2,
    steps_per_epoch=100,
    buffer_size=200,
    num_eval_episodes=2,
    target_update_every=20,
)


@pytest.fixture(scope="module")
def small_train():
    env = NChain(6)
    return adam_lmcdqn(env, env.default_params, **SMALL)


def test_vmap_over_seeds_equals_separate_runs(small_train):
    keys = jax.random.split(jax.random.key(11), 3)
    batched = jax.jit(jax.vmap(small_train))  # one compilation for both calls
    batched_state, batched_metrics = batched(keys)
    single = jax.jit(small_train)
    for i in (0, 2):
        state, metrics = single(keys[i])
        seed_params = jax.tree.map(lambda x, i=i: x[i], batched_state.params)
        for a, b in zip(
            jax.tree.leaves(state.params), jax.tree.leaves(seed_params), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(
            state.buffer.action, batched_state.buffer.action[i]
        )
        np.testing.assert_allclose(
            metrics.eval_return, batched_metrics.eval_return[i], rtol=1e-6
        )
    # Each seed has its own initialisation and its own action stream.
    first = jax.tree.leaves(batched_state.params)[0]
    assert not np.allclose(first[0], first[1])
    # Perturbing one key leaves the other seeds bitwise unchanged.
    other = keys.at[1].set(jax.random.key(99))
    again_state, _ = batched(other)
    for a, b in zip(
        jax.tree.leaves(batched_state.params),
        jax.tree.leaves(again_state.params),
        strict=True,
    ):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[2], b[2])
        assert not np.array_equal(a[1], b[1])
    assert batched_metrics.eval_return.shape == (3, 2)
    assert np.all(np.isfinite(batched_metrics.loss))
    assert np.all(np.asarray(batched_metrics.noise_to_drift) >= 0)


def test_recorded_params_are_the_evaluated_networks():
    env = NChain(6)
    recording = adam_lmcdqn(env, env.default_params, record_params=True, **SMALL)
    plain = adam_lmcdqn(env, env.default_params, **SMALL)
    key = jax.random.key(5)
    state, metrics = jax.jit(recording)(key)
    _, plain_metrics = jax.jit(plain)(key)
    assert plain_metrics.params is None
    # Recording changes nothing else.
    np.testing.assert_array_equal(metrics.eval_return, plain_metrics.eval_return)
    np.testing.assert_array_equal(metrics.loss, plain_metrics.loss)
    last = jax.tree.map(lambda x: x[-1], metrics.params)
    for recorded, final in zip(
        jax.tree.leaves(last), jax.tree.leaves(state.params), strict=True
    ):
        np.testing.assert_array_equal(recorded, final)
    first = jax.tree.map(lambda x: x[0], metrics.params)
    assert not np.array_equal(jax.tree.leaves(first)[0], jax.tree.leaves(last)[0])
    # The greedy return of the recorded network, played out by hand on the
    # deterministic chain, is the epoch's eval_return.
    for epoch in range(SMALL["num_epochs"]):
        params = jax.tree.map(lambda x, e=epoch: x[e], metrics.params)
        position, total = 1, 0.0
        for _ in range(int(env.default_params.max_steps_in_episode)):
            q = recording.q_values(params, env.observation(position))
            assert q.shape == (2,)
            right = int(jnp.argmax(q)) == 1
            total += 1.0 if right and position == 5 else 0.0
            total += 0.001 if not right and position == 0 else 0.0
            position = min(position + 1, 5) if right else max(position - 1, 0)
        np.testing.assert_allclose(metrics.eval_return[epoch], total, rtol=1e-6)


@pytest.mark.slow
def test_extreme_step_size_is_flagged_and_reverted():
    env = NChain(6)
    train = adam_lmcdqn(
        env, env.default_params, step_size=1e12, bias_factor=1.0, **SMALL
    )
    state, metrics = jax.jit(train)(jax.random.key(0))
    assert int(metrics.num_nonfinite[-1]) > 0
    for leaf in jax.tree.leaves(state.params):
        assert np.all(np.isfinite(leaf))


@pytest.mark.slow
def test_n_step_targets_truncate_at_episode_ends():
    # With n_step = 3 and discount 1, an episode end inside the window truncates
    # the return: the chain's reward sits in the last steps only, so training
    # must stay finite and the buffer must hold the final observation.
    env = NChain(3)
    train = adam_lmcdqn(env, env.default_params, n_step=3, double_q=True, **SMALL)
    state, metrics = jax.jit(train)(jax.random.key(1))
    assert np.all(np.isfinite(metrics.loss))
    done = np.asarray(state.buffer.done) > 0
    # final_observation is stored at episode ends, not the reset observation.
    assert np.all(np.asarray(state.buffer.next_obs)[done].sum(-1) >= 1)


def test_n_step_returns_hand_computed():
    # Three 3-step windows with discount 0.5: no end; termination at step 1;
    # truncation at step 0 (bootstraps from the final observation).
    rewards = jnp.array([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])
    done = jnp.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    terminated = jnp.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    returns, last, bootstrap = n_step_returns(rewards, done, terminated, 0.5)
    np.testing.assert_allclose(returns, [1 + 1 + 1, 1 + 1, 1])
    np.testing.assert_array_equal(last, [2, 1, 0])
    np.testing.assert_allclose(bootstrap, [0.125, 0.0, 0.5])


@pytest.mark.parametrize("network_init", ["lecun_normal", "torch_uniform"])
def test_network_init_has_the_documented_law(network_init):
    """Weights of variance 1/fan_in (Flax) or uniform on +-1/sqrt(fan_in) (PyTorch),
    biases zero (Flax) or uniform on the same interval (PyTorch); the second
    moments within 5 standard errors."""
    fan_in, fan_out = 400, 300
    from flax import nnx

    layer = _MLP((fan_in, fan_out), network_init, nnx.Rngs(3)).layers[0]
    kernel = np.asarray(layer.kernel.value, np.float64).ravel()
    bias = np.asarray(layer.bias.value, np.float64)
    bound = 1.0 / np.sqrt(fan_in)
    if network_init == "lecun_normal":
        # Truncated at 2 std and rescaled: variance 1/fan_in, E x^4 < 3 var^2.
        np.testing.assert_array_equal(bias, 0.0)
        variance, fourth = 1.0 / fan_in, 3.0 / fan_in**2
    else:
        assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound
        variance, fourth = bound**2 / 3, bound**4 / 5
        se = np.sqrt((fourth - variance**2) / bias.size)
        assert abs(np.mean(bias**2) - variance) < 5 * se
    se = np.sqrt((fourth - variance**2) / kernel.size)
    assert abs(np.mean(kernel**2) - variance) < 5 * se
    assert abs(np.mean(kernel)) < 5 * np.sqrt(variance / kernel.size)


@pytest.mark.parametrize(
    "config,name",
    [
        (dict(step_size=0.0), "step_size"),
        (dict(noise_scale=-1.0), "noise_scale"),
        (dict(num_inner_steps=0), "num_inner_steps"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(steps_per_epoch=15), "steps_per_collect"),
        (dict(learning_starts=4), "learning_starts"),
        (dict(discount=1.5), "discount"),
        (dict(not_a_key=1), "not_a_key"),
        (dict(network_init="he_normal"), "network_init"),
        (dict(record_params=1), "record_params"),
    ],
)
def test_invalid_config_is_refused(config, name):
    env = NChain(5)
    with pytest.raises(ValueError, match=name):
        adam_lmcdqn(env, env.default_params, **config)


@pytest.mark.slow
def test_nchain_25_adam_lmcdqn_learns():
    env = NChain(25)
    train = adam_lmcdqn(env, env.default_params)
    _, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 4))
    assert float(jnp.mean(metrics.eval_return[:, -10:])) > 2.0
