"""bsuite DeepSea protocol: the bad-episode flag against the environment's own
path, and learning time / solved / score on synthetic logs whose answers follow
from the definitions by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl.envs import DeepSea
from bayesrl.eval import (
    BSUITE_DEEP_SEA_SIZES,
    bsuite_logged_episodes,
    deep_sea_bad_episodes,
    deep_sea_learning_time,
    deep_sea_score,
    deep_sea_solved,
)


def _env_paths(env, params, actions):
    """Play ``actions [E, N]`` in the environment; the ``(row, col)`` before each
    step, read from the environment state (no auto-reset within an episode)."""

    def episode(key, episode_actions):
        _, state = env.reset_env(key, params)

        def step(state, inputs):
            k, action = inputs
            _, new_state, _, _, _ = env.step_env(k, state, action, params)
            return new_state, state.state

        keys = jax.random.split(key, env.size)
        return jax.lax.scan(step, state, (keys, episode_actions))[1]

    keys = jax.random.split(jax.random.key(3), actions.shape[0])
    cells = np.asarray(jax.jit(jax.vmap(episode))(keys, jnp.asarray(actions)))
    return cells // env.size, cells % env.size


def _bsuite_flags(rows, cols, actions, mapping):
    """bsuite ``DeepSea._step``: bad if "left" was chosen while row == column."""
    flags = np.zeros(len(actions), bool)
    for episode, (r, c, a) in enumerate(zip(rows, cols, actions, strict=True)):
        for row, col, action in zip(r, c, a, strict=True):
            if row == col and action != mapping[row, col]:
                flags[episode] = True
    return flags


def test_bad_episode_flag_matches_the_path_played_in_the_environment():
    env = DeepSea(6)
    params = env.sample_params(jax.random.key(1))
    mapping = np.asarray(params.action_mapping)
    rng = np.random.default_rng(0)
    # Mostly right moves so that many episodes stay long on the diagonal.
    right = mapping[np.arange(6), np.arange(6)]
    actions = np.where(rng.random((300, 6)) < 0.85, right, 1 - right)
    actions[:5] = right  # five episodes that find the treasure
    rows, cols = _env_paths(env, params, actions)
    np.testing.assert_array_equal(rows, np.tile(np.arange(6), (300, 1)))
    expected = _bsuite_flags(rows, cols, actions, mapping)
    assert 0 < expected.sum() < 295 and not expected[:5].any()
    flags = deep_sea_bad_episodes(actions, mapping)
    np.testing.assert_array_equal(np.asarray(flags), expected)
    with_columns = deep_sea_bad_episodes(actions, mapping, columns=cols)
    np.testing.assert_array_equal(np.asarray(with_columns), expected)


def test_bad_episode_flag_uses_the_observed_columns_of_the_stochastic_variant():
    env = DeepSea(8, deterministic=False)
    params = env.sample_params(jax.random.key(2))
    mapping = np.asarray(params.action_mapping)
    right = mapping[np.arange(8), np.arange(8)]
    actions = np.tile(right, (400, 1))
    actions[:, 5] = 1 - right[5]  # "left" at row 5 if still on the diagonal
    rows, cols = _env_paths(env, params, actions)
    expected = _bsuite_flags(rows, cols, actions, mapping)
    # Slips (probability 1/8 per right move) take some episodes off the diagonal
    # before row 5: those are not bad; the replay cannot see slips.
    assert 0 < expected.sum() < 400
    flags = deep_sea_bad_episodes(actions, mapping, columns=cols)
    np.testing.assert_array_equal(np.asarray(flags), expected)
    assert np.asarray(deep_sea_bad_episodes(actions, mapping)).all()


def test_bad_episode_flag_on_hand_made_episodes():
    mapping = np.ones((4, 4), np.int32)  # action 1 moves right everywhere
    actions = np.array(
        [
            [1, 1, 1, 1],  # the treasure path
            [0, 1, 1, 1],  # left at (0, 0)
            [1, 1, 1, 0],  # left at (3, 3), on the diagonal
            [1, 0, 0, 1],  # left at (1, 1), then off the diagonal
        ]
    )
    flags = np.asarray(deep_sea_bad_episodes(actions, mapping))
    np.testing.assert_array_equal(flags, [False, True, True, True])
    # Batched leading axes are kept.
    assert deep_sea_bad_episodes(actions[None], mapping).shape == (1, 4)
    with pytest.raises(ValueError, match="N = 4"):
        deep_sea_bad_episodes(actions[:, :3], mapping)


def test_bsuite_logging_points():
    # 10^k * (1, 1.2, 1.4, 1.7, 2, 2.5, 3, 4, 5, 6, 7, 8, 9, 10)
    expected = list(range(1, 11)) + [12, 14, 17, 20, 25, 30, 40, 50, 60, 70, 80, 90]
    expected += [100, 120, 140, 170, 200, 250, 300, 400, 500, 600, 700, 800, 900]
    expected += [1000, 1200, 1400, 1700, 2000]
    np.testing.assert_array_equal(bsuite_logged_episodes(2000), expected)


def _log(num_bad, num_good):
    return np.r_[np.ones(num_bad, bool), np.zeros(num_good, bool)]


@pytest.mark.parametrize(
    "bad,kwargs,expected",
    [
        # 10 bad then good: 10 / e < 0.9 <=> e > 11.1 -> 12 (a logged episode).
        (_log(10, 90), dict(logged_only=False), 12),
        (_log(10, 90), dict(), 12),
        # threshold 0.8: e > 12.5 -> 13; the next logged episode is 14.
        (_log(10, 90), dict(threshold=0.8, logged_only=False), 13),
        (_log(10, 90), dict(threshold=0.8), 14),
        # 30 bad: e > 33.3 -> 34; next logged 40.
        (_log(30, 70), dict(logged_only=False), 34),
        (_log(30, 70), dict(), 40),
        # Only the first num_episodes count.
        (_log(30, 70), dict(logged_only=False, num_episodes=34), 34),
        (_log(30, 70), dict(logged_only=False, num_episodes=33), None),
        (_log(0, 5), dict(), 1),
        (_log(50, 0), dict(), None),
        # Alternating, bad first: B(2) / 2 = 0.5.
        (np.tile([True, False], 10), dict(), 2),
    ],
)
def test_learning_time_on_synthetic_logs(bad, kwargs, expected):
    assert deep_sea_learning_time(bad, **kwargs) == expected


def test_solved_criterion_and_score():
    # 2^10 + 100 = 1124.
    assert deep_sea_solved(10, 1123) and not deep_sea_solved(10, 1124)
    assert not deep_sea_solved(10, None)
    logs = {
        10: _log(30, 100),  # learning time 40 < 1124: solved
        12: _log(200, 0),  # never below the threshold
        5: _log(150, 100),  # 150 / e < 0.9 <=> e > 166.7 -> logged 170 >= 2^5 + 100
    }
    result = deep_sea_score(logs)
    assert result.learning_time == {10: 40, 12: None, 5: 170}
    assert result.solved == {10: True, 12: False, 5: False}
    assert result.score == pytest.approx(1 / 3)
    assert BSUITE_DEEP_SEA_SIZES == tuple(range(10, 51, 2))


def test_invalid_protocol_inputs_are_refused():
    with pytest.raises(ValueError, match="threshold"):
        deep_sea_learning_time(_log(1, 1), threshold=0.0)
    with pytest.raises(ValueError, match="1-D"):
        deep_sea_learning_time(np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match="empty"):
        deep_sea_score({})
