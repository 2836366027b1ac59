"""The DQN loss: double-Q targets against an independent NumPy computation, and
the Feel-Good gradient against the closed form of a linear Q-network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl.langevin import DQNBatch, dqn_loss, td_targets

NUM_ACTIONS, OBS_DIM, BATCH = 3, 4, 16


def _linear_q(params, obs):
    return obs @ params["w"] + params["b"]


def _batch(rng, with_first_obs=True):
    return DQNBatch(
        obs=jnp.asarray(rng.normal(size=(BATCH, OBS_DIM)), jnp.float32),
        action=jnp.asarray(rng.integers(0, NUM_ACTIONS, BATCH), jnp.int32),
        returns=jnp.asarray(rng.normal(size=BATCH), jnp.float32),
        next_obs=jnp.asarray(rng.normal(size=(BATCH, OBS_DIM)), jnp.float32),
        # 0 marks a terminated window: no bootstrap.
        bootstrap=jnp.asarray(rng.choice([0.0, 0.99, 0.9801], BATCH), jnp.float32),
        first_obs=(
            jnp.asarray(rng.normal(size=(BATCH, OBS_DIM)), jnp.float32)
            if with_first_obs
            else None
        ),
    )


def _params(rng):
    return {
        "w": jnp.asarray(rng.normal(size=(OBS_DIM, NUM_ACTIONS)), jnp.float32),
        "b": jnp.asarray(rng.normal(size=NUM_ACTIONS), jnp.float32),
    }


def _numpy(tree):
    return {k: np.asarray(v, np.float64) for k, v in tree.items()}


def _numpy_targets(batch, online, target, double_q):
    """1-step (double) Q-learning targets, one transition at a time."""
    out = []
    for i in range(BATCH):
        s_next = np.asarray(batch.next_obs[i], np.float64)
        q_target = s_next @ target["w"] + target["b"]
        q_online = s_next @ online["w"] + online["b"]
        best = int(np.argmax(q_online if double_q else q_target))
        out.append(float(batch.returns[i]) + float(batch.bootstrap[i]) * q_target[best])
    return np.array(out)


@pytest.mark.parametrize("double_q", [True, False])
def test_td_targets_match_numpy_double_q_learning(double_q):
    rng = np.random.default_rng(0)
    batch = _batch(rng)
    online, target = _params(rng), _params(rng)
    next_online = jax.vmap(_linear_q, in_axes=(None, 0))(online, batch.next_obs)
    next_target = jax.vmap(_linear_q, in_axes=(None, 0))(target, batch.next_obs)
    ours = td_targets(
        next_online, next_target, batch.returns, batch.bootstrap, double_q
    )
    expected = _numpy_targets(batch, _numpy(online), _numpy(target), double_q)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
    # The two rules disagree somewhere on this batch (the test can tell them apart).
    other = _numpy_targets(batch, _numpy(online), _numpy(target), not double_q)
    assert not np.allclose(expected, other)


@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize("feel_good_weight", [0.0, 0.3])
def test_loss_and_gradient_match_the_closed_form_of_a_linear_q(
    double_q, feel_good_weight
):
    # For Q_w(s, a) = s' W[:, a] + b[a] the gradient of
    # mean_i (G_i - Q(s_i, a_i))^2 - eta_fg mean_i max_a Q(s1_i, a), with G held
    # fixed, is -2/B sum_i (G_i - Q_i) e(s_i, a_i) - eta_fg/B sum_i e(s1_i, a*_i),
    # e(s, a) the indicator of column a times (s, 1): the FG gradient flows
    # through the online network at the start state's greedy action.
    rng = np.random.default_rng(1)
    batch = _batch(rng)
    params, target_params = _params(rng), _params(rng)
    loss, grads = jax.value_and_grad(dqn_loss, argnums=1)(
        _linear_q,
        params,
        target_params,
        batch,
        double_q=double_q,
        feel_good_weight=feel_good_weight,
    )
    p = _numpy(params)
    targets = _numpy_targets(batch, p, _numpy(target_params), double_q)
    obs = np.asarray(batch.obs, np.float64)
    first = np.asarray(batch.first_obs, np.float64)
    actions = np.asarray(batch.action)
    q_taken = (obs @ p["w"] + p["b"])[np.arange(BATCH), actions]
    start_q = first @ p["w"] + p["b"]
    expected_loss = np.mean((targets - q_taken) ** 2) - feel_good_weight * np.mean(
        start_q.max(axis=1)
    )
    grad_w, grad_b = np.zeros_like(p["w"]), np.zeros_like(p["b"])
    for i in range(BATCH):
        residual = targets[i] - q_taken[i]
        grad_w[:, actions[i]] += -2.0 / BATCH * residual * obs[i]
        grad_b[actions[i]] += -2.0 / BATCH * residual
        best = int(np.argmax(start_q[i]))
        grad_w[:, best] += -feel_good_weight / BATCH * first[i]
        grad_b[best] += -feel_good_weight / BATCH
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads["w"], grad_w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads["b"], grad_b, rtol=1e-4, atol=1e-5)


def test_feel_good_weight_may_be_traced_and_zero_needs_no_first_obs():
    rng = np.random.default_rng(2)
    batch = _batch(rng)
    params, target_params = _params(rng), _params(rng)

    def loss(weight):
        return dqn_loss(
            _linear_q,
            params,
            target_params,
            batch,
            double_q=True,
            feel_good_weight=weight,
        )

    weights = jnp.array([0.0, 0.5, 1.0])
    losses = np.asarray(jax.jit(jax.vmap(loss))(weights))
    start_value = np.mean(
        np.max(np.asarray(batch.first_obs) @ params["w"] + params["b"], axis=1)
    )
    np.testing.assert_allclose(losses[0] - losses, weights * start_value, rtol=1e-4)
    plain = dqn_loss(
        _linear_q,
        params,
        target_params,
        batch._replace(first_obs=None),
        double_q=True,
    )
    np.testing.assert_allclose(plain, losses[0], rtol=1e-6)
