"""MoPPS: Model Predictive Prompt Selection, as a bandit :class:`~bayesrl.base.Agent`.

Qu, Wang, Mao, Hu, Ommer & Ji, "Can Prompt Difficulty be Online Predicted for
Accelerating RL Finetuning of Reasoning Models?" (KDD 2026, arXiv:2507.04632);
the official code ``thu-rllab/MoPPS`` (``recipe/ours/mopps.py``) fixes the
details below.

Model. Prompt ``i`` has a latent success rate ``gamma_i`` under the current
policy, with a Beta posterior ``Beta(alpha_i, beta_i)`` starting from
``Beta(alpha0, beta0)``. After ``s_i`` successes in ``k_i`` rollouts of a
trained prompt (a dynamic Bernoulli bandit with per-visit discount
``lambda``)::

    alpha_i <- lambda alpha_i + (1 - lambda) alpha0 + s_i
    beta_i  <- lambda beta_i  + (1 - lambda) beta0  + (k_i - s_i)

Prompts not in the update are not touched. Rows of one update that share an id
are summed and count as **one** visit (one discount), so the result does not
depend on row order. This is the paper's update for every ``k``, including
``k = 1`` (the official code overwrites the posterior with ``Beta(8, 8)`` there).

Selection. ``B_hat = min(candidate_multiplier * B, N)`` candidates are read from
an epoch permutation (:mod:`bayesrl.prompts.stream`); each gets a Thompson draw
``g_i ~ Beta(alpha_i, beta_i)`` (:func:`bayesrl.random.beta`) and:

* ``"topk"`` (the paper's main rule): the ``B`` candidates with the smallest
  ``(g_i - target)^2``;
* ``"threshold"``: ``B`` uniformly random candidates with
  ``lower_bound <= g_i <= upper_bound``; when fewer are in the band, all of
  them plus the out-of-band ones closest to the band;
* ``"uniform"``: ``B`` uniformly random candidates (the same over-fetch, as a
  control).

Options beyond MoPPS, off by default (the defaults are paper-exact):

* ``time_discount = rho < 1``: lazy time-aware forgetting. A prompt last
  updated ``m`` updates ago is read as
  ``alpha0 + rho^m (alpha - alpha0)`` (same for beta) when sampled, and the
  decayed value is written back at its next visit, so no O(N) pass runs.
* ``group_ids`` with ``share_strength = m > 0``: implicit evidence sharing
  across prompts of a group (BOTS-style, Shen et al., arXiv:2510.26374). Each
  group keeps its own discounted Beta over the summed evidence of its
  prompts; a prompt is sampled from ``Beta(alpha_i + m mu_c, beta_i + m (1 - mu_c))``
  with ``mu_c`` the group's posterior mean, which fixes the cold start of
  never-seen prompts.
* ``initial_successes`` / ``initial_failures``: prior initialisation from
  base-model pass rates (the official ``bandit_init``):
  ``alpha = alpha0 + init_weight * successes``, ``beta = beta0 + init_weight *
  failures`` with ``init_weight = 3``.

State per prompt: ``alpha`` f32, ``beta`` f32 and ``last_visit`` i32, 12 bytes;
the candidate stream's permutation is computed, not stored (O(1) state). Per
step the work is O(B_hat): gathers, Beta draws and
``lax.top_k``; an update is O(R log R) for R rows (``jnp.unique`` and segment
sums, never O(N) temporaries) and scatters in place when the state is donated.
"""

from __future__ import annotations

import numbers
import warnings
import weakref
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl._checks import is_concrete
from bayesrl.base import Agent, Transition, flatten_feedback
from bayesrl.beliefs._common import all_at_least_one, check_discount, config_value
from bayesrl.beliefs.beta_bernoulli import decay_towards_prior, visit_update
from bayesrl.prompts import stream as candidate_stream
from bayesrl.prompts._metrics import spearman
from bayesrl.types import Array, PRNGKey

STRATEGIES = ("topk", "threshold", "uniform")
EVIDENCE = ("binary", "fractional")
# Beta via Gamma ratios misbehaves for vanishing shapes; parameters are floored
# here before sampling (they only get this small with priors far below 1).
MINIMUM_SHAPE = 1e-3


class MoppsParams(NamedTuple):
    """Numeric hyper-parameters; every field may be traced (vmapped sweeps).

    Attributes:
        target: success rate ``gamma*`` the ``topk`` rule aims at.
        discount: per-visit discount ``lambda`` in (0, 1].
        prior_alpha, prior_beta: the prior ``Beta(alpha0, beta0)`` that
            discounting relaxes towards.
        lower_bound, upper_bound: the band of the ``threshold`` rule.
        time_discount: lazy per-update forgetting ``rho`` in (0, 1].
        share_strength: pseudo-counts ``m`` of the group mean (0 = off).
        group_ids: int32 ``[N]`` group of each prompt, ``[0]`` when sharing is off.
    """

    target: Array
    discount: Array
    prior_alpha: Array
    prior_beta: Array
    lower_bound: Array
    upper_bound: Array
    time_discount: Array
    share_strength: Array
    group_ids: Array


class MoppsState(NamedTuple):
    """Posterior and candidate stream.

    Attributes:
        alpha, beta: ``[N]`` posterior parameters of every prompt.
        last_visit: int32 ``[N]`` update count at the last visit, -1 = never.
        step: int32 number of updates so far.
        stream: position in the epoch permutation of candidates.
        group_alpha, group_beta: ``[G]`` group posteriors (``[0]`` when off).
    """

    alpha: Array
    beta: Array
    last_visit: Array
    step: Array
    stream: candidate_stream.CandidateStream
    group_alpha: Array
    group_beta: Array


class SelectInfo(NamedTuple):
    """Diagnostics of one selection.

    Attributes:
        candidates: int32 ``[B_hat]`` candidate ids.
        draws: ``[B_hat]`` their Thompson draws.
        posterior_mean: ``[B_hat]`` their posterior means (after lazy decay,
            before group sharing).
        selected_draws: ``[B]`` the draws of the selected prompts.
        selected_posterior_mean: ``[B]`` their posterior means.
        num_unseen: number of candidates never updated.
    """

    candidates: Array
    draws: Array
    posterior_mean: Array
    selected_draws: Array
    selected_posterior_mean: Array
    num_unseen: Array


class MoppsUpdateInfo(NamedTuple):
    """Diagnostics of one update (logged by the trainer adapters).

    Attributes:
        num_groups: distinct prompts updated.
        num_invalid: rows refused (unknown id, non-finite value, negative
            counts, successes > trials, trials <= 0); they change nothing.
        num_nonfinite: prompts whose update was not finite and kept their
            previous posterior.
        solve_none: prompts with no success.
        solve_all: prompts whose every rollout succeeded.
        zero_variance_fraction: ``(solve_none + solve_all) / num_groups``,
            the fraction of GRPO groups with zero advantage.
        rho_selected: Spearman correlation between the posterior mean before
            the update and the empirical success rate, over the updated
            prompts (positive = predictive).
        mean_pseudo_counts: mean ``alpha + beta`` of the updated prompts after
            the update.
    """

    num_groups: Array
    num_invalid: Array
    num_nonfinite: Array
    solve_none: Array
    solve_all: Array
    zero_variance_fraction: Array
    rho_selected: Array
    mean_pseudo_counts: Array


# -- low-level pure functions ---------------------------------------------------


def init(
    key: PRNGKey,
    num_prompts: int,
    params: MoppsParams,
    *,
    num_share_groups: int = 0,
    initial_successes=None,
    initial_failures=None,
    init_weight=3.0,
) -> MoppsState:
    """The prior state: ``Beta(alpha0, beta0)`` for every prompt, optionally
    shifted by ``init_weight`` times base-model successes and failures."""
    dtype = jnp.result_type(float)
    alpha = jnp.full((num_prompts,), params.prior_alpha, dtype)
    beta = jnp.full((num_prompts,), params.prior_beta, dtype)
    if initial_successes is not None:
        alpha = alpha + init_weight * jnp.asarray(initial_successes, dtype)
        beta = beta + init_weight * jnp.asarray(initial_failures, dtype)
    stream = candidate_stream.init(key, num_prompts)
    return MoppsState(
        alpha=alpha,
        beta=beta,
        last_visit=jnp.full((num_prompts,), -1, jnp.int32),
        step=jnp.zeros((), jnp.int32),
        stream=stream,
        group_alpha=jnp.full((num_share_groups,), params.prior_alpha, dtype),
        group_beta=jnp.full((num_share_groups,), params.prior_beta, dtype),
    )


def candidates_of(state: MoppsState, num_candidates: int) -> Array:
    """The candidate ids of the next selection (all ids, in order, in full-pool
    mode ``num_candidates == N``, where the order is irrelevant)."""
    num_prompts = state.alpha.shape[0]
    if num_candidates == num_prompts:
        return jnp.arange(num_prompts, dtype=jnp.int32)
    return candidate_stream.peek(state.stream, num_candidates, num_prompts)


def advance_stream(key: PRNGKey, state: MoppsState, num_candidates: int) -> MoppsState:
    """Move the candidate stream past the current chunk."""
    return state._replace(
        stream=candidate_stream.advance(
            key, state.stream, num_candidates, state.alpha.shape[0]
        )
    )


def _decay_factor(params: MoppsParams, step: Array, last_visit: Array) -> Array:
    """``rho ** (updates since the last visit)``; 1 for never-visited prompts."""
    elapsed = jnp.where(last_visit >= 0, step - last_visit, 0)
    return jnp.power(params.time_discount, elapsed.astype(params.time_discount.dtype))


def choose_from_draws(
    key: PRNGKey,
    draws: Array,
    params: MoppsParams,
    num_select: int,
    strategy: str,
) -> Array:
    """Positions (into the candidates) of the ``num_select`` chosen ones.

    ``topk``: top-B of ``-(g - target)^2``. ``threshold``: the B smallest
    priorities ``u ~ U[0, 1)`` inside the band and ``1 + distance to the band``
    outside it, which is "B uniformly at random in the band, else all of the
    band and the closest outside". ``uniform``: the B smallest ``u``.
    ``key`` is used by ``threshold`` and ``uniform`` only.
    """
    if strategy == "topk":
        score = -jnp.square(draws - params.target)
    else:
        noise = fast_random.uniform(key, draws.shape, draws.dtype)
        if strategy == "uniform":
            score = -noise
        else:
            distance = jnp.maximum(
                params.lower_bound - draws, draws - params.upper_bound
            )
            score = -jnp.where(distance <= 0, noise, 1.0 + distance)
    _, positions = jax.lax.top_k(score, num_select)
    return positions


def select(
    key: PRNGKey,
    state: MoppsState,
    params: MoppsParams,
    *,
    num_select: int,
    num_candidates: int,
    strategy: str = "topk",
    shapes_at_least_one: bool = False,
    time_decay: bool = True,
) -> tuple[Array, SelectInfo]:
    """Choose ``num_select`` prompts among the next candidates (read-only).

    ``time_decay=False`` is a static promise that ``params.time_discount`` is 1
    (it skips the identity decay). Returns the selected ids (int32 ``[B]``,
    distinct) and a :class:`SelectInfo`; call :func:`advance_stream` to move on.
    """
    key_draw, key_choice = fast_random.split(key)
    candidates = candidates_of(state, num_candidates)
    if num_candidates == state.alpha.shape[0]:  # full pool: no gathers
        alpha, beta, last_visit = state.alpha, state.beta, state.last_visit
    else:
        alpha = state.alpha[candidates]
        beta = state.beta[candidates]
        last_visit = state.last_visit[candidates]
    if time_decay:
        alpha, beta = decay_towards_prior(
            alpha,
            beta,
            params.prior_alpha,
            params.prior_beta,
            _decay_factor(params, state.step, last_visit),
        )
    posterior_mean = alpha / (alpha + beta)
    if state.group_alpha.shape[0] > 0:
        groups = params.group_ids[candidates]
        group_alpha, group_beta = state.group_alpha[groups], state.group_beta[groups]
        group_mean = group_alpha / (group_alpha + group_beta)
        alpha = alpha + params.share_strength * group_mean
        beta = beta + params.share_strength * (1.0 - group_mean)
    draws = fast_random.beta(
        key_draw,
        jnp.maximum(alpha, MINIMUM_SHAPE),
        jnp.maximum(beta, MINIMUM_SHAPE),
        shapes_at_least_one=shapes_at_least_one,
    )
    positions = choose_from_draws(key_choice, draws, params, num_select, strategy)
    info = SelectInfo(
        candidates=candidates,
        draws=draws,
        posterior_mean=posterior_mean,
        selected_draws=draws[positions],
        selected_posterior_mean=posterior_mean[positions],
        num_unseen=jnp.sum(last_visit < 0),
    )
    return candidates[positions], info


def update(
    state: MoppsState,
    ids: Array,
    successes: Array,
    trials: Array,
    mask: Array,
    params: MoppsParams,
) -> tuple[MoppsState, MoppsUpdateInfo]:
    """Add one round of evidence: ``successes[r]`` of ``trials[r]`` for prompt
    ``ids[r]`` (rows with ``mask`` False are padding).

    Rows are summed per id and each distinct id is one visit. Invalid rows are
    ignored and counted; a prompt whose update is not finite keeps its previous
    posterior and is counted ("revert and flag"). ``step`` always advances.
    """
    num_prompts = state.alpha.shape[0]
    num_rows = ids.shape[0]
    dtype = state.alpha.dtype
    ids = ids.astype(jnp.int32)
    successes = successes.astype(dtype)
    trials = trials.astype(dtype)
    valid = (
        mask
        & (ids >= 0)
        & (ids < num_prompts)
        & jnp.isfinite(successes)
        & jnp.isfinite(trials)
        & (successes >= 0)
        & (trials > 0)
        & (successes <= trials)
    )
    keyed = jnp.where(valid, ids, num_prompts)
    unique, inverse = jnp.unique(
        keyed, size=num_rows, fill_value=num_prompts, return_inverse=True
    )
    inverse = jnp.reshape(inverse, (-1,))
    total_successes = jax.ops.segment_sum(
        jnp.where(valid, successes, 0.0), inverse, num_segments=num_rows
    )
    total_trials = jax.ops.segment_sum(
        jnp.where(valid, trials, 0.0), inverse, num_segments=num_rows
    )
    real = unique < num_prompts
    alpha = state.alpha.at[unique].get(mode="fill", fill_value=1.0)
    beta = state.beta.at[unique].get(mode="fill", fill_value=1.0)
    last_visit = state.last_visit.at[unique].get(mode="fill", fill_value=-1)
    alpha, beta = decay_towards_prior(
        alpha,
        beta,
        params.prior_alpha,
        params.prior_beta,
        _decay_factor(params, state.step, last_visit),
    )
    mean_before = alpha / (alpha + beta)
    new_alpha, new_beta = visit_update(
        alpha,
        beta,
        total_successes,
        total_trials - total_successes,
        params.prior_alpha,
        params.prior_beta,
        params.discount,
    )
    finite = (
        jnp.isfinite(new_alpha)
        & jnp.isfinite(new_beta)
        & (new_alpha > 0)
        & (new_beta > 0)
    )
    write = real & finite
    target = jnp.where(write, unique, num_prompts)
    new_state = state._replace(
        alpha=state.alpha.at[target].set(new_alpha, mode="drop"),
        beta=state.beta.at[target].set(new_beta, mode="drop"),
        last_visit=state.last_visit.at[target].set(state.step, mode="drop"),
        step=state.step + 1,
    )
    if state.group_alpha.shape[0] > 0:
        new_state = _update_groups(
            new_state, unique, write, total_successes, total_trials, params
        )

    count = jnp.sum(real)
    empirical = total_successes / jnp.where(real, total_trials, 1.0)
    solve_none = jnp.sum(real & (total_successes == 0))
    solve_all = jnp.sum(real & (total_successes == total_trials))
    info = MoppsUpdateInfo(
        num_groups=count,
        num_invalid=jnp.sum(mask & ~valid),
        num_nonfinite=jnp.sum(real & ~finite),
        solve_none=solve_none,
        solve_all=solve_all,
        zero_variance_fraction=(solve_none + solve_all) / jnp.maximum(count, 1),
        rho_selected=spearman(mean_before, empirical, real),
        mean_pseudo_counts=jnp.sum(jnp.where(write, new_alpha + new_beta, 0.0))
        / jnp.maximum(jnp.sum(write), 1),
    )
    return new_state, info


def _update_groups(state, unique, write, total_successes, total_trials, params):
    """Group posteriors: the discounted update of the summed evidence of the
    group's updated prompts, one visit per group per round."""
    num_share_groups = state.group_alpha.shape[0]
    groups = params.group_ids.at[unique].get(mode="fill", fill_value=0)
    groups = jnp.where(write, groups, num_share_groups)
    group_successes = jax.ops.segment_sum(
        total_successes, groups, num_segments=num_share_groups
    )
    group_trials = jax.ops.segment_sum(
        jnp.where(write, total_trials, 0.0), groups, num_segments=num_share_groups
    )
    visited = group_trials > 0
    alpha, beta = visit_update(
        state.group_alpha,
        state.group_beta,
        group_successes,
        group_trials - group_successes,
        params.prior_alpha,
        params.prior_beta,
        params.discount,
    )
    return state._replace(
        group_alpha=jnp.where(visited, alpha, state.group_alpha),
        group_beta=jnp.where(visited, beta, state.group_beta),
    )


def response_evidence(rewards: Array, evidence: str, success_threshold) -> Array:
    """Success of each response: ``1[reward >= threshold]`` (``"binary"``, the
    official ``bandit_metric=acc``) or the reward clipped to [0, 1]
    (``"fractional"``, ``bandit_metric=score``)."""
    if evidence == "binary":
        return (rewards >= success_threshold).astype(rewards.dtype)
    return jnp.clip(rewards, 0.0, 1.0)


# -- factory ------------------------------------------------------------------


class MoppsConfig(NamedTuple):
    """Static configuration of a :func:`mopps` agent (what ``PromptSelector``
    needs to drive the low-level functions)."""

    num_prompts: int
    num_select: int
    num_candidates: int
    strategy: str
    evidence: str
    success_threshold: float
    shapes_at_least_one: bool
    time_decay: bool
    num_share_groups: int
    options: dict


# Keyed weakly by the agent's ``act`` function, like ``bandits._registry``.
_CONFIGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def describe(agent: Agent) -> tuple[MoppsConfig, MoppsParams]:
    """The static configuration and parameters of an agent built by :func:`mopps`."""
    found = _CONFIGS.get(agent.act)
    if found is None:
        raise ValueError("agent was not built by bayesrl.prompts.mopps")
    return found


def _check_int(name, value, low):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _check_unit(name, value, closed_low=True):
    if not is_concrete(value):
        return
    array = np.asarray(value, dtype=np.float64)
    low_ok = array >= 0 if closed_low else array > 0
    if array.ndim != 0 or not (np.isfinite(array) and low_ok and array <= 1):
        raise ValueError(f"{name} must be a scalar in [0, 1], got {value!r}")


def _check_prior(name, value):
    if not is_concrete(value):
        return
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 0 or not np.isfinite(array) or array <= 0:
        raise ValueError(f"{name} must be a finite scalar > 0, got {value!r}")


def _check_counts(name, value, num_prompts):
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (num_prompts,):
        raise ValueError(
            f"{name} must have shape [num_prompts]=[{num_prompts}], got {array.shape}"
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    return array


def mopps(
    num_prompts: int,
    batch_size: int,
    candidate_multiplier: int = 8,
    target=0.5,
    discount=1.0,
    prior_alpha=1.0,
    prior_beta=1.0,
    *,
    strategy: str = "topk",
    lower_bound=0.3,
    upper_bound=0.7,
    num_candidates: int | None = None,
    evidence: str = "binary",
    success_threshold: float = 1.0,
    time_discount=1.0,
    group_ids=None,
    share_strength=0.0,
    initial_successes=None,
    initial_failures=None,
    init_weight: float = 3.0,
) -> Agent:
    """MoPPS prompt selector as an :class:`~bayesrl.base.Agent`.

    ``act(key, state, obs)`` returns the ``batch_size`` selected prompt ids
    (int32, distinct) among the stream's current candidates and a
    :class:`SelectInfo`; ``obs`` is ignored (candidates come from the stream).
    ``update(key, state, transition)`` reads one response per row
    (``transition.action`` = prompt ids, -1 = padding; ``transition.reward`` =
    the response's reward, turned into a success by ``evidence``), updates the
    posterior and advances the stream past the candidates ``act`` used
    (``key`` draws the next epoch's permutation keys). For explicit
    ``(successes, trials)`` counts and selections that run ahead of updates,
    use the module's :func:`select` / :func:`update` / :func:`advance_stream`
    or :class:`bayesrl.prompts.PromptSelector`.

    Args:
        num_prompts: N, number of prompts (static, >= 2).
        batch_size: B, prompts selected per step (static).
        candidate_multiplier: ``ts_ratio``; ``B_hat = candidate_multiplier * B``
            clamped to N with a warning (the official behaviour).
        target: ``gamma*`` of the ``topk`` rule (traceable).
        discount: per-visit discount ``lambda`` in (0, 1] (traceable).
        prior_alpha, prior_beta: prior ``Beta(alpha0, beta0)``, scalars > 0.
        strategy: ``"topk"``, ``"threshold"`` or ``"uniform"``.
        lower_bound, upper_bound: band of ``threshold``, ``0 <= lo <= hi <= 1``.
        num_candidates: set ``B_hat`` directly (overrides the multiplier).
        evidence: ``"binary"`` (success = reward >= ``success_threshold``) or
            ``"fractional"`` (reward clipped to [0, 1]) for per-response rewards.
        success_threshold: see ``evidence``.
        time_discount: ``rho`` in (0, 1] of the lazy time-aware decay; 1 = off.
        group_ids: int ``[N]`` group of each prompt for evidence sharing.
        share_strength: ``m >= 0`` pseudo-counts of the group mean; 0 = off.
        initial_successes, initial_failures: ``[N]`` base-model counts for the
            prior initialisation (both or neither).
        init_weight: weight of those counts (3 in the official code).
    """
    _check_int("num_prompts", num_prompts, 2)
    _check_int("batch_size", batch_size, 1)
    _check_int("candidate_multiplier", candidate_multiplier, 1)
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if evidence not in EVIDENCE:
        raise ValueError(f"evidence must be one of {EVIDENCE}, got {evidence!r}")
    if batch_size > num_prompts:
        raise ValueError(
            f"batch_size must be <= num_prompts={num_prompts}, got {batch_size}"
        )
    if num_candidates is None:
        num_candidates = candidate_multiplier * batch_size
    else:
        _check_int("num_candidates", num_candidates, 1)
    if num_candidates < batch_size:
        raise ValueError(
            f"num_candidates (B_hat={num_candidates}) must be >= batch_size "
            f"(B={batch_size})"
        )
    if num_candidates > num_prompts:
        warnings.warn(
            f"num_candidates={num_candidates} exceeds num_prompts={num_prompts}; "
            "clamped to num_prompts (every step sees the whole pool)",
            stacklevel=2,
        )
        num_candidates = num_prompts
    _check_unit("target", target)
    _check_unit("lower_bound", lower_bound)
    _check_unit("upper_bound", upper_bound)
    if is_concrete((lower_bound, upper_bound)) and lower_bound > upper_bound:
        raise ValueError(
            f"lower_bound must be <= upper_bound, got {lower_bound} > {upper_bound}"
        )
    check_discount("discount", discount)
    check_discount("time_discount", time_discount)
    _check_prior("prior_alpha", prior_alpha)
    _check_prior("prior_beta", prior_beta)
    if not isinstance(success_threshold, numbers.Real) or not np.isfinite(
        success_threshold
    ):
        raise ValueError(
            f"success_threshold must be a finite number, got {success_threshold!r}"
        )
    if (initial_successes is None) != (initial_failures is None):
        raise ValueError("give both initial_successes and initial_failures, or neither")
    if initial_successes is not None:
        initial_successes = _check_counts(
            "initial_successes", initial_successes, num_prompts
        )
        initial_failures = _check_counts(
            "initial_failures", initial_failures, num_prompts
        )
        if not (np.isfinite(init_weight) and init_weight >= 0):
            raise ValueError(
                f"init_weight must be finite and >= 0, got {init_weight!r}"
            )
    num_share_groups = 0
    if group_ids is not None:
        group_array = np.asarray(group_ids)
        if group_array.shape != (num_prompts,) or not np.issubdtype(
            group_array.dtype, np.integer
        ):
            raise ValueError(
                f"group_ids must be an int array of shape [{num_prompts}], got "
                f"{group_array.dtype} {group_array.shape}"
            )
        if group_array.min() < 0:
            raise ValueError("group_ids must be >= 0")
        num_share_groups = int(group_array.max()) + 1
        group_ids = jnp.asarray(group_array, jnp.int32)
    else:
        group_ids = jnp.zeros((0,), jnp.int32)
    if is_concrete(share_strength):
        if not (np.isfinite(share_strength) and share_strength >= 0):
            raise ValueError(
                f"share_strength must be finite and >= 0, got {share_strength!r}"
            )
        if share_strength > 0 and num_share_groups == 0:
            raise ValueError("share_strength > 0 needs group_ids")

    dtype = jnp.result_type(float)
    params = MoppsParams(
        target=jnp.asarray(target, dtype),
        discount=jnp.asarray(discount, dtype),
        prior_alpha=jnp.asarray(prior_alpha, dtype),
        prior_beta=jnp.asarray(prior_beta, dtype),
        lower_bound=jnp.asarray(lower_bound, dtype),
        upper_bound=jnp.asarray(upper_bound, dtype),
        time_discount=jnp.asarray(time_discount, dtype),
        share_strength=jnp.asarray(share_strength, dtype),
        group_ids=group_ids,
    )
    config = MoppsConfig(
        num_prompts=num_prompts,
        num_select=batch_size,
        num_candidates=num_candidates,
        strategy=strategy,
        evidence=evidence,
        success_threshold=float(success_threshold),
        shapes_at_least_one=all_at_least_one(prior_alpha, prior_beta),
        time_decay=not (is_concrete(time_discount) and float(time_discount) == 1.0),
        num_share_groups=num_share_groups,
        options=dict(
            num_prompts=num_prompts,
            batch_size=batch_size,
            num_candidates=num_candidates,
            target=config_value(target),
            discount=config_value(discount),
            prior_alpha=config_value(prior_alpha),
            prior_beta=config_value(prior_beta),
            strategy=strategy,
            lower_bound=config_value(lower_bound),
            upper_bound=config_value(upper_bound),
            evidence=evidence,
            success_threshold=float(success_threshold),
            time_discount=config_value(time_discount),
            share_strength=config_value(share_strength),
            num_share_groups=num_share_groups,
            prior_initialised=initial_successes is not None,
            init_weight=float(init_weight),
        ),
    )

    def init_fn(key: PRNGKey) -> MoppsState:
        return init(
            key,
            num_prompts,
            params,
            num_share_groups=num_share_groups,
            initial_successes=initial_successes,
            initial_failures=initial_failures,
            init_weight=init_weight,
        )

    def act_fn(key: PRNGKey, state: MoppsState, obs=None):
        del obs
        return select(
            key,
            state,
            params,
            num_select=batch_size,
            num_candidates=num_candidates,
            strategy=strategy,
            shapes_at_least_one=config.shapes_at_least_one,
            time_decay=config.time_decay,
        )

    def update_fn(key: PRNGKey, state: MoppsState, transition: Transition):
        ids, rewards = flatten_feedback(transition)
        rewards = rewards.astype(dtype)
        successes = response_evidence(rewards, evidence, success_threshold)
        state, info = update(
            state, ids, successes, jnp.ones_like(successes), ids >= 0, params
        )
        return advance_stream(key, state, num_candidates), info

    _CONFIGS[act_fn] = (config, params)
    return Agent(init=init_fn, act=act_fn, update=update_fn)
