"""LMC-TS options of the reference code: logistic loss, step-size decay,
minibatches, the frozen-noise quirk and the Feel-Good term.

Gradients are read off one Langevin step at a huge inverse temperature
(``beta = 1e14``: noise std ``sqrt(2 eta / beta) ~ 1e-8``), ``(theta_0 -
theta_1) / eta``, and compared with NumPy closed forms written from the
formulas, not from the code under test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl import BanditObs, Transition, run_many
from bayesrl.envs import LinearContextualBandit
from bayesrl.langevin import lmc_ts
from bayesrl.testing import check_agent

NUM_ARMS, DIM, CAPACITY = 3, 4, 64
COLD = 1e14  # an inverse temperature at which the noise is below float32 rounding
ETA = 0.01


def _transition(context, action, reward):
    obs = BanditObs(available=jnp.ones(NUM_ARMS, bool), context=jnp.asarray(context))
    return Transition(
        obs, jnp.asarray(action), jnp.asarray(reward, jnp.float32), obs, False, False
    )


def _data(num_rounds, seed, binary):
    rng = np.random.default_rng(seed)
    contexts = rng.normal(size=(num_rounds, DIM)).astype(np.float32)
    actions = rng.integers(0, NUM_ARMS, num_rounds).astype(np.int32)
    if binary:
        rewards = rng.integers(0, 2, num_rounds).astype(np.float32)
    else:
        rewards = rng.normal(size=num_rounds).astype(np.float32)
    theta = (0.5 * rng.normal(size=(NUM_ARMS, DIM))).astype(np.float32)
    return contexts, actions, rewards, theta


def _filled_state(agent, contexts, actions, rewards, theta):
    """A state holding all but the last round (the update adds the last)."""
    n = len(rewards) - 1
    state = agent.init(jax.random.key(0))
    pad = CAPACITY - n
    return state._replace(
        params=jnp.asarray(theta),
        contexts=jnp.asarray(np.pad(contexts[:n], ((0, pad), (0, 0)))),
        actions=jnp.asarray(np.pad(actions[:n], (0, pad))),
        rewards=jnp.asarray(np.pad(rewards[:n], (0, pad))),
        count=jnp.asarray(n, jnp.int32),
    )


def _one_step_gradient(agent, state, contexts, actions, rewards, key):
    """``(theta_0 - theta_1) / eta`` of one update adding the last round."""
    transition = _transition(contexts[-1], actions[-1], rewards[-1])
    new, info = jax.jit(agent.update)(key, state, transition)
    return (state.params - new.params) / info.step_size


def _agent(**options):
    return lmc_ts(
        NUM_ARMS,
        DIM,
        inverse_temperature=COLD,
        num_inner_steps=1,
        ridge=1.0,
        step_size=ETA,
        capacity=CAPACITY,
        **options,
    )


def _ridge_gradient(theta, ridge=1.0):
    return 2.0 * ridge * theta


def test_logistic_gradient_matches_the_numpy_closed_form(key):
    contexts, actions, rewards, theta = _data(30, 0, binary=True)
    agent = _agent(loss="logistic")
    state = _filled_state(agent, contexts, actions, rewards, theta)
    grad = _one_step_gradient(agent, state, contexts, actions, rewards, key)
    # grad_a sum_s [log(1 + e^f_s) - r_s f_s] = sum_{a_s = a} (sigmoid(f_s) - r_s) x_s
    expected = _ridge_gradient(theta.astype(np.float64))
    for x, a, r in zip(contexts, actions, rewards, strict=True):
        f = float(theta[a] @ x)
        expected[a] += (1.0 / (1.0 + np.exp(-f)) - r) * x
    np.testing.assert_allclose(grad, expected, rtol=2e-3, atol=2e-3)


def test_feel_good_gradient_matches_the_numpy_reference(key):
    contexts, actions, rewards, theta = _data(30, 1, binary=False)
    scores = contexts @ theta.T
    cap = float(np.median(scores.max(1)))  # half the rounds are capped
    weight = 0.7
    agent = _agent(feel_good=(weight, cap))
    state = _filled_state(agent, contexts, actions, rewards, theta)
    grad = _one_step_gradient(agent, state, contexts, actions, rewards, key)
    expected = _ridge_gradient(theta.astype(np.float64))
    for x, a, r, s in zip(contexts, actions, rewards, scores, strict=True):
        expected[a] += 2.0 * (theta[a] @ x - r) * x
        # -weight * min(cap, max_b f(x, b)): slope only below the cap, on the argmax
        if s.max() < cap:
            expected[np.argmax(s)] -= weight * x
    np.testing.assert_allclose(grad, expected, rtol=2e-3, atol=2e-3)


def test_squared_buffered_gradient_equals_the_sufficient_statistics_path(key):
    """The buffer path (here through a zero-weight Feel-Good term) and the
    default sufficient-statistics path give the same squared-loss gradient."""
    contexts, actions, rewards, theta = _data(30, 2, binary=False)
    buffered = _agent(feel_good=(0.0, 1.0))
    state = _filled_state(buffered, contexts, actions, rewards, theta)
    grad = _one_step_gradient(buffered, state, contexts, actions, rewards, key)
    expected = _ridge_gradient(theta.astype(np.float64))
    for x, a, r in zip(contexts, actions, rewards, strict=True):
        expected[a] += 2.0 * (theta[a] @ x - r) * x
    np.testing.assert_allclose(grad, expected, rtol=2e-3, atol=2e-3)


def test_minibatch_gradient_is_unbiased_for_the_full_sum(key):
    contexts, actions, rewards, theta = _data(40, 3, binary=True)
    full = _agent(loss="logistic")
    mini = _agent(loss="logistic", batch_size=8)
    state = _filled_state(full, contexts, actions, rewards, theta)
    full_grad = np.asarray(
        _one_step_gradient(full, state, contexts, actions, rewards, key)
    )
    transition = _transition(contexts[-1], actions[-1], rewards[-1])
    num_draws = 4000
    keys = jax.random.split(key, num_draws)
    new, info = jax.jit(jax.vmap(mini.update, in_axes=(0, None, None)))(
        keys, state, transition
    )
    draws = np.asarray((state.params - new.params) / info.step_size[:, None, None])
    mean = draws.mean(0)
    se = draws.std(0, ddof=1) / np.sqrt(num_draws)
    assert np.all(se > 0)  # the estimate does vary with the minibatch
    z = (mean - full_grad) / se
    assert np.max(np.abs(z)) < 4.5, z  # 12 coordinates, ~1e-4 false alarm


def test_minibatch_uses_the_full_batch_while_the_data_fit_in_one(key):
    contexts, actions, rewards, theta = _data(6, 4, binary=True)
    full = _agent(loss="logistic")
    mini = _agent(loss="logistic", batch_size=8)
    state = _filled_state(full, contexts, actions, rewards, theta)
    grads = [
        _one_step_gradient(agent, state, contexts, actions, rewards, key)
        for agent in (full, mini)
    ]
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-5)


def _reference_step_sizes(num_rounds, eta0, decay_every, batch_size):
    """The schedule of devzhk/LMCTS ``LMCTS.update_model``, re-run in Python:
    the learning rate is only changed at multiples of ``decay_step``."""
    lr, out = eta0, []
    for step in range(1, num_rounds + 1):
        if batch_size and batch_size < step:
            if step % decay_every == 0:
                lr = 10 * eta0 / step
        elif step % decay_every == 0:
            lr = eta0 / step
        out.append(lr)
    return np.array(out)


@pytest.mark.parametrize("batch_size", [None, 25])
def test_inverse_t_decay_schedule_matches_the_reference(key, batch_size):
    num_rounds = 75
    agent = _agent(step_size_decay="inverse_t", decay_every=20, batch_size=batch_size)
    update = jax.jit(agent.update)
    state = agent.init(key)
    etas = []
    for t, k in enumerate(jax.random.split(key, num_rounds)):
        state, info = update(k, state, _transition(np.ones(DIM) * 0.1, t % 3, 0.5))
        etas.append(float(info.step_size))
    expected = _reference_step_sizes(num_rounds, ETA, 20, batch_size)
    np.testing.assert_allclose(etas, expected, rtol=1e-6)


@pytest.mark.parametrize("freeze", [False, True])
def test_noise_scale_actually_applied(key, freeze):
    """Zero gradient (theta = 0, reward 0), one step at round t = 40 with a decay
    every 20 rounds (eta_t = eta_0 / 40): the step is pure noise, whose variance
    is ``2 eta_t / beta`` (textbook) or ``eta_t^2 2 / (beta eta_0)`` (the
    reference's frozen noise)."""
    eta0, beta = 0.1, 10.0
    agent = lmc_ts(
        NUM_ARMS,
        DIM,
        inverse_temperature=beta,
        num_inner_steps=1,
        step_size=eta0,
        step_size_decay="inverse_t",
        decay_every=20,
        freeze_noise_step_size=freeze,
    )
    state = agent.init(key)._replace(count=jnp.asarray(39, jnp.int32))
    transition = _transition(np.ones(DIM), 0, 0.0)
    num_draws = 20_000
    keys = jax.random.split(key, num_draws)
    new, info = jax.jit(jax.vmap(agent.update, in_axes=(0, None, None)))(
        keys, state, transition
    )
    eta_t = eta0 / 40
    np.testing.assert_allclose(info.step_size, eta_t, rtol=1e-6)
    expected = eta_t**2 * 2.0 / (beta * eta0) if freeze else 2.0 * eta_t / beta
    samples = np.asarray(new.params).reshape(-1).astype(np.float64)
    variance = np.mean(samples**2)  # the mean is 0 by construction
    se = expected * np.sqrt(2.0 / samples.size)  # of a chi-square mean
    assert abs(variance - expected) < 5 * se, (variance, expected)


def _option_agents():
    common = dict(inverse_temperature=10.0, num_inner_steps=3, capacity=16)
    return {
        "logistic": lmc_ts(NUM_ARMS, DIM, loss="logistic", **common),
        "decay": lmc_ts(
            NUM_ARMS,
            DIM,
            step_size=0.05,
            step_size_decay="inverse_t",
            decay_every=2,
            freeze_noise_step_size=True,
            **common,
        ),
        "minibatch": lmc_ts(NUM_ARMS, DIM, batch_size=4, **common),
        "feel_good": lmc_ts(NUM_ARMS, DIM, feel_good=(0.5, 1.0), **common),
        "all": lmc_ts(
            NUM_ARMS,
            DIM,
            loss="logistic",
            step_size_decay="inverse_t",
            decay_every=2,
            batch_size=4,
            freeze_noise_step_size=True,
            feel_good=(0.5, 1.0),
            **common,
        ),
    }


@pytest.mark.parametrize("name", list(_option_agents()))
def test_each_option_passes_the_agent_contract(key, name):
    agent = _option_agents()[name]
    context = jnp.array([0.5, -1.0, 0.2, 0.0])
    obs = BanditObs(available=jnp.ones(NUM_ARMS, bool), context=context)
    transition = Transition(
        obs, jnp.asarray(1), jnp.asarray(1.0), obs, jnp.asarray(False), False
    )
    check_agent(agent, obs, transition, key)


def test_vmap_over_seeds_equals_a_loop_with_every_option(key):
    agent = _option_agents()["all"]
    contexts, actions, rewards, _ = _data(12, 5, binary=True)
    keys = jax.random.split(key, 3)
    states = jax.vmap(agent.init)(keys)
    update = jax.jit(agent.update)
    batched = jax.jit(jax.vmap(agent.update))
    loop = [jax.tree.map(lambda x, i=i: x[i], states) for i in range(3)]
    for t in range(12):
        step_keys = jax.random.split(jax.random.fold_in(key, t), 3)
        transitions = jax.vmap(_transition)(
            jnp.asarray(contexts[[t, (t + 1) % 12, (t + 2) % 12]]),
            jnp.asarray(actions[[t, t, t]]),
            jnp.asarray(rewards[[t, (t + 3) % 12, (t + 5) % 12]]),
        )
        states, _ = batched(step_keys, states, transitions)
        loop = [
            update(
                step_keys[i], loop[i], jax.tree.map(lambda x, i=i: x[i], transitions)
            )[0]
            for i in range(3)
        ]
    for i in range(3):
        np.testing.assert_allclose(
            states.params[i], loop[i].params, rtol=1e-5, atol=1e-6
        )


def test_logistic_reward_outside_the_unit_interval_is_rejected(key):
    agent = _agent(loss="logistic")
    state = agent.init(key)
    new, info = jax.jit(agent.update)(key, state, _transition(np.ones(DIM), 0, 2.0))
    assert bool(info.rejected) and int(new.count) == 0


def test_logistic_lmc_ts_beats_uniform_on_a_logistic_bandit():
    num_arms, dim, num_steps, num_seeds = 4, 3, 300, 4
    env = LinearContextualBandit(num_arms, dim, reward="logistic")
    params = env.sample_params(jax.random.key(7))
    params = params.replace(theta=2.0 * params.theta)
    agent = lmc_ts(
        num_arms,
        dim,
        inverse_temperature=50.0,
        num_inner_steps=10,
        loss="logistic",
        capacity=num_steps,
    )
    _, metrics = run_many(jax.random.key(8), agent, env, params, num_steps, num_seeds)
    regret = np.asarray(metrics.regret)
    contexts = jax.random.normal(jax.random.key(9), (20_000, dim))
    means = jax.nn.sigmoid(contexts @ params.theta.T)
    uniform = float(jnp.mean(means.max(1) - means.mean(1)))
    late = regret[:, -100:].mean()
    assert late < 0.5 * uniform, (late, uniform)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(loss="hinge"), "loss"),
        (dict(step_size_decay="exponential"), "step_size_decay"),
        (dict(decay_every=0), "decay_every"),
        (dict(batch_size=0, capacity=8), "batch_size"),
        (dict(batch_size=9, capacity=8), "batch_size"),
        (dict(freeze_noise_step_size="yes"), "freeze_noise_step_size"),
        (dict(feel_good=(-1.0, 1.0), capacity=8), "lambda_fg"),
        (dict(feel_good=(1.0, float("nan")), capacity=8), "cap b"),
        (dict(feel_good=0.5, capacity=8), "feel_good"),
        (dict(feel_good=(1.0, "high"), capacity=8), "cap b"),
        (dict(loss="logistic"), "capacity"),
        (dict(batch_size=4), "capacity"),
    ],
)
def test_invalid_option_values_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        lmc_ts(NUM_ARMS, DIM, inverse_temperature=1.0, **kwargs)
