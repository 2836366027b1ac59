"""PromptSelector: interface, checkpoint round-trip, refused feedback, metrics
and their attribution to the selection that was trained (first in, first out)."""

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
    draws = selector._pending[-1]["draws"]
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


def selection_record(selector):
    """Select, and keep what the selection's metrics must later describe:
    its ids, draws and the posterior means of its prompts when it was made."""
    ids = selector.select()
    draws = np.asarray(selector._pending[-1]["draws"])
    return ids, draws, selector.posterior_mean()[ids]


def test_updates_are_attributed_to_the_oldest_pending_selection():
    """A trainer that prefetches: selection t + 1 is made before update t.
    Each update's selection metrics describe selection t, the trained one."""
    selector = PromptSelector(NUM_PROMPTS, BATCH, seed=4, candidate_multiplier=2)
    for step in range(10):  # learn first, so that correlations are defined
        ids = selector.select()
        selector.update(ids, *feedback(ids, step))
    records = [selection_record(selector)]
    for step in range(10, 16):
        records.append(selection_record(selector))  # the prefetched batch
        assert selector.num_pending == 2
        ids, draws, means = records.pop(0)
        successes, trials = feedback(ids, step)
        info = selector.update(ids, successes, trials)
        assert info["selections_ahead"] == 1
        np.testing.assert_array_equal(selector.pending_selections()[0], records[0][0])
        rate = successes / trials
        assert info["rho_selected_mopps"] == pytest.approx(
            stats.spearmanr(draws, -rate).statistic, abs=1e-5
        )
        np.testing.assert_allclose(
            info["selected_mean_quantiles"],
            np.quantile(means, [0.1, 0.5, 0.9]),
            rtol=1e-5,
        )


def test_update_without_pending_selection_has_no_selection_metrics():
    selector = PromptSelector(NUM_PROMPTS, BATCH, seed=0)
    ids = np.arange(BATCH)
    info = selector.update(ids, *feedback(ids, 0))
    assert np.isnan(info["rho_selected_mopps"])
    assert "selected_mean_quantiles" not in info and info["selections_ahead"] == 0


def test_drop_oldest_pending_moves_attribution_to_the_next_selection():
    selector = PromptSelector(NUM_PROMPTS, BATCH, seed=2)
    first, second = selector.select(), selector.select()
    before = selector.state_dict()
    selector.drop_oldest_pending()
    np.testing.assert_array_equal(selector.pending_selections()[0], second)
    for name in ("alpha", "beta", "num_updates"):
        np.testing.assert_array_equal(selector.state_dict()[name], before[name])
    assert not np.array_equal(first, second)
    selector.update(second, *feedback(second, 0))
    assert selector.num_pending == 0
    selector.drop_oldest_pending()  # nothing pending: no effect
    assert selector.num_pending == 0


def test_pending_selections_survive_a_state_dict_round_trip():
    options = dict(discount=0.7, candidate_multiplier=2)
    original = PromptSelector(NUM_PROMPTS, BATCH, seed=6, **options)
    for step in range(8):
        ids = original.select()
        original.update(ids, *feedback(ids, step))
    original.select()
    original.select()  # two selections await feedback
    saved = original.state_dict()
    assert saved["pending_ids"].shape == (2, BATCH)
    resumed = PromptSelector(NUM_PROMPTS, BATCH, seed=0, **options)
    resumed.load_state_dict(saved)
    for a, b in zip(
        original.pending_selections(), resumed.pending_selections(), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    for step in range(8, 14):
        ids = original.pending_selections()[0]
        info_original = original.update(ids, *feedback(ids, step))
        info_resumed = resumed.update(ids, *feedback(ids, step))
        assert info_original.keys() == info_resumed.keys()
        for name, value in info_original.items():
            np.testing.assert_allclose(info_resumed[name], value, rtol=1e-6)
        np.testing.assert_array_equal(original.select(), resumed.select())


def test_state_without_pending_entries_loads_with_none_pending():
    """States written before pending selections were saved still load."""
    original = PromptSelector(NUM_PROMPTS, BATCH, seed=1)
    original.select()
    saved = {k: v for k, v in original.state_dict().items() if "pending" not in k}
    resumed = PromptSelector(NUM_PROMPTS, BATCH, seed=1)
    resumed.load_state_dict(saved)
    assert resumed.num_pending == 0 and resumed.num_selections == 1


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda s: s.pop("pending_draws"), "pending_draws"),
        (lambda s: s.update(pending_ids=s["pending_ids"][:, :-1]), "pending_ids"),
        (lambda s: s.update(pending_ids=s["pending_ids"] + NUM_PROMPTS), "not in"),
    ],
)
def test_load_refuses_bad_pending_entries_and_changes_nothing(edit, message):
    saved = PromptSelector(NUM_PROMPTS, BATCH, seed=1)
    saved.select()
    state = saved.state_dict()
    edit(state)
    target = PromptSelector(NUM_PROMPTS, BATCH, seed=1)
    target.select()
    before = target.state_dict()
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(state)
    after = target.state_dict()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value)


def test_pending_selections_are_bounded():
    from bayesrl.prompts.selector import MAX_PENDING_SELECTIONS

    selector = PromptSelector(64, 2, seed=0)
    selections = [selector.select() for _ in range(MAX_PENDING_SELECTIONS + 3)]
    assert selector.num_pending == MAX_PENDING_SELECTIONS
    np.testing.assert_array_equal(selector.pending_selections()[0], selections[3])


def _set(name, value):
    return lambda state: state.update({name: value})


def _scaled(name, factor):
    return lambda state: state.update({name: np.asarray(state[name], float) * factor})


BAD_STATE_EDITS = {
    # Counters: parsed before anything changes (alpha used to change first).
    "num_selections=abc": _set("num_selections", np.array("abc")),
    "num_selections=-1": _set("num_selections", np.array(-1)),
    "num_selections=1.5": _set("num_selections", np.array(1.5)),
    "num_selections=nan": _set("num_selections", np.array(np.nan)),
    "num_selections=[1,2]": _set("num_selections", np.array([1, 2])),
    "num_updates=10**400": _set("num_updates", np.array(10**400, dtype=object)),
    "num_updates=None": _set("num_updates", None),
    # The cursor: out of range made select() walk a Feistel cycle forever.
    "cursor=N": _set("cursor", np.array(NUM_PROMPTS, np.int32)),
    "cursor=-1": _set("cursor", np.array(-1, np.int32)),
    "cursor=N-B_hat+1": _set("cursor", np.array(NUM_PROMPTS - 31, np.int32)),
    "cursor=2**31-1": _set("cursor", np.array(2**31 - 1, np.int32)),
    "cursor=1.0": _set("cursor", np.array(1.0)),
    "epoch=-3": _set("epoch", np.array(-3, np.int32)),
    "step=2.5": _set("step", np.array(2.5)),
    "last_visit=-2": _set("last_visit", np.full(NUM_PROMPTS, -2, np.int32)),
    "round_keys=-1": _set("round_keys", np.full(6, -1, np.int64)),
    # Posterior parameters: finite and > 0 in float32.
    "alpha=nan": _scaled("alpha", np.nan),
    "alpha=-alpha": _scaled("alpha", -1.0),
    "beta=0": _scaled("beta", 0.0),
    "beta=1e39": _scaled("beta", 1e39),
    "alpha=complex": _scaled("alpha", 1j),
    "alpha=strings": _set("alpha", np.array(["1"] * NUM_PROMPTS)),
    "alpha=wrong shape": _set("alpha", np.ones(NUM_PROMPTS + 1)),
    # Key and configuration.
    "key_data=wrong shape": _set("key_data", np.zeros(3, np.uint32)),
    "key_impl=unknown": _set("key_impl", np.array("not-a-prng")),
    "config=not json": _set("config", np.array("{not json")),
    "config=a list": _set("config", np.array("[1, 2]")),
}


@pytest.mark.parametrize(
    "edit", list(BAD_STATE_EDITS.values()), ids=list(BAD_STATE_EDITS)
)
def test_load_validates_everything_before_changing_anything(edit):
    source = PromptSelector(NUM_PROMPTS, BATCH, seed=1, num_candidates=32)
    for step in range(3):
        source.update(ids := source.select(), *feedback(ids, step))
    source.select()  # one pending selection
    state = source.state_dict()
    edit(state)
    target = PromptSelector(NUM_PROMPTS, BATCH, seed=2, num_candidates=32)
    target.update(ids := target.select(), *feedback(ids, 9))
    before = target.state_dict()
    counters = (target.num_selections, target.num_updates, target.num_pending)
    with pytest.raises(ValueError):
        target.load_state_dict(state)
    after = target.state_dict()
    assert before.keys() == after.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    assert (target.num_selections, target.num_updates, target.num_pending) == counters
    assert target.select().shape == (BATCH,)  # still usable, and no hang


def test_every_cursor_a_load_accepts_selects_distinct_ids():
    source = PromptSelector(NUM_PROMPTS, BATCH, seed=1, num_candidates=32)
    state = source.state_dict()
    for cursor in (0, 1, NUM_PROMPTS - 33, NUM_PROMPTS - 32):
        state["cursor"] = np.array(cursor, np.int32)
        target = PromptSelector(NUM_PROMPTS, BATCH, seed=1, num_candidates=32)
        target.load_state_dict(state)
        ids = target.select()
        assert np.unique(ids).size == BATCH and 0 <= ids.min() <= ids.max() < 500


def test_the_cycle_walk_ends_for_positions_outside_the_pool():
    import jax.numpy as jnp

    from bayesrl.prompts import stream

    keys = jnp.arange(6, dtype=jnp.uint32)
    positions = jnp.arange(490, 530, dtype=jnp.int32)  # 500..529 are outside
    out = stream.permute(keys, positions, NUM_PROMPTS)  # returns: no hang
    inside = stream.permute(keys, jnp.arange(500, dtype=jnp.int32), NUM_PROMPTS)
    assert sorted(np.asarray(inside).tolist()) == list(range(500))
    np.testing.assert_array_equal(np.asarray(out[:10]), np.asarray(inside[490:]))
