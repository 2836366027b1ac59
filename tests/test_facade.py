"""bayesrl.Bandit: validation leaves state untouched, save/load round trip."""

import json
import zipfile

import jax
import numpy as np
import pytest

import bayesrl
from bayesrl import bandits, beliefs


def make(agent=None, seed=3, facade=bayesrl.Bandit):
    agent = agent or bandits.thompson_sampling(
        beliefs.beta_bernoulli(5, prior_alpha=2.0)
    )
    return facade(agent, seed=seed)


# The host-side facades that share _HostFacade's input checks.
FACADES = [bayesrl.Bandit, bayesrl.NumpyBandit]


def test_select_update_and_posterior():
    bandit = make()
    arm = bandit.select()
    assert isinstance(arm, int) and 0 <= arm < 5
    bandit.update([arm, arm, 4], [1.0, 0.0, 1.0])
    assert float(bandit.state.alpha[arm]) == (3.0 if arm != 4 else 4.0)
    assert bandit.posterior_mean().shape == (5,)
    arms = make(
        bandits.thompson_sampling(beliefs.beta_bernoulli(5), batch_size=3)
    ).select()
    assert arms.shape == (3,) and len(set(arms.tolist())) == 3


@pytest.mark.parametrize(
    "arms,rewards,weights,match",
    [
        ([5], [1.0], None, "arms must be in"),
        ([-1], [1.0], None, "arms must be in"),
        ([0.5], [1.0], None, "integers"),
        ([0, 1], [1.0], None, "same length"),
        ([], [], None, "non-empty"),
        ([0], [np.nan], None, "finite"),
        ([0], [1.5], None, "must lie in"),
        ([0], [1.0], [-1.0], "weights"),
        ([[0]], [[1.0]], None, "1-D"),
    ],
)
@pytest.mark.parametrize("facade", FACADES)
def test_bad_feedback_is_refused_and_state_untouched(
    arms, rewards, weights, match, facade
):
    bandit = make(facade=facade)
    before = jax.tree.map(np.array, bandit.state)
    with pytest.raises(ValueError, match=match):
        bandit.update(arms, rewards, weights)
    for x, y in zip(
        jax.tree.leaves(before), jax.tree.leaves(bandit.state), strict=True
    ):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("facade", FACADES)
def test_masks_and_bad_masks(facade):
    bandit = make(facade=facade)
    mask = np.array([False, False, True, False, False])
    assert all(bandit.select(available=mask) == 2 for _ in range(5))
    assert all(
        bandit.update_and_select([0], [1.0], available=mask) == 2 for _ in range(5)
    )
    before = jax.tree.map(np.array, bandit.state)
    with pytest.raises(ValueError, match="available"):
        bandit.select(available=np.zeros(5, bool))
    with pytest.raises(ValueError, match="available"):
        bandit.update_and_select([0], [1.0], available=[1, 0, 1, 0, 1])
    for x, y in zip(
        jax.tree.leaves(before), jax.tree.leaves(bandit.state), strict=True
    ):
        np.testing.assert_array_equal(x, np.asarray(y))
    top_two = facade(
        bandits.thompson_sampling(beliefs.beta_bernoulli(5), batch_size=2), seed=0
    )
    mask = np.array([True, False, True, False, False])
    assert all(sorted(top_two.select(available=mask)) == [0, 2] for _ in range(5))
    with pytest.raises(ValueError, match="allows 1 arms"):
        top_two.select(available=np.eye(5, dtype=bool)[0])


def test_save_load_then_update_equals_the_unsaved_path(tmp_path):
    original = make(
        bandits.thompson_sampling(beliefs.normal_gamma(4, prior_shape=3.0)), seed=7
    )
    for arm in range(4):
        original.update([arm], [0.1 * arm])
    path = tmp_path / "bandit.zip"
    original.save(path)
    loaded = bayesrl.Bandit.load(path)
    header = json.loads(zipfile.ZipFile(path).read("header.json"))
    assert header["factory"] == "thompson_sampling" and header["schema_version"] == 1
    assert header["config"]["belief"]["config"]["prior_shape"] == 3.0
    for step in range(5):
        a = original.update_and_select([step % 4], [0.5])
        b = loaded.update_and_select([step % 4], [0.5])
        assert a == b
    for x, y in zip(
        jax.tree.leaves(original.state), jax.tree.leaves(loaded.state), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize(
    "agent",
    [
        bandits.ucb1(4),
        bandits.kl_ucb(4, c=3.0),
        bandits.epsilon_greedy(4, 0.3),
        bandits.uniform(4),
        bandits.bayes_ucb(beliefs.beta_bernoulli(4, window=10)),
    ],
)
def test_every_factory_round_trips(tmp_path, agent):
    bandit = bayesrl.Bandit(agent, seed=1)
    bandit.update([0, 1], [1.0, 0.0])
    bandit.save(tmp_path / "b.zip")
    loaded = bayesrl.Bandit.load(tmp_path / "b.zip")
    assert [bandit.select() for _ in range(5)] == [loaded.select() for _ in range(5)]


def test_refuses_custom_agents_and_foreign_files(tmp_path):
    agent = bandits.ucb1(3)
    custom = bayesrl.Agent(agent.init, lambda k, s, o: agent.act(k, s, o), agent.update)
    with pytest.raises(ValueError, match="factory"):
        bayesrl.Bandit(custom, seed=0)
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("header.json", json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a saved"):
        bayesrl.Bandit.load(path)


def test_short_python_feedback_and_numpy_feedback_take_the_same_update():
    """Lists of Python numbers take the facade's short check; NumPy arrays and
    explicit weights the general one: both must give identical runs, and
    update_and_select must equal update followed by select."""
    agent = bandits.thompson_sampling(beliefs.beta_bernoulli(6))
    short, general, split = (bayesrl.Bandit(agent, seed=5) for _ in range(3))
    rng = np.random.default_rng(1)
    for _ in range(12):  # three items a round: one padded capacity, few compiles
        arms = rng.integers(0, 6, size=3)
        rewards = (rng.random(arms.size) < 0.5).astype(np.float64)
        a = short.update_and_select(arms.tolist(), rewards.tolist())
        b = general.update_and_select(arms, rewards, weights=np.ones(arms.size))
        split.update(arms.tolist(), rewards.tolist())
        c = split.select()
        assert a == b == c
    for x, y, z in zip(
        *(jax.tree.leaves(f.state) for f in (short, general, split)), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        np.testing.assert_array_equal(np.asarray(x), np.asarray(z))
    assert float(np.asarray(short.state.alpha).sum()) > 6.0  # updates took effect


@pytest.mark.parametrize(
    "arms,rewards,match",
    [
        ([True], [1.0], "integers"),
        ([np.int64(7)], [1.0], "arms must be in"),
        ([0], [float("inf")], "finite"),
        ([0], [-0.5], "must lie in"),
    ],
)
@pytest.mark.parametrize("facade", FACADES)
def test_the_short_check_refuses_what_the_general_check_refuses(
    arms, rewards, match, facade
):
    bandit = make(facade=facade)
    before = jax.tree.map(np.array, bandit.state)
    with pytest.raises(ValueError, match=match):
        bandit.update_and_select(arms, rewards)
    for x, y in zip(
        jax.tree.leaves(before), jax.tree.leaves(bandit.state), strict=True
    ):
        np.testing.assert_array_equal(x, np.asarray(y))


@pytest.mark.parametrize("facade", FACADES)
@pytest.mark.parametrize("window", [1, 3, 5, 6, 7])
def test_a_window_accepts_every_batch_that_fits_it(facade, window):
    # Batches are padded to a power of two for the JAX backend; padding must
    # never turn a batch of at most W observations into one the window refuses.
    agent = bandits.thompson_sampling(beliefs.beta_bernoulli(3, window=window))
    rng = np.random.default_rng(window)
    jax_backend, numpy_backend = bayesrl.Bandit(agent), bayesrl.NumpyBandit(agent)
    bandit = facade(agent)
    for size in [*range(1, window + 1), window, 1]:
        arms = rng.integers(0, 3, size)
        rewards = rng.integers(0, 2, size).astype(float)
        weighted = size % 2 == 0
        weights = rng.uniform(0.5, 2.0, size) if weighted else None
        for target in (bandit, jax_backend, numpy_backend):
            target.update(arms.tolist(), rewards.tolist(), weights)
            target.update(arms, rewards, weights)
    for name in ("successes", "failures", "window_weights"):
        np.testing.assert_allclose(
            np.asarray(getattr(jax_backend.state, name)),
            np.asarray(getattr(numpy_backend.state, name)),
            rtol=1e-6,
            atol=1e-6,
        )
    before = jax.tree.map(np.array, bandit.state)
    for size in (window + 1, 2 * window + 3):
        with pytest.raises(ValueError, match=f"a batch of {size} observations"):
            bandit.update([0] * size, [1.0] * size)
    after = jax.tree.map(np.array, bandit.state)
    assert jax.tree.all(jax.tree.map(np.array_equal, before, after))
