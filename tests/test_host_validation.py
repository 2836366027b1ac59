"""Host-side facades validate input in the state's dtype (float32 by default).

Every bad input of a fixed grid (NaN, +-inf, finite in float64 but not in
float32, out of the model's support, complex, Python ints of any size, wrong
shapes) must raise ``ValueError`` and leave the state exactly as it was; an
update of finite inputs whose result would overflow the state is refused the
same way. The grid is deterministic, so a failure is reproducible.
"""

import jax
import numpy as np
import pytest

import bayesrl
from bayesrl import bandits, beliefs
from bayesrl._checks import host_real_array
from bayesrl.prompts import PromptSelector

BIG = 10**400
# Values no float32 state may receive, whatever the model.
NOT_FLOAT32 = [
    np.nan,
    np.inf,
    -np.inf,
    1e39,
    -1e39,
    np.float64(3.5e38),
    BIG,
    -BIG,
    1 + 2j,
    np.complex64(1.0),
    "1.0",
    None,
]


def _snapshot(obj):
    state = obj.state_dict() if isinstance(obj, PromptSelector) else obj.state
    return [np.array(leaf, copy=True) for leaf in jax.tree.leaves(state)]


def _assert_refused_and_unchanged(obj, call, *args, **kwargs):
    before = _snapshot(obj)
    with pytest.raises(ValueError):
        call(*args, **kwargs)
    after = _snapshot(obj)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


def _all_finite(obj):
    return all(
        np.all(np.isfinite(leaf))
        for leaf in _snapshot(obj)
        if np.issubdtype(leaf.dtype, np.floating)
    )


@pytest.mark.parametrize("value", NOT_FLOAT32, ids=repr)
def test_host_real_array_refuses_what_float32_cannot_hold(value):
    for wrapped in (value, [0.5, value], np.array([value], dtype=object)):
        with pytest.raises(ValueError):
            host_real_array("rewards", wrapped, np.float32)


def test_host_real_array_keeps_real_numbers_of_every_kind():
    values = [True, 3, np.int64(-4), 2.5, np.float32(1e38), 10**30, -(10**30)]
    out = host_real_array("rewards", np.array(values, dtype=object), np.float32)
    np.testing.assert_array_equal(out, np.array([float(v) for v in values]))
    with pytest.raises(ValueError, match=">= 0"):
        host_real_array("weights", [1.0, -1.0], np.float32, nonnegative=True)


BELIEFS = {
    "beta_bernoulli": lambda: beliefs.beta_bernoulli(3),
    "gaussian": lambda: beliefs.gaussian(3),
    "normal_gamma": lambda: beliefs.normal_gamma(3),
}


@pytest.mark.parametrize("facade", [bayesrl.Bandit, bayesrl.NumpyBandit])
@pytest.mark.parametrize("belief", sorted(BELIEFS))
def test_bandit_facades_refuse_bad_numbers_and_keep_their_state(facade, belief):
    bandit = facade(bandits.thompson_sampling(BELIEFS[belief]()))
    bandit.update([0, 1], [1.0, 0.0])
    refused = 0
    for value in NOT_FLOAT32:
        for call in (
            lambda v: bandit.update([0], [v]),
            lambda v: bandit.update(np.array([0, 1]), np.array([0.5, v], object)),
            lambda v: bandit.update([0], [1.0], [v]),
            lambda v: bandit.update_and_select([0], [v]),
        ):
            _assert_refused_and_unchanged(bandit, call, value)
            refused += 1
    shapes = [([0, 1], [1.0]), ([[0]], [[1.0]]), ([], []), ([0], [[1.0, 0.0]])]
    for arms, rewards in shapes:
        _assert_refused_and_unchanged(bandit, bandit.update, arms, rewards)
    _assert_refused_and_unchanged(bandit, bandit.update, [0], [1.0], [1.0, 2.0])
    _assert_refused_and_unchanged(bandit, bandit.update, [0], [1.0], [-1.0])
    if belief == "beta_bernoulli":  # out of the Bernoulli support
        for reward in (5.0, -1.0, 1.5, 3e38):
            _assert_refused_and_unchanged(bandit, bandit.update, [0], [reward])
    assert refused == 4 * len(NOT_FLOAT32)
    assert _all_finite(bandit)
    assert np.all(np.isfinite(bandit.posterior_mean()))


@pytest.mark.parametrize("facade", [bayesrl.Bandit, bayesrl.NumpyBandit])
@pytest.mark.parametrize(
    "belief, arms, rewards, weights",
    [
        ("gaussian", [0, 0], [3e38, 3e38], None),  # reward_sum overflows
        ("gaussian", [0], [3e38], [3e38]),  # weight x reward overflows
        ("normal_gamma", [0, 0], [1e20, -1e20], None),  # sum of squares
        ("normal_gamma", [0], [3e38], None),  # squared deviation from the prior
        ("beta_bernoulli", [0, 0], [1.0, 1.0], [3e38, 3e38]),  # successes
        ("beta_bernoulli", [0, 0], [1.0, 0.0], [3e38, 3e38]),  # alpha + beta
    ],
)
def test_updates_that_would_overflow_the_state_are_refused(
    facade, belief, arms, rewards, weights
):
    bandit = facade(bandits.thompson_sampling(BELIEFS[belief]()))
    bandit.update([1], [0.0])
    _assert_refused_and_unchanged(bandit, bandit.update, arms, rewards, weights)
    _assert_refused_and_unchanged(
        bandit, bandit.update_and_select, arms, rewards, weights
    )
    assert _all_finite(bandit)
    bandit.update([0], [1.0])  # still usable
    assert np.all(np.isfinite(bandit.posterior_mean()))


def test_contextual_bandit_refuses_bad_numbers_and_overflowing_contexts():
    bandit = bayesrl.ContextualBandit(bandits.linear_thompson_sampling(3, 2))
    rng = np.random.default_rng(0)
    bandit.partial_fit([0, 1], [0.5, -0.5], rng.normal(size=(2, 2)))
    for value in NOT_FLOAT32:
        context = np.array([[0.5, value]], dtype=object)
        for call in (bandit.partial_fit, bandit.fit):
            _assert_refused_and_unchanged(bandit, call, [0], [1.0], context)
            _assert_refused_and_unchanged(bandit, call, [0], [value], [[0.5, 0.5]])
        _assert_refused_and_unchanged(bandit, bandit.predict, context)
        _assert_refused_and_unchanged(bandit, bandit.predict_expectations, context)
    # Finite in float32, but x x^T overflows: 1e20 squared is 1e40.
    for call in (bandit.partial_fit, bandit.fit):
        _assert_refused_and_unchanged(bandit, call, [0], [1.0], [[1e20, 0.0]])
    assert _all_finite(bandit)
    assert np.all(np.isfinite(bandit.predict_expectations([[1.0, 1.0]])))


def test_prompt_selector_refuses_bad_numbers_and_does_not_count_them():
    selector = PromptSelector(64, 4, seed=0)
    ids = selector.select()
    counts = (selector.num_updates, len(selector._pending))
    for value in NOT_FLOAT32:
        column = np.array([1.0, 1.0, 1.0, value], dtype=object)
        for args, kwargs in (
            ((ids, column, np.full(4, 2.0)), {}),
            ((ids, np.ones(4), column), {}),
            ((np.repeat(ids, 2),), {"rewards": np.r_[column, column]}),
        ):
            _assert_refused_and_unchanged(selector, selector.update, *args, **kwargs)
            assert (selector.num_updates, len(selector._pending)) == counts
    info = selector.update(ids, np.ones(4), np.full(4, 2.0))
    assert selector.num_updates == 1 and info["num_groups"] == 4
    assert np.all(np.isfinite(selector.posterior_mean()))
