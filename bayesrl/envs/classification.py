"""Classification data sets as contextual bandits (the Showdown's conversion).

Riquelme, Tucker & Snoek, ICLR 2018 (arXiv:1802.09127),
``classification_to_bandit_problem``. Each feature is z-scored (a feature of standard
deviation 0 is only centred); there is one arm per class; arm ``a`` pays 1 if
``a`` is the row's label, else 0, so the optimal reward is 1 and the expected
regret of a pull is ``1 - 1[a == label]``. Each round draws a row uniformly
with replacement (the Showdown shuffles and cycles; for T > n both resample).

:func:`sklearn_classification_bandit` builds one from the data sets bundled in
scikit-learn wheels (``digits``: K = 10, d = 64, n = 1797; ``wine``: 3, 13,
178; ``iris``: 3, 4, 150; ``breast_cancer``: 2, 30, 569). scikit-learn is an
optional dependency (extra ``datasets``), imported only there; nothing is
downloaded.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from bayesrl import random as fast_random
from bayesrl.base import BanditObs
from bayesrl.envs._environment import Environment
from bayesrl.types import Array, PRNGKey

SKLEARN_DATASETS = ("digits", "wine", "iris", "breast_cancer")


@struct.dataclass
class ClassificationState(environment.EnvState):
    """The row shown this round and the round counter."""

    row: Array
    time: Array


@struct.dataclass
class ClassificationParams:
    """``features [n, d]`` (standardised) and integer ``labels [n]``."""

    features: Array
    labels: Array


def standardise(features: np.ndarray) -> np.ndarray:
    """Z-score every column; columns of standard deviation 0 are only centred."""
    features = np.asarray(features, dtype=np.float64)
    std = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(std > 0, std, 1.0)


class ClassificationBandit(Environment):
    """A contextual bandit over ``num_rows`` labelled rows.

    Args:
        num_arms: number of classes K (>= 2).
        dim: number of features d (>= 1).
        num_rows: number of rows n (>= 1).
    """

    def __init__(self, num_arms: int, dim: int, num_rows: int):
        for name, value, low in (
            ("num_arms", num_arms, 2),
            ("dim", dim, 1),
            ("num_rows", num_rows, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self._num_arms = num_arms
        self._dim = dim
        self._num_rows = num_rows

    def __hash__(self) -> int:
        return hash((type(self), self._num_arms, self._dim, self._num_rows))

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and (
            other._num_arms,
            other._dim,
            other._num_rows,
        ) == (self._num_arms, self._dim, self._num_rows)

    @property
    def num_arms(self) -> int:
        return self._num_arms

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def num_actions(self) -> int:
        return self._num_arms

    def make_params(self, features, labels, intercept=False) -> ClassificationParams:
        """Standardise ``features [n, d]`` and check ``labels [n]`` in [0, K).

        With ``intercept=True`` a constant feature 1 is appended after
        standardising (the env's ``dim`` is then ``d + 1``).
        """
        features = np.asarray(features)
        labels = np.asarray(labels)
        expected = (self._num_rows, self._dim - bool(intercept))
        if features.shape != expected:
            raise ValueError(
                f"features must have shape [{expected[0]}, {expected[1]}], got "
                f"{features.shape}"
            )
        if labels.shape != (self._num_rows,) or not np.issubdtype(
            labels.dtype, np.integer
        ):
            raise ValueError(
                f"labels must be integers of shape [{self._num_rows}], got "
                f"{labels.dtype} {labels.shape}"
            )
        if labels.min() < 0 or labels.max() >= self._num_arms:
            raise ValueError(f"labels must lie in [0, {self._num_arms})")
        if not np.all(np.isfinite(features)):
            raise ValueError("features must be finite")
        standardised = standardise(features)
        if intercept:
            standardised = np.c_[standardised, np.ones(self._num_rows)]
        return ClassificationParams(
            features=jnp.asarray(standardised, jnp.float32),
            labels=jnp.asarray(labels, jnp.int32),
        )

    @property
    def default_params(self) -> ClassificationParams:
        raise ValueError(
            "ClassificationBandit has no default data; use make_params(features, "
            "labels) or sklearn_classification_bandit(name)"
        )

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self._num_arms)

    def observation_space(self, params=None) -> spaces.Dict:
        return spaces.Dict(
            {
                "available": spaces.Box(0, 1, (self._num_arms,), bool),
                "context": spaces.Box(-jnp.inf, jnp.inf, (self._dim,), jnp.float32),
            }
        )

    def _observation(self, row: Array, params: ClassificationParams) -> BanditObs:
        return BanditObs(
            available=jnp.ones((self._num_arms,), dtype=bool),
            context=params.features[row],
        )

    def _draw_row(self, key: PRNGKey) -> Array:
        return fast_random.randint(key, (), 0, self._num_rows)

    def reset_env(self, key: PRNGKey, params) -> tuple[BanditObs, Any]:
        row = self._draw_row(key)
        state = ClassificationState(row=row, time=jnp.zeros((), jnp.int32))
        return self._observation(row, params), state

    def is_terminated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def is_truncated(self, state, params) -> Array:
        return jnp.zeros((), dtype=bool)

    def step_env(self, key: PRNGKey, state: ClassificationState, action, params):
        action = jnp.asarray(action, dtype=jnp.int32)
        correct = action == params.labels[state.row]
        reward = correct.astype(jnp.float32)
        row = self._draw_row(key)
        next_state = ClassificationState(row=row, time=state.time + 1)
        info = {"regret": 1.0 - reward, "optimal_mean": jnp.ones((), jnp.float32)}
        return (
            self._observation(row, params),
            next_state,
            reward,
            jnp.zeros((), bool),
            info,
        )


def sklearn_classification_bandit(
    name: str, intercept: bool = False
) -> tuple[ClassificationBandit, ClassificationParams]:
    """A :class:`ClassificationBandit` and its parameters from a data set bundled
    with scikit-learn (``"digits"``, ``"wine"``, ``"iris"``, ``"breast_cancer"``).

    With ``intercept=True`` a constant feature 1 is appended (d + 1 features),
    as the Showdown's linear agents do. Needs scikit-learn
    (``pip install bayesrl[datasets]``); reads only files shipped inside its
    wheel.
    """
    if name not in SKLEARN_DATASETS:
        raise ValueError(
            f"name must be one of {SKLEARN_DATASETS} (bundled with scikit-learn; "
            f"others need a download), got {name!r}"
        )
    try:
        from sklearn import datasets
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "sklearn_classification_bandit needs scikit-learn: "
            "pip install 'bayesrl[datasets]'"
        ) from error
    features, labels = getattr(datasets, f"load_{name}")(return_X_y=True)
    labels = np.unique(labels, return_inverse=True)[1]
    num_rows, dim = features.shape
    env = ClassificationBandit(int(labels.max()) + 1, dim + intercept, num_rows)
    return env, env.make_params(features, labels, intercept)
