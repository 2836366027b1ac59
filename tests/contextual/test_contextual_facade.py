"""ContextualBandit: errors leave the state untouched, fit = prior +
partial_fit, save/load round trip then update equals the unsaved path."""

import jax
import numpy as np
import pytest

import bayesrl
from bayesrl import ContextualBandit, bandits

NUM_ARMS, DIM = 3, 2


def _data(rows, seed=0, shared=False):
    rng = np.random.default_rng(seed)
    shape = (rows, NUM_ARMS, DIM) if shared else (rows, DIM)
    return (
        rng.integers(0, NUM_ARMS, rows),
        rng.normal(size=rows),
        rng.normal(size=shape),
    )


def _leaves(bandit):
    return [np.asarray(x).copy() for x in jax.tree.leaves(bandit.state)]


def test_refused_input_leaves_the_state_untouched():
    bandit = ContextualBandit(bandits.linear_thompson_sampling(NUM_ARMS, DIM), seed=0)
    bandit.fit(*_data(5))
    before = _leaves(bandit)
    arms, rewards, contexts = _data(4, seed=1)
    bad_inputs = {
        "dim": (arms, rewards, np.ones((4, DIM + 1))),
        "one row per arm": (arms, rewards, contexts[:3]),
        "finite": (arms, rewards, np.where(contexts > 0, np.nan, contexts)),
        "rewards must be finite": (arms, np.r_[rewards[:3], np.inf], contexts),
        r"arms must be in \[0, 3\)": (np.r_[arms[:3], 3], rewards, contexts),
        "integers": (arms.astype(float), rewards, contexts),
        "same length": (arms[:2], rewards, contexts),
    }
    for message, data in bad_inputs.items():
        with pytest.raises(ValueError, match=message):
            bandit.partial_fit(*data)
        with pytest.raises(ValueError, match=message):
            bandit.fit(*data)
    with pytest.raises(ValueError, match="available"):
        bandit.predict(contexts, available=np.zeros(NUM_ARMS, bool))
    with pytest.raises(ValueError, match="contexts"):
        bandit.predict(np.ones((2, 2, 2)))
    for a, b in zip(before, _leaves(bandit), strict=True):
        np.testing.assert_array_equal(a, b)


def test_singular_prior_and_foreign_agents_are_refused():
    with pytest.raises(ValueError, match="prior_scale"):
        ContextualBandit(
            bandits.linear_thompson_sampling(NUM_ARMS, DIM, prior_scale=0.0)
        )
    with pytest.raises(ValueError, match="factory"):
        ContextualBandit(
            bayesrl.Agent(lambda k: 0, lambda k, s, o: 0, lambda k, s, t: 0)
        )


def test_fit_is_prior_plus_partial_fit_and_predictions_follow_the_posterior():
    agent = bandits.linear_thompson_sampling(NUM_ARMS, DIM, noise_std=0.1)
    # Batches of 8 rows (one compiled update per facade).
    data = _data(8)
    fitted = ContextualBandit(agent, seed=0).fit(*data)
    partial = ContextualBandit(agent, seed=0)
    partial.partial_fit(*_data(8, seed=5))
    partial.fit(*data)  # from scratch again
    for a, b in zip(_leaves(fitted), _leaves(partial), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    # Expectations are x . m_k for the belief's posterior mean.
    contexts = np.random.default_rng(3).normal(size=(8, DIM))
    means = np.asarray(fitted.state.mean)
    np.testing.assert_allclose(
        fitted.predict_expectations(contexts), contexts @ means.T, rtol=1e-5, atol=1e-6
    )
    assert fitted.predict_expectations(contexts[0]).shape == (NUM_ARMS,)
    # Masks: only arm 2 allowed on row 1.
    mask = np.ones((8, NUM_ARMS), bool)
    mask[1] = [False, False, True]
    arms = fitted.predict(contexts, available=mask)
    assert arms.shape == (8,) and arms[1] == 2
    assert isinstance(fitted.predict(contexts[0]), int)


@pytest.mark.parametrize("layout", ["shared"])  # disjoint contexts: tests above
def test_save_load_then_update_equals_the_unsaved_path(tmp_path, layout):
    agent = bandits.linear_thompson_sampling(NUM_ARMS, DIM, layout=layout)
    shared = layout == "shared"
    # Batches of 8 rows: one compiled update and predict per facade.
    bandit = ContextualBandit(agent, seed=3).fit(*_data(8, shared=shared))
    path = tmp_path / "bandit.zip"
    bandit.save(path)
    loaded = ContextualBandit.load(path)
    for other in (bandit, loaded):
        other.partial_fit(*_data(8, seed=1, shared=shared))
    contexts = _data(8, seed=2, shared=shared)[2]
    np.testing.assert_array_equal(bandit.predict(contexts), loaded.predict(contexts))
    for a, b in zip(_leaves(bandit), _leaves(loaded), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="ContextualBandit"):
        bayesrl.Bandit.load(path)


def test_model_free_agents_fix_the_dimension_at_the_first_call():
    bandit = ContextualBandit(bandits.uniform(NUM_ARMS), seed=0)
    bandit.fit(*_data(4))
    assert bandit.dim == DIM
    with pytest.raises(ValueError, match="dim"):
        bandit.predict(np.ones((1, DIM + 1)))
    assert bandit.predict(np.ones((6, DIM))).shape == (6,)
