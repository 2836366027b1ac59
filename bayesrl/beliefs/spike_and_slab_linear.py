"""Spike-and-slab linear regression fitted by coordinate-ascent variational
inference (CAVI), the posterior of sparse high-dimensional linear TS.

Model (Ray & Szabo, JASA 2022, arXiv:1904.07150; used for bandits by
Chakraborty, Roy & Tewari, ICML 2023, arXiv:2211.05964): ``y = x^T theta + eps``,
``eps ~ N(0, sigma^2)``, ``theta_j = z_j beta_j`` with ``z_j ~ Bern(w)`` and a
Laplace slab ``beta_j ~ (lambda / 2) exp(-lambda |beta_j|)``. The prior
inclusion odds are fixed at ``w / (1 - w) = a0 / b0`` (the authors' ``Beta(a0,
b0)`` hyper-prior enters the updates only through this ratio); defaults
``a0 = 1, b0 = dim^1.001, lambda = 1``.

Variational family ``q(theta) = prod_j [gamma_j N(mu_j, s_j^2) + (1 - gamma_j)
delta_0]``. With the data rescaled by the noise estimate (``X / sigma_hat``,
``y / sigma_hat``), weights ``w_i`` and ``mubar = gamma * mu``, one CAVI sweep
visits the coordinates in descending ``|mu_j|`` (order fixed at the start of a
fit) and, for each ``j``:

1. ``c_j = X_j^T W (X mubar - X_j mubar_j) - X_j^T W y``,
   ``h_j = X_j^T W X_j / 2``;
2. ``(mu_j, s_j) = argmin f(mu, s) = h_j (mu^2 + s^2) + c_j mu + lambda E|beta|
   - log s`` with ``E|beta| = mu erf(mu / (s sqrt 2)) + s sqrt(2/pi)
   exp(-mu^2 / (2 s^2))``, by ``newton_steps`` safeguarded Newton steps on
   ``(mu, log s)`` from the previous values (``f`` is convex there: its Hessian
   is positive definite; a step that does not lower ``f`` is refused and the
   next one is shortened, so ``f`` never increases);
3. ``gamma_j = sigmoid(log(a0/b0) + 1/2 + log(sqrt(pi) lambda / sqrt 2)
   - f(mu_j, s_j))``;
4. ``mubar_j = gamma_j mu_j``.

Sweeps repeat (``lax.while_loop``) until ``max_j |H(gamma_j) - H(gamma_j^old)|
<= tolerance`` (``H`` the binary entropy) or ``max_sweeps``. Each step
maximises the evidence lower bound in one coordinate block, so the ELBO

``-1/2 ||y - X mubar||_W^2 - (sum w) log(2 pi) / 2 - sum_j h_j Var_q(theta_j)
+ sum_j [gamma_j (log w + log(lambda/2) - lambda E|beta_j| + 1/2 + log(2 pi)/2
+ log s_j) + (1 - gamma_j) log(1 - w) + H(gamma_j)]``

(for the rescaled data) never decreases over sweeps; :func:`fit` reports it
after every sweep.

Data are kept in a fixed-capacity ring buffer shared by ``num_groups``
independent regressions (the arms of a disjoint linear bandit; one group for a
shared-parameter model): ``features [dim, capacity]`` (the transpose of ``X``,
so that a coordinate's column is contiguous), ``targets``, and the group of
each row (``-1`` for empty slots). When the buffer is full the oldest row is
overwritten (a sliding window). Updating a group refits only that group,
warm-started from its previous ``(mu, s, gamma)``.

Gaussian slab (``slab="gaussian"``; Carbonetto & Stephens, "Scalable
variational inference for Bayesian variable selection in regression",
Bayesian Analysis 2012, and R's ``sparsevb`` with ``slab = "gaussian"``): the
slab is ``beta_j ~ N(0, 1 / lambda^2)`` (our parametrisation: ``lambda`` is an
inverse scale for both slabs), the objective of step 2 becomes
``f(mu, s) = (h_j + lambda^2 / 2)(mu^2 + s^2) + c_j mu - log s`` and its
minimiser is closed-form::

    s_j^2 = 1 / (2 h_j + lambda^2),   mu_j = -c_j s_j^2,
    gamma_j = sigmoid(log(a0/b0) + 1/2 + log lambda - f(mu_j, s_j))
            = sigmoid(log(a0/b0) + log(lambda s_j) + mu_j^2 / (2 s_j^2)),

no Newton steps; the ELBO's slab term is ``log(lambda) - log(2 pi) / 2 -
lambda^2 (mu^2 + s^2) / 2`` instead of ``log(lambda / 2) - lambda E|beta|``.
This is cheaper than the paper's Laplace slab and not the paper's choice.

Cold start (the authors' ``VB.complexity.TS``;
``cold_restart_every=T1``): the fits number ``0, T1, 2 T1, ...`` of a group
start from ``mu`` = ridge estimate, ``gamma_j = 1`` on the LASSO support and
``s_hat / p`` elsewhere (``s_hat`` the support size), ``s_j = 1``, instead of
the previous fit's ``(mu, s, gamma)``. Both regressions run on the group's
rescaled rows by :func:`bayesrl.beliefs.elastic_net.elastic_net`
(``COLD_START_SWEEPS`` coordinate-descent sweeps): ridge with penalty
``(1 / n_w) ||beta||^2 / 2`` in glmnet's scale, i.e. the posterior mean under
a unit Gaussian prior on the rescaled data; LASSO with the universal penalty
``sqrt(2 log(p) / n_w)`` (:func:`~bayesrl.beliefs.elastic_net.universal_lasso_penalty`).
Simplification: the authors' glmnet uses cross-validated penalties (``lambda.1se``
for the LASSO), which need repeated fits per round; a fixed theory-driven
penalty keeps the shapes static. Under ``vmap`` (many seeds) the cold branch
is computed every round (a ``lax.cond`` becomes a select), at about
``2 COLD_START_SWEEPS`` sweeps' cost.

Noise: a known ``noise_std``, or (``noise_std=None``) the estimate
``sigma_hat^2 = (2 + RSS) / (2 + sum w)`` after each fit, with ``RSS`` the
weighted residual sum of squares at the variational mean ``mubar`` and two
pseudo-observations of variance 1 keeping it away from 0 on little data. (A
simplification of the authors' estimate from the mean of 30 posterior draws.)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl._checks import check_positive, is_concrete
from bayesrl.beliefs.elastic_net import elastic_net, universal_lasso_penalty
from bayesrl.types import Array, PRNGKey

SLABS = ("laplace", "gaussian")

# log(sqrt(pi) / sqrt(2)) + 1/2: the constant of the inclusion logit (step 3).
_LOGIT_CONSTANT = 0.5 * np.log(np.pi) - 0.5 * np.log(2.0) + 0.5
_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
# Pseudo-observations (of unit variance) in the noise estimate.
NOISE_PRIOR_COUNT = 2.0
# Smallest noise estimate: keeps the rescaled data finite.
MIN_NOISE_STD = 1e-3
# Coordinate-descent sweeps of the cold start's ridge and LASSO fits: on
# unit-variance features LASSO coordinate descent from 0 typically reaches
# its support in a few tens of sweeps (tested against scikit-learn).
COLD_START_SWEEPS = 30


class SpikeAndSlabState(NamedTuple):
    """Data buffer and variational parameters.

    Attributes:
        features: ``[dim, capacity]`` stored feature vectors (columns).
        targets: ``[capacity]`` stored rewards.
        groups: int32 ``[capacity]`` group (arm) of each row, ``-1`` if empty.
        num_stored: int32 rows written so far (the ring position is
            ``num_stored % capacity``).
        mean: ``mu [num_groups, dim]`` slab means.
        std: ``s [num_groups, dim]`` slab standard deviations.
        inclusion: ``gamma [num_groups, dim]`` inclusion probabilities.
        noise_std: ``[num_groups]`` the noise (known or estimated).
        num_fits: int32 ``[num_groups]`` fits of each group so far (the cold
            restart schedule).
    """

    features: Array
    targets: Array
    groups: Array
    num_stored: Array
    mean: Array
    std: Array
    inclusion: Array
    noise_std: Array
    num_fits: Array


class FitInfo(NamedTuple):
    """Diagnostics of one CAVI fit.

    Attributes:
        elbo: the ELBO after the last sweep (rescaled data).
        elbo_per_sweep: ``[max_sweeps]`` the ELBO after each sweep, NaN after
            the last one.
        num_sweeps: sweeps run.
        entropy_change: the last sweep's ``max_j |Delta H(gamma_j)|``.
    """

    elbo: Array
    elbo_per_sweep: Array
    num_sweeps: Array
    entropy_change: Array


class Hyperparameters(NamedTuple):
    """``lambda`` (slab rate), ``log(a0 / b0)`` (prior inclusion log-odds)."""

    slab_rate: Array
    prior_log_odds: Array


def expected_absolute(mu, s):
    """``E|beta|`` for ``beta ~ N(mu, s^2)`` (folded-normal mean)."""
    return mu * jax.lax.erf(mu / (s * np.sqrt(2.0))) + s * _SQRT_2_OVER_PI * jnp.exp(
        -0.5 * (mu / s) ** 2
    )


def coordinate_objective(mu, s, h, c, slab_rate):
    """``f(mu, s) = h (mu^2 + s^2) + c mu + lambda E|beta| - log s``."""
    return (
        h * (mu**2 + s**2) + c * mu + slab_rate * expected_absolute(mu, s) - jnp.log(s)
    )


def newton_coordinate(mu, s, h, c, slab_rate, num_steps: int):
    """Minimise :func:`coordinate_objective` over ``(mu, u = log s)`` by
    ``num_steps`` safeguarded Newton steps from ``(mu, s)``.

    Derivatives, with ``z = mu / s`` and ``p = sqrt(2/pi) exp(-z^2 / 2)``:
    ``F_mu = 2 h mu + c + lambda erf(z / sqrt 2)``,
    ``F_u = 2 h s^2 + lambda s p - 1``,
    ``F_mumu = 2 h + lambda p / s``, ``F_muu = -lambda p z``,
    ``F_uu = 4 h s^2 + lambda p s (1 + z^2)``. A step is accepted only if it
    lowers ``f``; a refused step quarters the step length of the next try and
    an accepted one doubles it (up to a full Newton step).
    """

    def objective(mu, u):
        return coordinate_objective(mu, jnp.exp(u), h, c, slab_rate)

    def step(_, carry):
        mu, u, value, length = carry
        s = jnp.exp(u)
        z = mu / s
        p = _SQRT_2_OVER_PI * jnp.exp(-0.5 * z**2)
        grad_mu = 2 * h * mu + c + slab_rate * jax.lax.erf(z / np.sqrt(2.0))
        grad_u = 2 * h * s**2 + slab_rate * s * p - 1.0
        hess_mumu = 2 * h + slab_rate * p / s
        hess_muu = -slab_rate * p * z
        hess_uu = 4 * h * s**2 + slab_rate * p * s * (1 + z**2)
        determinant = hess_mumu * hess_uu - hess_muu**2
        step_mu = (hess_uu * grad_mu - hess_muu * grad_u) / determinant
        step_u = (hess_mumu * grad_u - hess_muu * grad_mu) / determinant
        mu_new = mu - length * step_mu
        u_new = u - length * step_u
        value_new = objective(mu_new, u_new)
        better = jnp.isfinite(value_new) & (value_new < value)
        return (
            jnp.where(better, mu_new, mu),
            jnp.where(better, u_new, u),
            jnp.where(better, value_new, value),
            jnp.where(better, jnp.minimum(2.0 * length, 1.0), 0.25 * length),
        )

    u = jnp.log(s)
    start = (mu, u, objective(mu, u), jnp.ones_like(mu))
    mu, u, value, _ = jax.lax.fori_loop(0, num_steps, step, start)
    return mu, jnp.exp(u), value


def gaussian_coordinate(h, c, slab_rate):
    """Closed-form minimiser of the Gaussian-slab objective
    ``f(mu, s) = (h + lambda^2 / 2)(mu^2 + s^2) + c mu - log s``:
    ``s^2 = 1 / (2 h + lambda^2)``, ``mu = -c s^2``; returns ``(mu, s, f)``."""
    variance = 1.0 / (2.0 * h + slab_rate**2)
    mu = -c * variance
    value = (
        (h + 0.5 * slab_rate**2) * (mu**2 + variance) + c * mu - 0.5 * jnp.log(variance)
    )
    return mu, jnp.sqrt(variance), value


def slab_expected_log_density(mean, std, slab_rate, slab: str):
    """``E_{N(mu, s^2)} log p_slab(beta)``: ``log(lambda / 2) - lambda E|beta|``
    (Laplace) or ``log(lambda) - log(2 pi) / 2 - lambda^2 (mu^2 + s^2) / 2``
    (Gaussian)."""
    if slab == "laplace":
        return jnp.log(slab_rate / 2.0) - slab_rate * expected_absolute(mean, std)
    return (
        jnp.log(slab_rate)
        - 0.5 * np.log(2 * np.pi)
        - 0.5 * slab_rate**2 * (mean**2 + std**2)
    )


def binary_entropy(gamma):
    xlogy = jax.scipy.special.xlogy
    return -xlogy(gamma, gamma) - xlogy(1.0 - gamma, 1.0 - gamma)


def elbo(
    features,
    targets,
    weights,
    mean,
    std,
    inclusion,
    hyper: Hyperparameters,
    slab: str = "laplace",
):
    """The ELBO of the module docstring (data already rescaled)."""
    mubar = inclusion * mean
    residual = targets - mubar @ features
    half_curvature = 0.5 * (features**2) @ weights
    variance = inclusion * (mean**2 + std**2) - (inclusion * mean) ** 2
    log_w = jax.nn.log_sigmoid(hyper.prior_log_odds)
    log_not_w = jax.nn.log_sigmoid(-hyper.prior_log_odds)
    included = (
        log_w
        + slab_expected_log_density(mean, std, hyper.slab_rate, slab)
        + 0.5
        + 0.5 * np.log(2 * np.pi)
        + jnp.log(std)
    )
    return (
        -0.5 * jnp.sum(weights * residual**2)
        - 0.5 * jnp.sum(weights) * np.log(2 * np.pi)
        - jnp.sum(half_curvature * variance)
        + jnp.sum(inclusion * included + (1.0 - inclusion) * log_not_w)
        + jnp.sum(binary_entropy(inclusion))
    )


def fit(
    features: Array,
    targets: Array,
    weights: Array,
    mean: Array,
    std: Array,
    inclusion: Array,
    noise_std: Array,
    hyper: Hyperparameters,
    max_sweeps: int,
    tolerance,
    newton_steps: int,
    slab: str = "laplace",
) -> tuple[Array, Array, Array, FitInfo]:
    """CAVI for one regression, warm-started at ``(mean, std, inclusion)``.

    Args:
        features: ``[dim, n]`` (columns are observations).
        targets: ``[n]``.
        weights: ``[n]`` observation weights (0 for empty or foreign rows).
        mean, std, inclusion: ``[dim]`` starting variational parameters.
        noise_std: the scalar ``sigma_hat`` the data are rescaled by.
        hyper: slab rate and prior log-odds.
        max_sweeps: sweep cap (static).
        tolerance: stop when the largest entropy change is at most this.
        newton_steps: Newton steps per coordinate (static; Laplace slab).
        slab: ``"laplace"`` (Newton steps) or ``"gaussian"`` (closed form),
            static.

    Returns:
        ``(mean, std, inclusion, FitInfo)``.
    """
    features = features / noise_std
    targets = targets / noise_std
    half_curvature = 0.5 * (features**2) @ weights
    weighted_targets = features @ (weights * targets)
    order = jnp.argsort(-jnp.abs(mean), stable=True)
    dim = mean.shape[0]

    def coordinate(k, carry):
        mean, std, inclusion, fitted, entropy_change = carry
        j = order[k]
        column = features[j]
        mubar_j = inclusion[j] * mean[j]
        fitted = fitted - mubar_j * column
        c = jnp.dot(weights * column, fitted) - weighted_targets[j]
        if slab == "laplace":
            mu, s, value = newton_coordinate(
                mean[j], std[j], half_curvature[j], c, hyper.slab_rate, newton_steps
            )
            constant = _LOGIT_CONSTANT
        else:
            mu, s, value = gaussian_coordinate(half_curvature[j], c, hyper.slab_rate)
            constant = 0.5
        logit = hyper.prior_log_odds + constant + jnp.log(hyper.slab_rate) - value
        gamma = jax.nn.sigmoid(logit)
        fitted = fitted + gamma * mu * column
        change = jnp.abs(binary_entropy(gamma) - binary_entropy(inclusion[j]))
        return (
            mean.at[j].set(mu),
            std.at[j].set(s),
            inclusion.at[j].set(gamma),
            fitted,
            jnp.maximum(entropy_change, change),
        )

    def sweep(carry):
        mean, std, inclusion, fitted, trace, count, _ = carry
        zero = jnp.zeros((), mean.dtype)
        mean, std, inclusion, fitted, change = jax.lax.fori_loop(
            0, dim, coordinate, (mean, std, inclusion, fitted, zero)
        )
        value = elbo(features, targets, weights, mean, std, inclusion, hyper, slab)
        return (
            mean,
            std,
            inclusion,
            fitted,
            trace.at[count].set(value),
            count + 1,
            change,
        )

    def not_done(carry):
        count, change = carry[5], carry[6]
        return (count < max_sweeps) & (change > tolerance)

    fitted = (inclusion * mean) @ features
    trace = jnp.full((max_sweeps,), jnp.nan, mean.dtype)
    start = (
        mean,
        std,
        inclusion,
        fitted,
        trace,
        jnp.zeros((), jnp.int32),
        jnp.full((), jnp.inf, mean.dtype),
    )
    mean, std, inclusion, _, trace, count, change = jax.lax.while_loop(
        not_done, sweep, start
    )
    info = FitInfo(
        elbo=trace[count - 1],
        elbo_per_sweep=trace,
        num_sweeps=count,
        entropy_change=change,
    )
    return mean, std, inclusion, info


def cold_initialisation(features, targets, weights, noise_std):
    """The authors' cold start (module docstring): ``(mu, s, gamma)`` from a
    ridge fit and the LASSO support of the rescaled data."""
    features = features / noise_std
    targets = targets / noise_std
    dim = features.shape[0]
    total = jnp.maximum(jnp.sum(weights), 1.0)
    ridge = elastic_net(features, targets, weights, 0.0, 1.0 / total, COLD_START_SWEEPS)
    lasso = elastic_net(
        features,
        targets,
        weights,
        universal_lasso_penalty(dim, weights),
        0.0,
        COLD_START_SWEEPS,
    )
    support = lasso != 0
    elsewhere = jnp.sum(support) / dim
    inclusion = jnp.where(support, 1.0, elsewhere).astype(features.dtype)
    return ridge, jnp.ones_like(ridge), inclusion


def estimate_noise_std(features, targets, weights, mean, inclusion):
    """``sqrt((2 + RSS) / (2 + sum w))`` at the variational mean (module
    docstring), floored at :data:`MIN_NOISE_STD`."""
    residual = targets - (inclusion * mean) @ features
    rss = jnp.sum(weights * residual**2)
    variance = (NOISE_PRIOR_COUNT + rss) / (NOISE_PRIOR_COUNT + jnp.sum(weights))
    return jnp.maximum(jnp.sqrt(variance), MIN_NOISE_STD)


def init(
    dim: int, num_groups: int, capacity: int, noise_std, slab_rate, slab="laplace"
) -> SpikeAndSlabState:
    """Empty buffer; ``mu = 0``, ``gamma = 0`` and ``s`` at the minimiser of the
    data-free objective at ``mu = 0``: ``lambda E|beta| - log s`` gives
    ``s = 1 / (lambda sqrt(2/pi))`` (Laplace), ``lambda^2 s^2 / 2 - log s``
    gives ``s = 1 / lambda`` (Gaussian)."""
    dtype = jnp.result_type(float)
    rate = jnp.asarray(slab_rate, dtype)
    start_std = 1.0 / (rate * _SQRT_2_OVER_PI) if slab == "laplace" else 1.0 / rate
    return SpikeAndSlabState(
        features=jnp.zeros((dim, capacity), dtype),
        targets=jnp.zeros((capacity,), dtype),
        groups=jnp.full((capacity,), -1, jnp.int32),
        num_stored=jnp.zeros((), jnp.int32),
        mean=jnp.zeros((num_groups, dim), dtype),
        std=jnp.broadcast_to(start_std, (num_groups, dim)).astype(dtype),
        inclusion=jnp.zeros((num_groups, dim), dtype),
        noise_std=jnp.broadcast_to(
            jnp.asarray(1.0 if noise_std is None else noise_std, dtype),
            (num_groups,),
        ),
        num_fits=jnp.zeros((num_groups,), jnp.int32),
    )


def add_and_refit(
    state: SpikeAndSlabState,
    group,
    feature: Array,
    target,
    hyper: Hyperparameters,
    noise_std,
    max_sweeps: int,
    tolerance,
    newton_steps: int,
    slab: str = "laplace",
    cold_restart_every: int | None = None,
) -> tuple[SpikeAndSlabState, FitInfo]:
    """Store one observation of ``group`` (overwriting the oldest row when
    full) and refit that group's variational parameters, from the previous
    fit's or (every ``cold_restart_every`` fits, from the first) from the cold
    initialisation."""
    capacity = state.targets.shape[0]
    position = state.num_stored % capacity
    features = state.features.at[:, position].set(feature)
    targets = state.targets.at[position].set(target)
    groups = state.groups.at[position].set(group)
    weights = (groups == group).astype(features.dtype)
    sigma = state.noise_std[group]
    start = (state.mean[group], state.std[group], state.inclusion[group])
    if cold_restart_every is not None:
        cold = state.num_fits[group] % cold_restart_every == 0
        start = jax.lax.cond(
            cold,
            lambda: cold_initialisation(features, targets, weights, sigma),
            lambda: start,
        )
    mean, std, inclusion, info = fit(
        features,
        targets,
        weights,
        *start,
        sigma,
        hyper,
        max_sweeps,
        tolerance,
        newton_steps,
        slab,
    )
    if noise_std is None:
        sigma = estimate_noise_std(features, targets, weights, mean, inclusion)
    return (
        SpikeAndSlabState(
            features=features,
            targets=targets,
            groups=groups,
            num_stored=state.num_stored + 1,
            mean=state.mean.at[group].set(mean),
            std=state.std.at[group].set(std),
            inclusion=state.inclusion.at[group].set(inclusion),
            noise_std=state.noise_std.at[group].set(sigma),
            num_fits=state.num_fits.at[group].add(1),
        ),
        info,
    )


def sample(key: PRNGKey, state: SpikeAndSlabState) -> Array:
    """``theta~ = z (mu + s xi)``, ``z ~ Bern(gamma)``, ``xi ~ N(0, I)``;
    ``[num_groups, dim]``."""
    key_include, key_slab = fast_random.split(key)
    shape = state.mean.shape
    include = (
        fast_random.uniform(key_include, shape, state.mean.dtype) < state.inclusion
    )
    slab = state.mean + state.std * fast_random.normal(
        key_slab, shape, state.mean.dtype
    )
    return jnp.where(include, slab, 0.0)


def posterior_mean(state: SpikeAndSlabState) -> Array:
    """``E_q theta = gamma mu``, ``[num_groups, dim]``."""
    return state.inclusion * state.mean


class SpikeAndSlabLinear(NamedTuple):
    """A spike-and-slab linear belief with its static configuration closed over.

    Attributes:
        init: ``() -> state``.
        update: ``(state, group, feature [dim], target) -> (state, FitInfo)``.
        sample: ``(key, state) -> [num_groups, dim]`` one draw of ``theta``.
        mean: ``(state) -> [num_groups, dim]`` the variational mean.
        dim, num_groups, capacity: static sizes.
        config: JSON-friendly keyword arguments.
    """

    init: object
    update: object
    sample: object
    mean: object
    dim: int
    num_groups: int
    capacity: int
    config: dict


def _check_int(name: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def spike_and_slab_linear(
    dim: int,
    num_groups: int = 1,
    capacity: int = 1000,
    noise_std=None,
    slab_rate=1.0,
    prior_a=1.0,
    prior_b=None,
    max_sweeps: int = 10,
    tolerance=1e-3,
    newton_steps: int = 8,
    slab: str = "laplace",
    cold_restart_every: int | None = None,
) -> SpikeAndSlabLinear:
    """Spike-and-slab linear belief fitted by CAVI.

    Args:
        dim: feature dimension ``p`` (static).
        num_groups: independent regressions sharing the buffer (arms of a
            disjoint bandit), static.
        capacity: rows kept (static); older rows are overwritten.
        noise_std: known noise ``sigma > 0``, or None to estimate it.
        slab_rate: Laplace rate ``lambda > 0``.
        prior_a, prior_b: prior inclusion odds ``a0 / b0``; ``prior_b`` None
            means ``dim ** 1.001`` (the authors' default ``u = 1.001``).
        max_sweeps: CAVI sweep cap per refit (static; the authors use 1000 from
            a cold start, warm starts need few).
        tolerance: entropy-change stopping tolerance (authors: 1e-5 or 1e-2).
        newton_steps: Newton steps per coordinate (static; Laplace slab only).
        slab: ``"laplace"`` (the paper's, Newton coordinate steps) or
            ``"gaussian"`` (``N(0, 1 / slab_rate^2)``, closed-form coordinate
            updates; Carbonetto & Stephens 2012), static.
        cold_restart_every: None (default): the first fit starts from
            ``mu = 0, gamma = 0`` and every later one from the previous fit;
            an int ``T1 >= 1``: fits ``0, T1, 2 T1, ...`` of each group start
            from the ridge/LASSO cold initialisation (module docstring).
    """
    _check_int("dim", dim, 1)
    if slab not in SLABS:
        raise ValueError(f"slab must be one of {SLABS}, got {slab!r}")
    if cold_restart_every is not None:
        _check_int("cold_restart_every", cold_restart_every, 1)
    _check_int("num_groups", num_groups, 1)
    _check_int("capacity", capacity, 1)
    _check_int("max_sweeps", max_sweeps, 1)
    _check_int("newton_steps", newton_steps, 1)
    if prior_b is None:
        prior_b = float(dim) ** 1.001
    for name, value in (
        ("noise_std", noise_std),
        ("slab_rate", slab_rate),
        ("prior_a", prior_a),
        ("prior_b", prior_b),
    ):
        if value is not None:
            check_positive(name, value)
    if is_concrete(tolerance) and not float(tolerance) >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    dtype = jnp.result_type(float)

    def update(state, group, feature, target):
        hyper = Hyperparameters(
            slab_rate=jnp.asarray(slab_rate, dtype),
            prior_log_odds=jnp.log(jnp.asarray(prior_a, dtype) / prior_b),
        )
        return add_and_refit(
            state,
            group,
            feature,
            target,
            hyper,
            noise_std,
            max_sweeps,
            tolerance,
            newton_steps,
            slab,
            cold_restart_every,
        )

    def config_number(value):
        return float(value) if value is not None and is_concrete(value) else None

    return SpikeAndSlabLinear(
        init=lambda: init(dim, num_groups, capacity, noise_std, slab_rate, slab),
        update=update,
        sample=sample,
        mean=posterior_mean,
        dim=dim,
        num_groups=num_groups,
        capacity=capacity,
        config=dict(
            dim=dim,
            num_groups=num_groups,
            capacity=capacity,
            noise_std=config_number(noise_std),
            slab_rate=config_number(slab_rate),
            prior_a=config_number(prior_a),
            prior_b=config_number(prior_b),
            max_sweeps=max_sweeps,
            tolerance=config_number(tolerance),
            newton_steps=newton_steps,
            slab=slab,
            cold_restart_every=cold_restart_every,
        ),
    )
