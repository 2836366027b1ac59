"""The bsuite DeepSea protocol: bad episodes, learning time, ``solved`` and score.

Osband et al., "Behaviour Suite for Reinforcement Learning", ICLR 2020
(https://arxiv.org/abs/1908.03568); code ``google-deepmind/bsuite``:
``bsuite/environments/deep_sea.py`` (the flag),
``bsuite/experiments/deep_sea/{sweep,analysis}.py`` (the score) and
``bsuite/utils/wrappers.py`` (when episodes are logged).

* **Bad episode.** The agent starts at ``(row 0, col 0)``; the only path to the
  treasure stays on the diagonal ``row == col`` by moving right at every step.
  An episode is *bad* if the agent chose "left" at some step while on the
  diagonal (it left the optimal path by its own choice; in the stochastic
  variant a right move that slips left is not bad).
* **Learning time.** With ``B(e)`` the number of bad episodes among the first
  ``e``, the learning time is the first *logged* episode ``e`` with ``B(e) / e <
  threshold``. bsuite logs episodes ``10^k * {1, 1.2, 1.4, 1.7, 2, 2.5, 3, 4, 5,
  6, 7, 8, 9}`` (1..10, 12, 14, 17, 20, 25, 30, 40, ..., 100, 120, ...), and
  ``analysis.find_solution`` only sees those rows.
* **Solved.** A size ``N`` is solved if its learning time is found within the
  ``10,000`` episodes of the sweep and is ``< 2^N + 100``: it beat dithering,
  which needs about ``2^N`` episodes.
* **Score.** The fraction of the sweep's sizes that are solved; the sweep is
  ``N in {10, 12, ..., 50}`` (21 sizes, one run each).

``threshold``: bsuite's ``find_solution`` used 0.8 until commit ``b26b429``
("Fix threshold in deep sea analysis so that the results match what is claimed
in the colab"), and 0.9 since; the default here is the current 0.9 and both are
one argument away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from bayesrl.types import Array

#: bsuite's deep-sea sweep: ``range(10, 51, 2)``.
BSUITE_DEEP_SEA_SIZES = tuple(range(10, 51, 2))
#: Episodes per size in the bsuite sweep.
BSUITE_DEEP_SEA_EPISODES = 10_000
#: ``bsuite/utils/wrappers.py`` ``_logarithmic_logging`` ratios.
_LOG_RATIOS = (1.0, 1.2, 1.4, 1.7, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)


class DeepSeaScore(NamedTuple):
    """Result of :func:`deep_sea_score`.

    Attributes:
        score: the fraction of the given sizes that are solved.
        learning_time: per size, the learning time (None if not reached).
        solved: per size, whether the size is solved.
    """

    score: float
    learning_time: dict[int, int | None]
    solved: dict[int, bool]


def deep_sea_bad_episodes(
    actions: Array, action_mapping: Array, columns: Array | None = None
) -> Array:
    """bsuite's bad-episode flag for DeepSea episodes.

    ``bad = any_k (row_k == col_k and action_k != action_mapping[row_k, col_k])``
    with ``row_k = k``: the agent chose "left" on the diagonal.

    Args:
        actions: ``int[..., num_episodes, N]``, the action at each step (row) of
            each episode.
        action_mapping: ``int[N, N]``, the action that moves right in each cell
            (``DeepSeaParams.action_mapping``).
        columns: ``int[..., num_episodes, N]``, the column before each step. None
            replays them from the actions, which is exact for the deterministic
            DeepSea (right: ``col + 1``, left: ``col - 1``, clipped to the grid);
            the stochastic variant needs the observed columns.

    Returns:
        ``bool[..., num_episodes]``.
    """
    actions = jnp.asarray(actions)
    action_mapping = jnp.asarray(action_mapping)
    size = action_mapping.shape[0]
    if actions.shape[-1] != size:
        raise ValueError(
            f"actions must have N = {size} steps per episode on their last axis, "
            f"got shape {actions.shape}"
        )
    rows = jnp.arange(size)
    if columns is None:

        def move(column, inputs):
            row, action = inputs
            right = action == action_mapping[row, column]
            step = jnp.where(right, 1, -1)
            return jnp.clip(column + step, 0, size - 1), column

        def replay(episode_actions):
            _, before = jax.lax.scan(
                move, jnp.zeros((), jnp.int32), (rows, episode_actions)
            )
            return before

        flat = actions.reshape(-1, size).astype(jnp.int32)
        columns = jax.vmap(replay)(flat).reshape(actions.shape)
    columns = jnp.asarray(columns)
    right_actions = action_mapping[rows, columns]
    left_on_diagonal = (columns == rows) & (actions != right_actions)
    return jnp.any(left_on_diagonal, axis=-1)


def bsuite_logged_episodes(num_episodes: int) -> np.ndarray:
    """The episodes (1-based) at which bsuite's default logging writes a row,
    up to ``num_episodes``: ``10^floor(log10 e) * ratio == e`` for a ratio in
    ``(1, 1.2, 1.4, 1.7, 2, 2.5, 3, 4, ..., 9, 10)``."""
    episodes = np.arange(1, num_episodes + 1)
    scale = 10.0 ** np.floor(np.log10(episodes))
    logged = np.zeros(num_episodes, bool)
    for ratio in _LOG_RATIOS:
        logged |= episodes == scale * ratio
    return episodes[logged]


def deep_sea_learning_time(
    bad_episodes: ArrayLike,
    *,
    threshold: float = 0.9,
    logged_only: bool = True,
    num_episodes: int = BSUITE_DEEP_SEA_EPISODES,
) -> int | None:
    """The first episode ``e`` (1-based) with ``B(e) / e < threshold``.

    Args:
        bad_episodes: ``bool[num_run]`` flags of one run, in order.
        threshold: 0.9 (bsuite since ``b26b429``) or 0.8 (before).
        logged_only: only consider the episodes bsuite logs (its analysis sees
            no others); False considers every episode.
        num_episodes: episodes after this one are ignored (bsuite: 10,000).

    Returns:
        The learning time, or None if no considered episode meets the ratio.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    bad = np.asarray(bad_episodes, bool)
    if bad.ndim != 1:
        raise ValueError(f"bad_episodes must be 1-D (one run), got shape {bad.shape}")
    bad = bad[:num_episodes]
    episodes = np.arange(1, bad.size + 1)
    below = np.cumsum(bad) / episodes < threshold
    if logged_only:
        logged = np.zeros(bad.size, bool)
        logged[bsuite_logged_episodes(bad.size) - 1] = True
        below &= logged
    hits = np.flatnonzero(below)
    return int(episodes[hits[0]]) if hits.size else None


def deep_sea_solved(
    size: int, learning_time: int | None, forgiveness: float = 100.0
) -> bool:
    """bsuite's criterion: a learning time ``< 2^size + forgiveness``."""
    return learning_time is not None and learning_time < 2**size + forgiveness


def deep_sea_score(
    bad_episodes_by_size: Mapping[int, ArrayLike],
    *,
    threshold: float = 0.9,
    logged_only: bool = True,
    num_episodes: int = BSUITE_DEEP_SEA_EPISODES,
    forgiveness: float = 100.0,
) -> DeepSeaScore:
    """bsuite's DeepSea score: the fraction of sizes solved.

    Args:
        bad_episodes_by_size: ``{N: bool[num_run]}``, one run per size. bsuite's
            score is over :data:`BSUITE_DEEP_SEA_SIZES`; other sizes give the
            same statistic over those sizes.
        threshold, logged_only, num_episodes: see :func:`deep_sea_learning_time`.
        forgiveness: the ``+ 100`` of the solved criterion.

    Returns:
        A :class:`DeepSeaScore`.
    """
    if not bad_episodes_by_size:
        raise ValueError("bad_episodes_by_size is empty")
    times, solved = {}, {}
    for size, bad in bad_episodes_by_size.items():
        times[size] = deep_sea_learning_time(
            bad, threshold=threshold, logged_only=logged_only, num_episodes=num_episodes
        )
        solved[size] = deep_sea_solved(size, times[size], forgiveness)
    return DeepSeaScore(
        score=float(np.mean(list(solved.values()))),
        learning_time=times,
        solved=solved,
    )
