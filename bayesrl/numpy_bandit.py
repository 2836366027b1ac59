"""``NumpyBandit``: conjugate K-armed Thompson sampling on the host, for latency.

Every call of :class:`bayesrl.Bandit` is a compiled JAX call, and each such
round trip has a fixed dispatch cost of several microseconds even for a trivial
kernel. A serving loop that makes one decision per request wants the latency
of the NumPy bandit libraries, so this class runs the same agents in NumPy on
the host, with no JAX call after construction. ``python -m benchmarks.bandits``
measures both latencies on your machine (docs: the bandits reproduction page).

What is the same as :class:`bayesrl.Bandit`:

* the agent: it is built by the same factory (``thompson_sampling`` over
  ``beta_bernoulli``, ``gaussian`` or ``normal_gamma``), and its state is the
  belief's own ``NamedTuple`` (``bandit.state.alpha`` works), with NumPy leaves
  of the same dtype;
* the posterior after any feedback: each update below is the belief module's
  update written in NumPy (time discount, per-visit discount, sliding window,
  weighted batches with repeated arms); ``tests/test_numpy_bandit.py`` runs
  both on the same feedback and compares every state leaf;
* the input checks and their errors, ``select``/``update``/
  ``update_and_select``/``posterior_mean``, ``save``/``load``.

What differs: the random numbers. Posterior draws come from NumPy's
``Generator(PCG64(seed))`` (``standard_gamma``, ``standard_normal``), exact
samplers of the same laws but another stream, so the arms chosen for a seed
are not those ``Bandit`` chooses; the tests check the choice probabilities
against the exact ones instead. The draws are in float64; Gamma variates of
shapes below one are boosted (``G(a) = G(a + 1) U^(1/a)``) and kept in log
space, so a Beta draw with tiny shapes never becomes ``0 / 0``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from bayesrl._checks import NONFINITE_UPDATE, newly_nonfinite
from bayesrl.bandits import describe
from bayesrl.bandits._registry import AgentSpec
from bayesrl.base import Agent
from bayesrl.facade import _HostFacade

FORMAT_NAME = "bayesrl.NumpyBandit"

_SUPPORTED_BELIEFS = ("beta_bernoulli", "gaussian", "normal_gamma")


# -- posterior draws ------------------------------------------------------------


def _log_gamma(rng: np.random.Generator, shapes, shapes_at_least_one) -> np.ndarray:
    """``log G`` with ``G ~ Gamma(shapes, 1)``, finite for every shape > 0."""
    if shapes_at_least_one:
        return np.log(rng.standard_gamma(shapes))
    small = shapes < 1.0
    log_g = np.log(rng.standard_gamma(np.where(small, shapes + 1.0, shapes)))
    # log U^(1/a) with U in (0, 1]: never -inf.
    boost = np.log1p(-rng.random(shapes.shape)) / shapes
    return log_g + np.where(small, boost, 0.0)


def _beta_shapes(state) -> np.ndarray:
    """The Gamma shapes ``[alpha_1..alpha_K, beta_1..beta_K]`` of one Beta draw,
    float64 copies of the float32 posterior parameters."""
    return np.concatenate([state.alpha, state.beta]).astype(np.float64)


def _sample_beta_bernoulli(rng, shapes, shapes_at_least_one) -> np.ndarray:
    """``theta_k = G_a / (G_a + G_b)`` with ``G_a ~ Gamma(alpha_k)`` and
    ``G_b ~ Gamma(beta_k)`` (float64 draws); ``shapes`` from :func:`_beta_shapes`."""
    num_arms = shapes.shape[0] // 2
    if shapes_at_least_one:
        # Gamma(a >= 1) is below 1e-300 with probability below 1e-300: no 0 / 0.
        draws = rng.standard_gamma(shapes)
        first = draws[:num_arms]
        return first / (first + draws[num_arms:])
    logs = _log_gamma(rng, shapes, False)
    # G_a / (G_a + G_b) = 1 / (1 + exp(log G_b - log G_a)); exp may overflow to
    # inf, which gives the exact limit 0.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(logs[num_arms:] - logs[:num_arms]))


def _sample_gaussian(rng, state, shapes_at_least_one) -> np.ndarray:
    """``m_k + xi_k / sqrt(P_k)``, ``xi ~ N(0, I)``."""
    mean = state.mean.astype(np.float64)
    return mean + rng.standard_normal(mean.shape) / np.sqrt(state.precision)


def _sample_normal_gamma(rng, state, shapes_at_least_one) -> np.ndarray:
    """``lambda ~ Gamma(alpha_n, beta_n)``, ``mu ~ N(mu_n, 1 / (kappa_n lambda))``."""
    shapes = state.shape.astype(np.float64)
    log_precision = _log_gamma(rng, shapes, shapes_at_least_one) - np.log(state.rate)
    scale = np.exp(-0.5 * log_precision) / np.sqrt(state.precision_scale)
    mean = state.mean.astype(np.float64)
    return mean + rng.standard_normal(mean.shape) * scale


# -- conjugate updates (bayesrl/beliefs/*.py ``update``, in NumPy) ----------------


def _per_arm_sum(values, arms, num_arms, dtype) -> np.ndarray:
    """``out[k] = sum_i values[i] 1[arms[i] == k]`` (arms already checked)."""
    return np.bincount(arms, weights=values, minlength=num_arms).astype(dtype)


def _update_beta_bernoulli(state, arms, rewards, weights, config):
    """Time discount, per-visit discount, addition, then the window's evictions
    (``bayesrl.beliefs.beta_bernoulli.update``)."""
    num_arms = state.successes.shape[0]
    dtype = state.successes.dtype
    gamma = np.asarray(config["discount"], dtype)
    successes = gamma * state.successes
    failures = gamma * state.failures
    visited = np.bincount(arms, weights=weights != 0, minlength=num_arms) > 0
    keep = np.where(visited, np.asarray(config["visit_discount"], dtype), dtype.type(1))
    rewards = rewards.astype(dtype)
    weights = weights.astype(dtype)
    successes = keep * successes + _per_arm_sum(
        weights * rewards, arms, num_arms, dtype
    )
    failures = keep * failures + _per_arm_sum(
        weights * (1.0 - rewards), arms, num_arms, dtype
    )
    capacity = state.window_arms.shape[0]
    if capacity == 0:
        return state._replace(successes=successes, failures=failures)
    if arms.size > capacity:
        raise ValueError(
            f"a batch of {arms.size} observations does not fit a window of {capacity}"
        )
    real = weights != 0
    slots = (int(state.window_head) + np.cumsum(real) - 1) % capacity
    slots = slots[real]
    old_arms = state.window_arms[slots]
    old_rewards = state.window_rewards[slots]
    old_weights = state.window_weights[slots]
    evicted = old_arms >= 0
    old_arms = old_arms[evicted]
    old_rewards = old_rewards[evicted]
    old_weights = old_weights[evicted]
    window_arms = state.window_arms.copy()
    window_rewards = state.window_rewards.copy()
    window_weights = state.window_weights.copy()
    window_arms[slots] = arms[real]
    window_rewards[slots] = rewards[real]
    window_weights[slots] = weights[real]
    successes = successes - _per_arm_sum(
        old_weights * old_rewards, old_arms, num_arms, dtype
    )
    failures = failures - _per_arm_sum(
        old_weights * (1.0 - old_rewards), old_arms, num_arms, dtype
    )
    return state._replace(
        successes=np.maximum(successes, dtype.type(0.0)),
        failures=np.maximum(failures, dtype.type(0.0)),
        window_arms=window_arms,
        window_rewards=window_rewards,
        window_weights=window_weights,
        window_head=np.asarray(
            (int(state.window_head) + int(real.sum())) % capacity,
            state.window_head.dtype,
        ),
    )


def _update_beta_bernoulli_items(state, shapes, arms, rewards, config) -> None:
    """:func:`_update_beta_bernoulli` for a short list of unit-weight items
    without a window, in scalar steps and in place: it changes the arrays of
    ``state`` and the matching entries of ``shapes`` (:func:`_beta_shapes`), a
    handful of scalar operations instead of twenty NumPy calls.

    Per arm the same float operations in the same order as the vectorised
    update for one item; several items on one arm are added one by one rather
    than summed first, which can differ in the last bit.
    """
    dtype = state.successes.dtype.type
    successes, failures = state.successes, state.failures
    gamma = config["discount"]
    if gamma != 1.0:
        gamma = np.asarray(gamma, state.successes.dtype)
        successes *= gamma
        failures *= gamma
    visit_discount = config["visit_discount"]
    if visit_discount != 1.0:
        keep = np.asarray(visit_discount, state.successes.dtype)
        for arm in set(arms):
            factor = keep if keep.ndim == 0 else keep[arm]
            successes[arm] *= factor
            failures[arm] *= factor
    one = dtype(1.0)
    for arm, reward in zip(arms, rewards, strict=True):
        reward = dtype(reward)
        successes[arm] += reward
        failures[arm] += one - reward
    if gamma != 1.0:
        shapes[:] = _beta_shapes(state)
        return
    num_arms = successes.shape[0]
    for arm in set(arms):
        # float32 sums, as the alpha / beta properties compute them.
        shapes[arm] = state.prior_alpha[arm] + successes[arm]
        shapes[num_arms + arm] = state.prior_beta[arm] + failures[arm]


def _update_gaussian(state, arms, rewards, weights, config):
    """``(n, S) <- gamma (n, S)``, then add the weighted batch
    (``bayesrl.beliefs.gaussian.update``)."""
    num_arms = state.num_observations.shape[0]
    dtype = state.reward_sum.dtype
    gamma = np.asarray(config["discount"], dtype)
    weights = weights.astype(dtype)
    return state._replace(
        num_observations=gamma * state.num_observations
        + _per_arm_sum(weights, arms, num_arms, dtype),
        reward_sum=gamma * state.reward_sum
        + _per_arm_sum(weights * rewards.astype(dtype), arms, num_arms, dtype),
    )


def _update_normal_gamma(state, arms, rewards, weights, config):
    """Discount ``n`` and ``M2``, then merge the batch's weighted mean and
    centred sum of squares (Chan et al.'s parallel update;
    ``bayesrl.beliefs.normal_gamma.update``)."""
    num_arms = state.num_observations.shape[0]
    dtype = state.sample_mean.dtype
    gamma = np.asarray(config["discount"], dtype)
    count = gamma * state.num_observations
    sum_squares = gamma * state.sum_squares
    weights = weights.astype(dtype)
    rewards = rewards.astype(dtype)
    batch_count = _per_arm_sum(weights, arms, num_arms, dtype)
    seen = batch_count > 0
    safe_count = np.where(seen, batch_count, dtype.type(1.0))
    batch_mean = _per_arm_sum(weights * rewards, arms, num_arms, dtype) / safe_count
    centred = rewards - batch_mean[arms]
    batch_m2 = _per_arm_sum(weights * centred**2, arms, num_arms, dtype)
    total = count + batch_count
    safe_total = np.where(total > 0, total, dtype.type(1.0))
    delta = batch_mean - state.sample_mean
    return state._replace(
        num_observations=total,
        sample_mean=np.where(
            seen,
            state.sample_mean + delta * batch_count / safe_total,
            state.sample_mean,
        ),
        sum_squares=sum_squares
        + batch_m2
        + np.where(seen, delta**2 * count * batch_count / safe_total, dtype.type(0.0)),
    )


class _HostModel(NamedTuple):
    # state -> what ``sample`` draws from: the state itself, or for the Beta
    # model its float64 Gamma shapes, which NumpyBandit keeps between calls.
    draw_input: Callable[[Any], Any]
    # (rng, draw_input, shapes_at_least_one) -> float64 [num_arms] draws.
    sample: Callable[..., np.ndarray]
    update: Callable[..., Any]
    # The smallest Gamma shape a draw can meet from this state on, or None
    # (no Gamma draws): updates add non-negative evidence and discounts shrink
    # it towards the prior, so shapes never fall below min(prior, current).
    lowest_shape: Callable[[Any], float] | None
    # (state, draw_input, arms, rewards, config) -> None, updating both in
    # place, for short lists of unit-weight items; None where only the
    # vectorised update exists.
    update_items: Callable[..., None] | None = None


def _the_state(state):
    """The Gaussian models draw from the state itself."""
    return state


_MODELS = {
    "beta_bernoulli": _HostModel(
        _beta_shapes,
        _sample_beta_bernoulli,
        _update_beta_bernoulli,
        lambda state: min(
            state.prior_alpha.min(),
            state.prior_beta.min(),
            state.alpha.min(),
            state.beta.min(),
        ),
        _update_beta_bernoulli_items,
    ),
    "gaussian": _HostModel(_the_state, _sample_gaussian, _update_gaussian, None),
    "normal_gamma": _HostModel(
        _the_state,
        _sample_normal_gamma,
        _update_normal_gamma,
        lambda state: min(state.prior_shape.min(), state.shape.min()),
    ),
}


def _to_numpy(state):
    """The state with writable NumPy leaves of the same dtypes."""
    return jax.tree.map(lambda leaf: np.array(leaf), state)


class NumpyBandit(_HostFacade):
    """Conjugate Thompson sampling run in NumPy on the host (no JAX per call).

    The same interface as :class:`bayesrl.Bandit` (``select``, ``update``,
    ``update_and_select``, ``posterior_mean``, ``save``/``load``) for
    ``bayesrl.bandits.thompson_sampling`` over ``beta_bernoulli`` (with any
    discount or window), ``gaussian`` or ``normal_gamma``, with any
    ``batch_size``. The posterior is the same function of the feedback as in
    ``Bandit``; the draws come from NumPy's PCG64 generator, so a seed gives
    other arms than ``Bandit`` (module docstring).

    Args:
        agent: ``bayesrl.bandits.thompson_sampling(belief, batch_size=B)``.
        seed: seeds both the agent's ``init`` and the NumPy generator.

    Example:
        >>> import bayesrl
        >>> belief = bayesrl.beliefs.beta_bernoulli(10)
        >>> agent = bayesrl.bandits.thompson_sampling(belief)
        >>> bandit = bayesrl.NumpyBandit(agent, seed=0)
        >>> arm = bandit.update_and_select([3], [1.0])
    """

    FORMAT_NAME = FORMAT_NAME

    def __init__(self, agent: Agent, seed: int = 0):
        self._model = self._host_model(describe(agent))
        super().__init__(agent, seed)  # checks the agent and the seed's type
        if seed < 0:
            raise ValueError(f"NumpyBandit needs a seed >= 0 (NumPy's), got {seed}")
        self._belief_config = self.spec.config["belief"]["config"]
        self._update_items = self._model.update_items
        if self._belief_config.get("window") is not None:
            self._update_items = None
        self._rng = np.random.Generator(np.random.PCG64(int(seed)))

    @staticmethod
    def _host_model(spec: AgentSpec | None) -> _HostModel | None:
        """The NumPy model of a supported agent; None without a spec (which
        ``_HostFacade`` then refuses with its own message)."""
        if spec is None:
            return None
        belief_name = spec.config.get("belief", {}).get("name")
        if spec.factory != "thompson_sampling" or belief_name not in _MODELS:
            raise ValueError(
                "NumpyBandit runs thompson_sampling over one of "
                f"{_SUPPORTED_BELIEFS}; got {spec.factory} over "
                f"{belief_name or 'no belief'} (use bayesrl.Bandit)"
            )
        if spec.config.get("num_propensity_samples", 0):
            raise ValueError(
                "NumpyBandit does not estimate propensities; build the agent with "
                "num_propensity_samples=0 or use bayesrl.Bandit"
            )
        return _MODELS[belief_name]

    # -- storage: the state as NumPy arrays -------------------------------------

    def _store(self, state, key_data) -> None:
        # The JAX key that _HostFacade splits off is not used: draws come from
        # the NumPy generator.
        self.state = state

    @property
    def state(self):
        """The agent's state (a NamedTuple of NumPy arrays): a snapshot, which
        later updates leave as it is."""
        # Short updates work in place; after this the next one copies first.
        self._state_handed_out = True
        return self._state

    @state.setter
    def state(self, value) -> None:
        self._state = _to_numpy(value)
        self._state_handed_out = False
        self._draw_input = self._model.draw_input(self._state)
        lowest = self._model.lowest_shape
        self._shapes_at_least_one = lowest is None or lowest(self._state) >= 1.0

    def _random_header(self) -> dict:
        return dict(numpy_bit_generator=self._rng.bit_generator.state)

    def _write_random_state(self, archive: zipfile.ZipFile) -> None:
        pass  # the generator's state is in the header

    def _restore_random_state(self, header: dict, archive: zipfile.ZipFile) -> None:
        self._rng.bit_generator.state = header["numpy_bit_generator"]

    # -- host-side API --------------------------------------------------------

    def select(self, available=None):
        """The next arm (an int), or ``batch_size`` distinct arms (an int array).

        Args:
            available: optional bool ``[num_arms]`` mask of arms that may be
                chosen; at least ``batch_size`` must be True.
        """
        mask = None if available is None else self._check_available(available)
        return self._select(mask)

    def _select(self, mask):
        scores = self._model.sample(
            self._rng, self._draw_input, self._shapes_at_least_one
        )
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        if self.spec.batch_size == 1:
            return int(scores.argmax())  # lowest index on ties, as Bandit
        order = np.argsort(-scores, kind="stable")
        return order[: self.spec.batch_size].astype(np.int32)

    def update(self, arms, rewards, weights=None) -> None:
        """Add one round of feedback: ``rewards[i]`` observed for ``arms[i]``.

        Repeated arms are allowed; the order of the items does not matter.
        Refuses (``ValueError``) what :meth:`bayesrl.Bandit.update` refuses
        (values not finite in the state's dtype, complex input, rewards
        outside the model's support, negative weights, an update whose result
        would not be finite); the state is then unchanged.
        """
        if weights is None and self._is_short_valid_list(arms, rewards):
            if self._update_items is not None:
                if self._state_handed_out:
                    self._state = _to_numpy(self._state)
                    self._state_handed_out = False
                self._update_items(
                    self._state, self._draw_input, arms, rewards, self._belief_config
                )
                return
            arms, rewards = np.array(arms, np.intp), np.array(rewards, np.float64)
        else:
            arms, rewards = self._check_arms_and_rewards(arms, rewards)
            arms = arms.astype(np.intp)
        weights = self._check_weights(weights, arms.shape)
        # Finite inputs can still overflow the state (3e38 + 3e38): refused.
        with np.errstate(all="ignore"):
            new_state = self._model.update(
                self._state, arms, rewards, weights, self._belief_config
            )
            belief = self.spec.belief
            derived = (belief.mean, belief.counts)
            if newly_nonfinite(self._state, new_state) or any(
                newly_nonfinite(fn(self._state), fn(new_state)) for fn in derived
            ):
                raise ValueError(NONFINITE_UPDATE)
        self._state = new_state
        self._draw_input = self._model.draw_input(self._state)

    def update_and_select(self, arms, rewards, weights=None, available=None):
        """``update(arms, rewards)`` then ``select()``.

        The mask is checked before the update, so a refused mask leaves the
        state untouched.
        """
        mask = None if available is None else self._check_available(available)
        self.update(arms, rewards, weights)
        return self._select(mask)

    def posterior_mean(self) -> np.ndarray:
        """The model's current expected reward of every arm."""
        return np.asarray(self.spec.belief.mean(self._state))
