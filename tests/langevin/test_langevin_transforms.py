"""The Langevin transforms: blackjax equivalence, the official Adam-SGLD step,
revert-and-flag and refused hyper-parameters."""

import functools

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from blackjax.util import generate_gaussian_noise

from bayesrl.langevin import (
    adam_langevin,
    adam_underdamped_langevin,
    preconditioned_langevin,
    sgld,
)


def _tree(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "w": jax.random.normal(k1, (3, 4)),
        "b": jax.random.normal(k2, (4,)),
        "s": {"scalar": jax.random.normal(k3, ())},
    }


def _loss(params, batch):
    # A non-quadratic loss so the gradient depends on the position.
    x, y = batch
    pred = jnp.tanh(x @ params["w"] + params["b"]) * params["s"]["scalar"]
    return jnp.sum((pred - y) ** 2)


def test_sgld_one_step_equals_blackjax_under_jit_and_vmap(key):
    params = _tree(key)
    batch = (jnp.linspace(-1, 1, 15).reshape(5, 3), jnp.ones((5, 4)))
    step_size, temperature = 1e-2, 0.3

    def ours(k):
        transform = sgld(step_size, temperature)
        grads = jax.grad(_loss)(params, batch)
        updates, _ = transform.update(grads, transform.init(params), key=k)
        return optax.apply_updates(params, updates)

    def theirs(k):
        kernel = blackjax.sgld(
            lambda x, b: jax.tree.map(jnp.negative, jax.grad(_loss)(x, b))
        )
        return kernel.step(k, params, batch, step_size, temperature)

    keys = jax.random.split(jax.random.key(7), 16)
    ours_out = jax.jit(jax.vmap(ours))(keys)
    theirs_out = jax.jit(jax.vmap(theirs))(keys)
    for a, b in zip(
        jax.tree.leaves(ours_out), jax.tree.leaves(theirs_out), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # The noise is not degenerate: different keys, different positions.
    assert not np.allclose(ours_out["w"][0], ours_out["w"][1])


def test_blackjax_sgld_api_has_not_drifted():
    import inspect

    names = list(inspect.signature(blackjax.sgld.build_kernel()).parameters)
    assert names == [
        "rng_key",
        "position",
        "grad_estimator",
        "minibatch",
        "step_size",
        "temperature",
    ]


def test_adam_langevin_with_zero_bias_is_sgld(key):
    params = _tree(key)
    grads = jax.tree.map(lambda x: 0.5 * x + 0.1, params)
    beta, eta = 40.0, 3e-3
    adam = adam_langevin(eta, bias_factor=0.0, inverse_temperature=beta)
    plain = sgld(eta, temperature=1.0 / beta)
    state_a, state_s = adam.init(params), plain.init(params)
    adam_update, plain_update = jax.jit(adam.update), jax.jit(plain.update)
    for k in jax.random.split(jax.random.key(3), 4):
        ua, state_a = adam_update(grads, state_a, params, key=k)
        us, state_s = plain_update(grads, state_s, key=k)
        for a, b in zip(jax.tree.leaves(ua), jax.tree.leaves(us), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def _numpy_official_step(w, g, m, v, xi, t, *, eta, a, beta, b1, b2, eps, wd, bc):
    """The official aSGLD step, written from the paper/spec (section 2.1)."""
    g = g + wd * w
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_use, v_use = (m / (1 - b1**t), v / (1 - b2**t)) if bc else (m, v)
    w_new = w - eta * g - eta * a * m_use / (np.sqrt(v_use) + eps)
    w_new = w_new + np.sqrt(2 * eta / beta) * xi
    return w_new, m, v


@pytest.mark.parametrize(
    "weight_decay,bias_correction", [(0.0, False), (0.01, False), (0.0, True)]
)
def test_adam_langevin_matches_numpy_reference(key, weight_decay, bias_correction):
    hyper = dict(eta=1e-2, a=0.7, beta=1e4, b1=0.9, b2=0.999, eps=1e-8)
    transform = adam_langevin(
        hyper["eta"],
        hyper["a"],
        hyper["beta"],
        weight_decay=weight_decay,
        bias_correction=bias_correction,
    )
    params = {"w": jnp.array([0.3, -1.2, 2.0]), "b": jnp.array([[0.5], [-0.1]])}
    state = transform.init(params)
    update = jax.jit(transform.update)
    ref_w = {k: np.asarray(v, np.float64) for k, v in params.items()}
    ref_m = {k: np.zeros_like(v) for k, v in ref_w.items()}
    ref_v = {k: np.zeros_like(v) for k, v in ref_w.items()}
    rng = np.random.default_rng(0)
    for t, k in enumerate(jax.random.split(key, 6), start=1):
        grads = {
            n: jnp.asarray(rng.normal(size=p.shape), jnp.float32)
            for n, p in params.items()
        }
        xi = generate_gaussian_noise(k, grads)  # the same draw the transform makes
        updates, state = update(grads, state, params, key=k)
        params = optax.apply_updates(params, updates)
        for n in ref_w:
            ref_w[n], ref_m[n], ref_v[n] = _numpy_official_step(
                ref_w[n],
                np.asarray(grads[n], np.float64),
                ref_m[n],
                ref_v[n],
                np.asarray(xi[n], np.float64),
                t,
                wd=weight_decay,
                bc=bias_correction,
                **hyper,
            )
            np.testing.assert_allclose(params[n], ref_w[n], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(state.mu[n], ref_m[n], rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(state.nu[n], ref_v[n], rtol=1e-5, atol=1e-9)
        if t == 1 and not weight_decay:
            # No bias correction: the first moments are 0.1 g and 0.001 g^2.
            np.testing.assert_allclose(state.mu["w"], 0.1 * grads["w"], rtol=1e-6)
            np.testing.assert_allclose(state.nu["w"], 1e-3 * grads["w"] ** 2, rtol=1e-5)


def test_adam_langevin_noise_is_isotropic_not_preconditioned(key):
    # Two coordinates with gradient scales 1e-3 and 1e3: the noise std is the same.
    beta, eta = 1.0, 1e-2
    transform = adam_langevin(eta, 1.0, beta)
    grads = jnp.array([1e-3, 1e3])
    params = jnp.zeros(2)

    def one(k):
        updates, state = transform.update(grads, transform.init(params), params, key=k)
        drift = eta * (grads + state.mu / (jnp.sqrt(state.nu) + 1e-8))
        return updates + drift

    noise = jax.jit(jax.vmap(one))(jax.random.split(key, 20_000))
    expected = np.sqrt(2 * eta / beta)
    se = expected * np.sqrt(2 / 20_000)
    np.testing.assert_allclose(np.std(noise, axis=0), expected, atol=5 * se)


def test_first_adam_step_with_zero_gradient_is_finite(key):
    transform = adam_langevin(1e-3, 1.0, 1e10)
    params = jnp.ones(3)
    updates, state = transform.update(
        jnp.zeros(3), transform.init(params), params, key=key
    )
    assert np.all(np.isfinite(updates)) and int(state.num_nonfinite) == 0


def test_nonfinite_steps_are_reverted_and_counted(key):
    # eps = 0 and a zero gradient gives 0/0 in the Adam term: reverted.
    transform = adam_langevin(1e-3, 1.0, 1e10, eps=0.0)
    params = jnp.ones(3)
    state0 = transform.init(params)
    updates, state = transform.update(jnp.zeros(3), state0, params, key=key)
    np.testing.assert_array_equal(updates, 0.0)
    assert int(state.num_nonfinite) == 1 and int(state.count) == 0
    # An extreme step size on w^4 overflows float32 within a few steps: every
    # accepted position stays finite and the blow-up is flagged.
    transform = sgld(1e6, temperature=1.0)

    def body(carry, k):
        w, s = carry
        updates, s = transform.update(4 * w**3, s, key=k)
        return (w + updates, s), w

    (w, s), path = jax.lax.scan(
        body, (jnp.ones(4), transform.init(None)), jax.random.split(key, 50)
    )
    assert np.all(np.isfinite(path)) and np.all(np.isfinite(w))
    assert int(s.num_nonfinite) > 0


def test_adam_langevin_reverts_the_whole_tree_when_one_leaf_is_nonfinite(key):
    # The step runs on the raveled tree: a 0/0 in one leaf (eps = 0, zero
    # gradient on "b") reverts every leaf, and the moments keep the tree.
    transform = adam_langevin(1e-3, 1.0, 1e10, eps=0.0)
    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(4)}
    state0 = transform.init(params)
    grads = {"w": jnp.ones((2, 3)), "b": jnp.zeros(4)}
    updates, state = transform.update(grads, state0, params, key=key)
    for leaf in jax.tree.leaves(updates):
        np.testing.assert_array_equal(leaf, 0.0)
    assert jax.tree.structure(state.mu) == jax.tree.structure(params)
    for new, old in zip(jax.tree.leaves(state), jax.tree.leaves(state0), strict=True):
        if new.shape:  # moments; the counters are checked below
            np.testing.assert_array_equal(new, old)
    assert int(state.num_nonfinite) == 1 and int(state.count) == 0


def test_preconditioned_langevin_reduces_to_sgld_and_scales_per_coordinate(key):
    grads = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
    eta, temp = 0.1, 0.2
    plain, _ = sgld(eta, temp).update(grads, sgld(eta, temp).init(grads), key=key)
    pre = preconditioned_langevin(eta, temp)
    same, _ = pre.update(grads, pre.init(grads), key=key)
    for x, y in zip(jax.tree.leaves(plain), jax.tree.leaves(same), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6)
    p = {"a": jnp.array([4.0, 0.25]), "b": jnp.array(9.0)}
    scaled, _ = pre.update(grads, pre.init(grads), key=key, preconditioner=p)
    xi = generate_gaussian_noise(key, grads)
    for n in grads:
        expected = -eta * p[n] * grads[n] + np.sqrt(2 * eta * temp * p[n]) * xi[n]
        np.testing.assert_allclose(scaled[n], expected, rtol=1e-6)
    bad = {"a": jnp.array([-1.0, 1.0]), "b": jnp.array(1.0)}
    zero, state = pre.update(grads, pre.init(grads), key=key, preconditioner=bad)
    assert int(state.num_nonfinite) == 1
    np.testing.assert_array_equal(zero["a"], 0.0)


def test_published_noise_is_below_float32_resolution(key):
    # Atari settings: eta = 1e-4 and sigma_n <= 1e-6 give a per-step std < 1.5e-8.
    for sigma in (1e-8, 1e-7, 1e-6):
        transform = adam_langevin(1e-4, 0.0, sigma**-2)
        updates, _ = transform.update(
            jnp.zeros(10_000), transform.init(jnp.zeros(10_000)), key=key
        )
        assert float(jnp.std(updates)) < 1.5e-8
    assert np.float32(0.1) + np.float32(1e-10) == np.float32(0.1)


def test_noise_multiplier_zero_is_a_vmappable_configuration(key):
    def run(multiplier):
        transform = adam_langevin(1e-2, 0.1, 1.0, noise_multiplier=multiplier)
        updates, _ = transform.update(
            jnp.ones(3), transform.init(jnp.zeros(3)), key=key
        )
        return updates

    out = jax.jit(jax.vmap(run))(jnp.array([0.0, 1.0]))
    expected_drift = -1e-2 * (1.0 + 0.1 * 0.1 / (np.sqrt(1e-3) + 1e-8))
    np.testing.assert_allclose(out[0], expected_drift, rtol=1e-5)
    assert not np.allclose(out[1], expected_drift)


@pytest.mark.parametrize(
    "factory",
    [adam_langevin, functools.partial(adam_underdamped_langevin, friction=1.0)],
    ids=["aSGLD", "aULMC"],
)
def test_a_concrete_zero_noise_multiplier_skips_the_draw(factory, key):
    # The noise-off ablation draws nothing (no inverse-erf normal transform in
    # its program) and steps as a traced multiplier of 0, which draws, up to
    # float32 rounding (XLA may contract a multiply-add into an FMA in one
    # program and not in the other: a few ulps).
    def update(multiplier):
        transform = factory(
            step_size=1e-2,
            bias_factor=0.1,
            inverse_temperature=1.0,
            noise_multiplier=multiplier,
        )
        grads = jnp.linspace(-1.0, 2.0, 7)
        return transform.update(grads, transform.init(jnp.zeros(7)), key=key)[0]

    assert "erf_inv" not in str(jax.make_jaxpr(lambda: update(0.0))())
    assert "erf_inv" in str(jax.make_jaxpr(update)(0.0))
    np.testing.assert_allclose(
        jax.jit(update)(0.0), update(0.0), rtol=4 * np.finfo(np.float32).eps
    )


@pytest.mark.parametrize(
    "factory,kwargs,name",
    [
        (sgld, dict(step_size=0.0), "step_size"),
        (sgld, dict(step_size=1e-3, temperature=-1.0), "temperature"),
        (sgld, dict(step_size=float("nan")), "step_size"),
        (preconditioned_langevin, dict(step_size=-1.0), "step_size"),
        (
            adam_langevin,
            dict(step_size=1e-3, bias_factor=-1.0, inverse_temperature=1.0),
            "bias_factor",
        ),
        (
            adam_langevin,
            dict(step_size=1e-3, bias_factor=1.0, inverse_temperature=0.0),
            "inverse_temperature",
        ),
        (
            adam_langevin,
            dict(step_size=1e-3, bias_factor=1.0, inverse_temperature=1.0, b1=1.0),
            "b1",
        ),
    ],
)
def test_invalid_hyper_parameters_are_refused(factory, kwargs, name):
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)
