"""Contract tests of the Langevin agents (``check_agent``) and the API drift
guards of spec section 8.14: the blackjax, optax and gymnax behaviours that
``bayesrl.langevin`` relies on or deliberately avoids."""

import warnings

import blackjax
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayesrl import BanditObs, Transition
from bayesrl.envs import DeepSea, NChain
from bayesrl.langevin import lmc_lsvi, lmc_ts
from bayesrl.testing import check_agent


def test_lmc_ts_passes_the_agent_contract(key):
    agent = lmc_ts(3, 2, inverse_temperature=10.0, num_inner_steps=4)
    obs = BanditObs(available=jnp.ones(3, bool), context=jnp.array([0.5, -1.0]))
    transition = Transition(
        obs, jnp.asarray(1), jnp.asarray(0.3), obs, jnp.asarray(False), False
    )
    check_agent(agent, obs, transition, key)


def test_lmc_lsvi_passes_the_agent_contract(key):
    agent = lmc_lsvi(
        2, 3, max_episodes=4, num_states=5, state_fn=lambda o: o, num_chains=2
    )
    transition = Transition(
        jnp.asarray(1),
        jnp.asarray(1),
        jnp.asarray(0.5),
        jnp.asarray(2),
        jnp.asarray(False),
        jnp.asarray(False),
    )
    check_agent(agent, jnp.asarray(1), transition, key)


def _position():
    return {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3), "s": jnp.zeros(())}


def test_blackjax_sgld_and_sghmc_steps_return_a_bare_position(key):
    # The docstring's ``new_position, info = step(...)`` is wrong (spec 5): the
    # step returns a pytree with the position's structure, not a tuple.
    def grad_estimator(position, minibatch):
        del minibatch
        return jax.tree.map(jnp.negative, position)

    position = _position()
    kernels = (
        blackjax.sgld(grad_estimator),
        blackjax.sghmc(grad_estimator, num_integration_steps=1),
    )
    for kernel in kernels:
        new = jax.jit(kernel.step)(key, position, None, 1e-2)
        assert jax.tree.structure(new) == jax.tree.structure(position)
        for old, leaf in zip(
            jax.tree.leaves(position), jax.tree.leaves(new), strict=True
        ):
            assert old.shape == leaf.shape


def test_blackjax_still_has_no_adam_or_preconditioned_langevin_diffusion():
    # If blackjax gains one, revisit spec section 5 (reuse instead of hand-writing).
    names = [name.lower() for name in dir(blackjax.sgmcmc.diffusions)]
    for fragment in ("adam", "psgld", "precondition", "rmsprop"):
        assert not any(fragment in name for name in names), fragment


def test_optax_noisy_sgd_noise_variance_is_two_alpha_over_beta(key):
    # noisy_sgd(alpha, eta = 2 / (alpha beta), gamma = 0) is constant-step SGLD
    # in optax >= 0.2.8: u = -alpha (g + sqrt(eta) xi), variance 2 alpha / beta.
    alpha, beta, num_draws = 1e-2, 50.0, 100_000
    transform = optax.noisy_sgd(alpha, eta=2.0 / (alpha * beta), gamma=0.0, key=key)
    params = jnp.zeros(num_draws)
    updates, _ = transform.update(jnp.zeros(num_draws), transform.init(params))
    expected = 2 * alpha / beta
    variance = float(np.var(np.asarray(updates, np.float64)))
    assert abs(variance / expected - 1) < 0.02  # 4.5 standard errors


def test_optax_noisy_sgd_without_a_key_warns():
    # It falls back to a shared key 0: every instance would share its noise.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optax.noisy_sgd(1e-2)
    assert caught, "optax.noisy_sgd(key=None) no longer warns"


def test_gymnax_deep_sea_map_is_shared_across_resets_and_bayesrl_does_not_use_it(
    key,
):
    # gymnax 1.x: the default DeepSea-bsuite action map is one fixed draw, the
    # same for every reset key, hence for every seed: unusable for bsuite
    # semantics. bayesrl.envs.DeepSea is its own environment, which draws one map
    # per instance (tests/envs/test_tabular.py).
    env, params = gymnax.make("DeepSea-bsuite", size=8)
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    maps = np.asarray(reset(jax.random.split(key, 3), params)[1].action_mapping)
    assert all(np.array_equal(maps[0], m) for m in maps[1:])
    assert not issubclass(DeepSea, type(env))


def test_nchain_benchmark_pairs_every_langevin_method_with_its_noise_off_run():
    # Spec 2.5: every LMCDQN-family row comes with a noise-off ablation (same
    # config, noise_multiplier = 0), and the default CLI run emits both.
    from benchmarks.langevin import DEFAULT_NCHAIN_METHODS, NCHAIN_METHODS

    langevin = [
        name
        for name, config in NCHAIN_METHODS.items()
        if config.get("optimizer", "adam_langevin") != "adam"
        and not name.endswith("_noise_off")
    ]
    assert {"adam_lmcdqn", "ulmcdqn", "fg_lmcdqn", "fg_ulmcdqn"} <= set(langevin)
    for name in langevin:
        off = NCHAIN_METHODS[f"{name}_noise_off"]
        assert off == {**NCHAIN_METHODS[name], "noise_multiplier": 0.0}
    defaults = DEFAULT_NCHAIN_METHODS.split(",")
    assert "adam_lmcdqn" in defaults and "adam_lmcdqn_noise_off" in defaults


def test_policy_section_finds_where_the_greedy_walk_turns_back():
    # A stand-in Q-network: params p says "left at state index p" (a tie,
    # which argmax breaks towards left as the test episodes do); right elsewhere.
    from types import SimpleNamespace

    from benchmarks.langevin import _greedy_turns

    def q_values(p, obs):
        index = NChain.state_index(obs)
        return jnp.where(index == p, jnp.array([0.5, 0.5]), jnp.array([0.0, 1.0]))

    n = 8
    params = jnp.array([[3, 0], [7, 1]])  # [seeds, epochs]
    turn, q_start = _greedy_turns(SimpleNamespace(q_values=q_values), n, params)
    # Left at s_1 (index 0) is never on the walk from s_2; left at s_N fails.
    np.testing.assert_array_equal(turn, [[3, n], [7, 1]])
    np.testing.assert_array_equal(q_start[1, 1], [0.5, 0.5])
    np.testing.assert_array_equal(q_start[0, 0], [0.0, 1.0])


def test_throughput_floor_takes_plain_td_gradient_steps_on_the_rows_it_draws():
    # The floor of the throughput section must do the DQN gradient work and
    # only that: one SGD step of dqn_loss on the minibatch its key draws.
    from bayesrl import random as fast_random
    from bayesrl.langevin import DQNBatch, adam_lmcdqn, dqn_loss
    from benchmarks.langevin import _gradient_floor_program

    env = NChain(5)
    train = adam_lmcdqn(env, env.default_params)
    capacity = 64
    program, args = _gradient_floor_program(env, train, 2, 1, capacity=capacity)
    params, obs, next_obs, action, reward, done, keys = args
    stepped = jax.jit(program)(*args)
    first = jax.tree.map(lambda leaf: leaf[0], params)
    second = jax.tree.map(lambda leaf: leaf[1], params)
    assert not np.allclose(_leaves(first)[0], _leaves(second)[0])  # own inits

    rows = fast_random.randint(fast_random.split(keys[0], 1)[0], (32,), 0, capacity)
    batch = DQNBatch(
        obs=obs[0][rows],
        action=action[0][rows],
        returns=reward[0][rows],
        next_obs=next_obs[0][rows],
        bootstrap=0.99 * (1.0 - done[0][rows]),
        first_obs=None,
    )
    grads = jax.grad(dqn_loss, argnums=1)(
        train.q_values, first, first, batch, double_q=False
    )
    assert max(float(jnp.abs(g).max()) for g in _leaves(grads)) > 0
    expected = jax.tree.map(lambda p, g: p - 1e-2 * g, first, grads)
    for got, want in zip(
        _leaves(jax.tree.map(lambda leaf: leaf[0], stepped)),
        _leaves(expected),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def _leaves(tree):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]
