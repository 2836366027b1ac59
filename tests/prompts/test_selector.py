"""PromptSelector: interface, checkpoint round-trip, refused feedback, metrics
(``prompts.md`` section 7.5, items 11 and 12)."""

import numpy as np
import pytest
from scipy import stats

from bayesrl.prompts import PromptSelector

NUM_PROMPTS, BATCH = 500, 16


def feedback(ids, step):
    rng = np.random.default_rng(step)
    trials = np.full(ids.size, 8)
    return rng.binomial(trials, (ids % 10) / 10.0), trials


def test_select_returns_distinct_int64_ids():
    selector = PromptSelector(NUM_PROMPTS, BATCH, seed=3)
    for _ in range(5):
        ids = selector.select()
        assert ids.dtype == np.int64 and ids.shape == (BATCH,)
        assert np.unique(ids).size == BATCH
        assert ids.min() >= 0 and ids.max() < NUM_PROMPTS


def test_state_dict_round_trip_gives_identical_next_selections():
    options = dict(discount=0.5, time_discount=0.99, candidate_multiplier=4)
    original = PromptSelector(NUM_PROMPTS, BATCH, seed=1, **options)
    for step in range(12):
        ids = original.select()
        original.update(ids, *feedback(ids, step))
    original.select()  # a selection ahead of its update is part of the state
    saved = original.state_dict()
    assert all(isinstance(v, np.ndarray) for v in saved.values())
    assert saved["alpha"].shape == saved["beta"].shape == (NUM_PROMPTS,)

    resumed = PromptSelector(NUM_PROMPTS, BATCH, seed=999, **options)
    resumed.load_state_dict(saved)
    for step in range(12, 40):  # crosses candidate epochs
        ids_original, ids_resumed = original.select(), resumed.select()
        np.testing.assert_array_equal(ids_original, ids_resumed)
        original.update(ids_original, *feedback(ids_original, step))
        resumed.update(ids_resumed, *feedback(ids_resumed, step))
    for name in ("alpha", "beta", "last_visit", "round_keys", "cursor", "epoch"):
        np.testing.assert_array_equal(
            original.state_dict()[name], resumed.state_dict()[name]
        )


def test_load_refuses_another_configuration_and_missing_entries():
    saved = PromptSelector(NUM_PROMPTS, BATCH, discount=0.5).state_dict()
    other = PromptSelector(NUM_PROMPTS, BATCH, discount=1.0)
    before = other.state_dict()
    with pytest.raises(ValueError, match="discount"):
        other.load_state_dict(saved)
    incomplete = dict(saved)
    del incomplete["alpha"]
    with pytest.raises(ValueError, match="alpha"):
        PromptSelector(NUM_PROMPTS, BATCH, discount=0.5).load_state_dict(incomplete)
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize(
    "ids,successes,trials,message",
    [
        ([1, NUM_PROMPTS], [1, 1], [2, 2], "ids must be in"),
        ([-1, 2], [1, 1], [2, 2], "ids must be in"),
        ([1.0, 2.0], [1, 1], [2, 2], "integers"),
        ([1, 2], [3, 1], [2, 2], "successes must be <= trials"),
        ([1, 2], [np.nan, 1], [2, 2], "finite"),
        ([1, 2], [-1, 1], [2, 2], "successes must be >= 0"),
        ([1, 2], [1, 1], [-2, 2], "trials must be > 0"),
        ([1, 2], [1], [2, 2], "shape"),
        ([], [], [], "non-empty"),
    ],
)
def test_bad_feedback_is_refused_and_state_unchanged(ids, successes, trials, message):
    selector = PromptSelector(NUM_PROMPTS, BATCH, seed=0, discount=0.5)
    first = selector.select()
    selector.update(first, *feedback(first, 0))
    before = selector.state_dict()
    with pytest.raises(ValueError, match=message):
        selector.update(np.asarray(ids), successes, trials)
    after = selector.state_dict()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value)


def test_per_response_rewards_equal_counts():
    by_rewards = PromptSelector(NUM_PROMPTS, BATCH, seed=0, success_threshold=0.5)
    by_counts = PromptSelector(NUM_PROMPTS, BATCH, seed=0, success_threshold=0.5)
    ids = by_rewards.select()
    by_counts.select()
    rng = np.random.default_rng(0)
    rewards = rng.uniform(0, 1, (BATCH, 8))
    order = rng.permutation(BATCH * 8)  # trainers reorder response rows
    rows = np.repeat(ids, 8)[order]
    info = by_rewards.update(rows, rewards=rewards.ravel()[order])
    by_counts.update(ids, (rewards >= 0.5).sum(axis=1), np.full(BATCH, 8))
    np.testing.assert_array_equal(
        by_rewards.state_dict()["alpha"], by_counts.state_dict()["alpha"]
    )
    assert info["num_groups"] == BATCH
    with pytest.raises(ValueError, match="finite"):
        by_rewards.update(rows[:2], rewards=[np.nan, 1.0])


def test_update_info_matches_its_definitions():
    selector = PromptSelector(NUM_PROMPTS, BATCH, seed=0)
    for step in range(30):  # learn first, so that correlations are defined
        ids = selector.select()
        info = selector.update(ids, *feedback(ids, step))
    ids = selector.select()
    successes, trials = feedback(ids, 99)
    draws = selector._last_selection[1]
    mean_before = selector.posterior_mean()[ids]
    info = selector.update(ids, successes, trials)
    assert info["solve_none"] == np.sum(successes == 0)
    assert info["solve_all"] == np.sum(successes == trials)
    assert info["zero_variance_fraction"] == pytest.approx(
        (info["solve_none"] + info["solve_all"]) / BATCH
    )
    rate = successes / trials
    assert info["rho_selected"] == pytest.approx(
        stats.spearmanr(mean_before, rate).statistic, abs=1e-5
    )
    assert info["rho_selected_mopps"] == pytest.approx(
        stats.spearmanr(draws, -rate).statistic, abs=1e-5
    )
    assert info["selections_ahead"] == 0
