"""The runner: run_many equals a loop of run, no recompilation, batched env params."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayesrl
from bayesrl import bandits, beliefs, envs, runner


def test_run_many_equals_separate_runs():
    agent = bandits.thompson_sampling(beliefs.beta_bernoulli(6))
    env = envs.BernoulliBandit(6)
    key = jax.random.key(5)
    states, metrics = bayesrl.run_many(key, agent, env, env.default_params, 50, 4)
    assert metrics.regret.shape == (4, 50) and metrics.reward.shape == (4, 50)
    for i, seed_key in enumerate(jax.random.split(key, 4)):
        state, single = bayesrl.run(seed_key, agent, env, env.default_params, 50)
        assert single.regret.shape == (50,)
        np.testing.assert_array_equal(single.action, metrics.action[i])
        np.testing.assert_array_equal(single.reward, metrics.reward[i])
        np.testing.assert_allclose(state.alpha, states.alpha[i])


def test_second_call_does_not_recompile():
    agent = bandits.ucb1(4)
    env = envs.BernoulliBandit(4)
    bayesrl.run_many(jax.random.key(0), agent, env, env.default_params, 20, 3)
    before = runner._run_many._cache_size()
    params = env.default_params.replace(means=jnp.array([0.1, 0.9, 0.5, 0.3]))
    bayesrl.run_many(jax.random.key(1), agent, env, params, 20, 3)
    assert runner._run_many._cache_size() == before


def test_batched_env_params_give_one_instance_per_seed():
    env = envs.BernoulliBandit(3)
    means = jnp.array([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9]])
    params = env.default_params.replace(means=means)
    agent = bandits.ucb1(3)
    _, metrics = bayesrl.run_many(
        jax.random.key(0), agent, env, params, 300, 2, batched_env_params=True
    )
    counts = [np.bincount(np.asarray(metrics.action[i]), minlength=3) for i in range(2)]
    assert counts[0].argmax() == 0 and counts[1].argmax() == 2
    with pytest.raises(ValueError, match="leading axis"):
        bayesrl.run_many(
            jax.random.key(0),
            agent,
            env,
            env.default_params,
            10,
            2,
            batched_env_params=True,
        )


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_sizes_are_refused(bad):
    agent = bandits.uniform(3)
    env = envs.BernoulliBandit(3)
    with pytest.raises(ValueError, match="num_steps"):
        bayesrl.run(jax.random.key(0), agent, env, env.default_params, bad)


def test_progress_bar_reports(capsys):
    agent = bandits.uniform(3)
    env = envs.BernoulliBandit(3)
    _, metrics = bayesrl.run_many(
        jax.random.key(0), agent, env, env.default_params, 40, 2, progress_bar=True
    )
    jax.effects_barrier()
    assert metrics.regret.shape == (2, 40)
    captured = capsys.readouterr()
    assert "40" in captured.out + captured.err


def test_record_every_sums_blocks_of_the_same_run():
    agent = bandits.ucb1(4)
    env = envs.BernoulliBandit(4)
    key = jax.random.key(3)
    _, every = bayesrl.run_many(key, agent, env, env.default_params, 30, 5)
    state, blocks = bayesrl.run_many(
        key, agent, env, env.default_params, 30, 5, record_every=10
    )
    assert blocks.regret.shape == (5, 3)
    np.testing.assert_allclose(
        blocks.regret, every.regret.reshape(5, 3, 10).sum(-1), rtol=1e-6
    )
    np.testing.assert_allclose(
        blocks.reward, every.reward.reshape(5, 3, 10).sum(-1), rtol=1e-6
    )
    np.testing.assert_array_equal(blocks.action, every.action[:, 9::10])
    with pytest.raises(ValueError, match="must divide"):
        bayesrl.run(key, agent, env, env.default_params, 30, record_every=7)


def test_loop_compiler_options_are_known_to_this_jaxlib():
    """The CPU options of the time loops are applied (this jaxlib knows them),
    and an option jaxlib does not know is what the probe guards against."""
    if jax.default_backend() != "cpu":
        pytest.skip("CPU-only compiler options")
    assert runner._loop_compiler_options() == runner._LOOP_CPU_OPTIONS
    with pytest.raises(jax.errors.JaxRuntimeError, match="compile option"):
        jax.jit(lambda x: x, compiler_options={"xla_cpu_no_such_option": ""}).lower(
            jnp.zeros(2)
        ).compile()


def test_run_inside_a_users_jit_and_vmap():
    """The loops' compiler options apply only at top level; under a user's
    jit(vmap(...)) (traced arguments) and a jit closing over constants only,
    run still traces and equals the top-level call."""
    agent = bandits.ucb1(4)
    env = envs.BernoulliBandit(4)
    keys = jax.random.split(jax.random.key(3), 2)

    def total_regret(key):
        return bayesrl.run(key, agent, env, env.default_params, 30)[1].regret.sum()

    nested = jax.jit(jax.vmap(total_regret))(keys)
    constant_only = jax.jit(lambda: total_regret(keys[1]))()
    top_level = [total_regret(key) for key in keys]
    np.testing.assert_array_equal(nested, np.array(top_level))
    np.testing.assert_array_equal(constant_only, top_level[1])


def test_params_of_another_shape_are_refused():
    env = envs.BernoulliBandit(5)
    agent = bandits.ucb1(5)
    three_means = env.default_params.replace(means=jnp.array([0.1, 0.5, 0.9]))
    with pytest.raises(ValueError, match=r"means has shape \(3,\).*\(5,\)"):
        bayesrl.run(jax.random.key(0), agent, env, three_means, 10)
    with pytest.raises(ValueError, match=r"means has shape \(3,\).*\(5,\)"):
        bayesrl.run_many(jax.random.key(0), agent, env, three_means, 10, 2)
    per_seed = env.default_params.replace(means=jnp.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="per seed"):
        bayesrl.run_many(
            jax.random.key(0), agent, env, per_seed, 10, 2, batched_env_params=True
        )


def test_params_of_another_environment_are_refused():
    env = envs.GaussianBandit(4)
    with pytest.raises(ValueError, match="structure"):
        bayesrl.run(
            jax.random.key(0),
            bandits.ucb1(4),
            env,
            envs.BernoulliBandit(4).default_params,
            10,
        )


def test_custom_means_of_the_right_shape_are_played():
    env = envs.BernoulliBandit(3)
    params = env.default_params.replace(means=jnp.array([0.9, 0.1, 0.1]))
    _, metrics = bayesrl.run(jax.random.key(0), bandits.ucb1(3), env, params, 300)
    assert np.bincount(np.asarray(metrics.action), minlength=3).argmax() == 0
    np.testing.assert_allclose(np.asarray(metrics.regret)[metrics.action == 1], 0.8)
