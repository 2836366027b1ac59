"""The shared kernel: a posterior over parent sets and factored Dirichlet models.

Tabular PSRL, F-PSRL and C-PSRL are one algorithm with different candidate
parent sets (Mutti et al., ICLR 2024, https://arxiv.org/abs/2310.07518, §4):

* every next-state factor ``j`` has candidate parent sets ``z`` (rows of a
  static, padded table) of which the valid ones form ``Z_j = {z : z_j^0 ⊆ z,
  |z| <= Z}``;
* given ``z``, each conditional ``theta_j(. | u)`` for a parent configuration
  ``u`` has a ``Dirichlet(alpha 1_{b_j})`` prior, so its posterior is
  ``Dirichlet(alpha + n_j^z(u, .))``;
* ``z_j`` has the posterior ``P(z_j | D) ∝ P0_j(z_j) ML_j(z_j)`` with the
  Dirichlet-multinomial marginal likelihood, kept in its sequential form

      log ML_j(z) = sum_t ln[(alpha + n_{<t}(u_t, v_t)) / (b_j alpha + n_{<t}(u_t))],

  so one transition costs O(1) per candidate (no log-gamma) and the value
  equals the batch Gamma form :func:`log_marginal_likelihood`.

Each episode the agent draws ``z_j`` per node, then ``theta | z``, which is an
exact draw from ``P(z, theta | D)``, builds the dense model and plans.

F-PSRL (Osband & Van Roy 2014) is one candidate per node; tabular PSRL
(Osband et al. 2013) is one flat input factor ``(s, a)`` and one flat output
factor ``s'`` with one candidate.

Layout (static NumPy tables, so nothing recompiles when data change): parent
sets are ``int32[d_Y, M, Z]`` with the sentinel input ``d_X`` (always 0, stride
0) as padding; counts are ``int32[d_Y, M, U, N]`` with ``U`` the largest number
of configurations and ``N`` the largest cardinality.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from bayesrl import random as fast_random
from bayesrl.base import Agent, Transition
from bayesrl.beliefs.normal_gamma import init as normal_gamma_init
from bayesrl.beliefs.normal_gamma import sample as normal_gamma_sample
from bayesrl.beliefs.normal_gamma import update as normal_gamma_update
from bayesrl.psrl.average_reward import relative_value_iteration
from bayesrl.psrl.dirichlet import log_dirichlet
from bayesrl.psrl.planning import backward_induction, factored_backward_induction
from bayesrl.types import Array, PRNGKey

HYPERPRIORS = ("uniform", "size_penalised", "size_uniform")
# Normal-Gamma reward prior of Osband, Russo & Van Roy (2013, §6): mean 1,
# variance 1, one pseudo-observation; kappa_0 = n_0, alpha_0 = n_0 / 2 and
# beta_0 = n_0 sigma_0^2 / 2, so beta_0 / alpha_0 = sigma_0^2.
NORMAL_GAMMA_PRIOR_MEAN = 1.0
NORMAL_GAMMA_PRIOR_VARIANCE = 1.0
NORMAL_GAMMA_PSEUDOCOUNT = 1.0


class ParentSetTables(NamedTuple):
    """Static tables of candidate parent sets (NumPy; built by the factories).

    Attributes:
        input_sizes: ``int32[d_X]`` cardinalities of the inputs ``x = (s, a)``.
        output_sizes: ``int32[d_Y]`` cardinalities ``b_j`` of the outputs.
        members: ``bool[d_Y, M, d_X]``, whether input ``i`` is in candidate m.
        parents: ``int32[d_Y, M, Z]``, candidate members in increasing order,
            padded with the sentinel ``d_X``.
        strides: ``int32[d_Y, M, Z]``, mixed-radix strides (first parent most
            significant); 0 for padding.
        num_configurations: ``U``.
        num_values: ``N = max_j b_j``.
        inputs: ``int32[S, A, d_X]``, the inputs of every state-action pair.
        outputs: ``int32[S, d_Y]``, the output factors of every state.
    """

    input_sizes: np.ndarray
    output_sizes: np.ndarray
    members: np.ndarray
    parents: np.ndarray
    strides: np.ndarray
    num_configurations: int
    num_values: int
    inputs: np.ndarray
    outputs: np.ndarray

    @property
    def num_candidates(self) -> int:
        return self.parents.shape[1]


def subsets_up_to(num_inputs: int, max_size: int) -> list[tuple[int, ...]]:
    """All subsets of ``range(num_inputs)`` of size ``<= max_size``, by size then
    lexicographically: ``sum_{i <= max_size} C(num_inputs, i)`` of them."""
    return [
        subset
        for size in range(max_size + 1)
        for subset in itertools.combinations(range(num_inputs), size)
    ]


def build_tables(
    input_sizes: tuple[int, ...],
    output_sizes: tuple[int, ...],
    candidates: list[list[tuple[int, ...]]],
    inputs: np.ndarray,
    outputs: np.ndarray,
) -> ParentSetTables:
    """Pad per-node candidate lists (all of the same length) into tables."""
    num_inputs, num_outputs = len(input_sizes), len(output_sizes)
    num_candidates = len(candidates[0])
    if any(len(c) != num_candidates for c in candidates):
        raise ValueError("every node needs the same number of candidate parent sets")
    width = max(1, max(len(z) for node in candidates for z in node))
    members = np.zeros((num_outputs, num_candidates, num_inputs), bool)
    parents = np.full((num_outputs, num_candidates, width), num_inputs, np.int32)
    strides = np.zeros((num_outputs, num_candidates, width), np.int32)
    num_configurations = 1
    for j, node in enumerate(candidates):
        for m, subset in enumerate(node):
            subset = tuple(sorted(subset))
            sizes = [input_sizes[i] for i in subset]
            members[j, m, list(subset)] = True
            parents[j, m, : len(subset)] = subset
            for k in range(len(subset)):
                strides[j, m, k] = math.prod(sizes[k + 1 :])
            num_configurations = max(num_configurations, math.prod(sizes))
    return ParentSetTables(
        input_sizes=np.asarray(input_sizes, np.int32),
        output_sizes=np.asarray(output_sizes, np.int32),
        members=members,
        parents=parents,
        strides=strides,
        num_configurations=int(num_configurations),
        num_values=int(max(output_sizes)),
        inputs=np.asarray(inputs, np.int32),
        outputs=np.asarray(outputs, np.int32),
    )


def parents_to_mask(parents: Array, num_inputs: int) -> Array:
    """``int[d_Y, K]`` parent lists padded with -1 to ``bool[d_Y, d_X]``."""
    parents = jnp.asarray(parents)
    hits = parents[..., None] == jnp.arange(num_inputs)
    return jnp.any(hits & (parents[..., None] >= 0), axis=-2)


def candidate_mask(
    tables: ParentSetTables,
    known: Array,
    max_parents: Any,
    forbidden: Array | None = None,
) -> Array:
    """``valid[j, m] = (z_j^0 ⊆ z_m) and not (z_m ∩ F_j) and |z_m| <= Z``:
    ``bool[d_Y, M]``.

    ``known`` and ``forbidden`` (``bool[d_Y, d_X]``, None = nothing forbidden)
    and ``max_parents`` may be traced.
    """
    members = jnp.asarray(tables.members)
    contains_known = jnp.all(members | ~known[:, None, :], axis=-1)
    valid = contains_known & (members.sum(-1) <= max_parents)
    if forbidden is not None:
        valid = valid & ~jnp.any(members & forbidden[:, None, :], axis=-1)
    return valid


def log_hyperprior(
    tables: ParentSetTables,
    known: Array,
    max_parents: Any,
    hyperprior: str,
    size_penalty: Any,
    forbidden: Array | None = None,
) -> Array:
    """``log P0_j(z)`` up to a per-node constant: ``float32[d_Y, M]``.

    * ``"uniform"``: uniform on ``Z_j`` (the paper's unstated default).
    * ``"size_penalised"``: ``∝ size_penalty ** (|z| - eta_j)``.
    * ``"size_uniform"``: ``∝ 1 / [(Z - eta_j + 1) C(d_X - eta_j, |z| - eta_j)]``,
      uniform over sizes, then uniform within a size; ``d_X`` counts only
      the inputs that are not forbidden (``forbidden``, ``bool[d_Y, d_X]``).
    """
    members = jnp.asarray(tables.members)
    size = members.sum(-1).astype(jnp.float32)
    eta = known.sum(-1, keepdims=True).astype(jnp.float32)
    if hyperprior == "uniform":
        return jnp.zeros(size.shape, jnp.float32)
    if hyperprior == "size_penalised":
        return (size - eta) * jnp.log(jnp.asarray(size_penalty, jnp.float32))
    allowed = members.shape[-1]
    if forbidden is not None:
        allowed = allowed - forbidden.sum(-1, keepdims=True).astype(jnp.float32)
    free = allowed - eta
    extra = jnp.maximum(size - eta, 0.0)
    log_binomial = (
        jax.lax.lgamma(free + 1.0)
        - jax.lax.lgamma(extra + 1.0)
        - jax.lax.lgamma(jnp.maximum(free - extra, 0.0) + 1.0)
    )
    return -jnp.log(max_parents - eta + 1.0) - log_binomial


def configuration_indices(tables: ParentSetTables, x: Array) -> Array:
    """``u[j, m] = sum_k x[parents[j, m, k]] * strides[j, m, k]``: ``int32[d_Y, M]``."""
    padded = jnp.concatenate([x.astype(jnp.int32), jnp.zeros((1,), jnp.int32)])
    return jnp.sum(padded[tables.parents] * tables.strides, axis=-1)


# Largest U * N for which observe() updates the counts with one-hot masks over
# the whole [d_Y, M, U, N] table instead of a gather and a scatter of
# d_Y * M cells. Measured on the paper's random FMDP (U N = 8 * 2 = 16, 20
# seeds under vmap, 2-core x86-64): the one-hot update cut the CPU time of an
# episode's ten observe() calls several-fold, since XLA:CPU runs batched
# scatters and gathers element by element while the masked add is one
# vectorised pass. The masked pass costs U * N per candidate instead of
# O(Z + N), so large tables (Taxi: U N = 750 * 5; tabular PSRL: S A * S) keep
# the scatter.
ONE_HOT_MAX_CELLS = 64


def observe(
    counts: Array,
    log_evidence: Array,
    valid: Array,
    tables: ParentSetTables,
    x: Array,
    y: Array,
    alpha: Any,
    weight: Array,
    *,
    one_hot: bool | None = None,
) -> tuple[Array, Array]:
    """Add one transition ``x -> y`` to every candidate's counts and evidence.

    For all ``(j, m)`` at once: ``u = cfg(x; m)``, ``v = y[j]``, add
    ``ln(alpha + n[j,m,u,v]) - ln(b_j alpha + sum_v n[j,m,u,.])`` to the log
    evidence, add 1 to ``n[j,m,u,v]``, then subtract the per-node maximum over
    valid candidates (so competitive candidates stay near 0 in float32).

    Args:
        counts: ``int32[d_Y, M, U, N]``.
        log_evidence: ``float32[d_Y, M]``.
        valid: ``bool[d_Y, M]``.
        tables: the static tables.
        x: ``int32[d_X]`` input factors.
        y: ``int32[d_Y]`` output factors.
        alpha: Dirichlet concentration.
        weight: 0 or 1 (``int32``); 0 leaves both arrays unchanged.
        one_hot: read and update the counts through one-hot masks over ``(u,
            v)`` (True) or a gather and a scatter (False); both give identical
            results. None picks one-hot when ``U * N <= ONE_HOT_MAX_CELLS``.
    """
    num_outputs, num_candidates = log_evidence.shape
    if one_hot is None:
        one_hot = tables.num_configurations * tables.num_values <= ONE_HOT_MAX_CELLS
    u = configuration_indices(tables, x)
    v = jnp.broadcast_to(y[:, None], u.shape)
    if one_hot:
        config_mask = u[..., None] == jnp.arange(counts.shape[2])  # [d_Y, M, U]
        value_mask = v[..., None] == jnp.arange(counts.shape[3])  # [d_Y, M, N]
        rows = jnp.sum(jnp.where(config_mask[..., None], counts, 0), axis=2)
        n_uv = jnp.sum(jnp.where(value_mask, rows, 0), axis=-1)
    else:
        node = jnp.arange(num_outputs)[:, None]
        candidate = jnp.arange(num_candidates)[None, :]
        rows = counts[node, candidate, u]  # [d_Y, M, N]
        n_uv = jnp.take_along_axis(rows, v[..., None], axis=-1)[..., 0]
    n_u = rows.sum(-1)
    b = jnp.asarray(tables.output_sizes, jnp.float32)[:, None]
    delta = jnp.log(alpha + n_uv) - jnp.log(b * alpha + n_u)
    log_evidence = log_evidence + jnp.where(weight > 0, delta, 0.0)
    best = jnp.max(jnp.where(valid, log_evidence, -jnp.inf), axis=-1, keepdims=True)
    log_evidence = log_evidence - jnp.where(jnp.isfinite(best), best, 0.0)
    increment = weight.astype(counts.dtype)
    if one_hot:
        cell = config_mask[..., None] & value_mask[..., None, :]
        counts = counts + jnp.where(cell, increment, 0)
    else:
        counts = counts.at[node, candidate, u, v].add(increment)
    return counts, log_evidence


def log_marginal_likelihood(counts: Array, alpha: Any, output_sizes: Array) -> Array:
    """Batch Gamma form of the Dirichlet-multinomial evidence: ``[d_Y, M]``.

    ``sum_u [lnG(b alpha) - lnG(b alpha + n(u)) + sum_{v<b} (lnG(alpha + n(u,v))
    - lnG(alpha))]``; unvisited configurations contribute 0. Use it as a test
    oracle or for small counts: in float32 ``lnG(10^6)`` has spacing 1.
    """
    counts = jnp.asarray(counts)
    n = counts.astype(jnp.result_type(float))
    b = jnp.asarray(output_sizes, n.dtype)[:, None, None]
    value_mask = jnp.arange(counts.shape[-1]) < b[..., None]
    per_value = jnp.where(value_mask, gammaln(alpha + n) - gammaln(alpha), 0.0)
    per_config = gammaln(b * alpha) - gammaln(b * alpha + n.sum(-1))
    return jnp.sum(per_config + per_value.sum(-1), axis=-1)


def graph_logits(log_evidence: Array, log_prior: Array, valid: Array) -> Array:
    """``log P0 + log ML``, ``-inf`` on invalid candidates: ``[d_Y, M]``."""
    return jnp.where(valid, log_prior + log_evidence, -jnp.inf)


def sample_graph(key: PRNGKey, logits: Array) -> Array:
    """One candidate index per node from ``softmax(logits)``: ``int32[d_Y]``."""
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def sample_log_theta(
    key: PRNGKey, counts: Array, graph: Array, alpha: Any, output_sizes: Array
) -> Array:
    """``log theta_j(. | u) ~ log Dirichlet(alpha + n_j^{z_j}(u, .))``: ``[d_Y, U, N]``.

    Drawn as log-gamma variates normalised in log space
    (:func:`bayesrl.psrl.dirichlet.log_dirichlet`; a float32 Gamma draw at
    ``alpha = 1/|S|`` underflows to 0 often); padded values get concentration 1
    and are then set to ``-inf``.
    """
    num_outputs = counts.shape[0]
    selected = counts[jnp.arange(num_outputs), graph]  # [d_Y, U, N]
    value_mask = jnp.arange(counts.shape[-1]) < jnp.asarray(output_sizes)[:, None]
    value_mask = value_mask[:, None, :]
    concentration = jnp.where(value_mask, alpha + selected.astype(jnp.float32), 1.0)
    return log_dirichlet(key, concentration, value_mask)


def sampled_configurations(tables: ParentSetTables, graph: Array) -> Array:
    """``u_j(s, a)``, the configuration of each pair's inputs under the sampled
    parent set of each factor: ``int32[S, A, d_Y]``."""
    padded_inputs = np.concatenate(
        [tables.inputs, np.zeros(tables.inputs.shape[:-1] + (1,), np.int32)], -1
    )
    node = jnp.arange(len(tables.output_sizes))
    parents = jnp.asarray(tables.parents)[node, graph]  # [d_Y, Z]
    strides = jnp.asarray(tables.strides)[node, graph]
    return jnp.sum(jnp.asarray(padded_inputs)[..., parents] * strides, axis=-1)


def transition_matrix(tables: ParentSetTables, cpts: Array, graph: Array) -> Array:
    """The dense model of a sampled graph and CPTs: ``float32[S, A, S]``.

    ``P[s, a, s'] = prod_j theta_j(s'[j] | x(s, a)[z_j])``, built as an outer
    product over the factors (first factor most significant) with the
    state-action pairs on the minor axis, ``[b_1, ..., b_j, S A]``, so every
    product is vectorised (XLA:CPU vectorises along the minor axis only, and the
    factor axes have 2 to 5 entries), then transposed once.

    Args:
        tables: the static tables.
        cpts: ``float32[d_Y, U, N]`` sampled conditionals ``theta_j(v | u)``.
        graph: ``int32[d_Y]`` the sampled candidate of each factor.
    """
    num_states, num_actions = tables.inputs.shape[:2]
    num_pairs = num_states * num_actions
    configs = sampled_configurations(tables, graph).reshape(num_pairs, -1)
    joint = jnp.ones((1, num_pairs), cpts.dtype)
    for j, b in enumerate(tables.output_sizes.tolist()):
        factor = cpts[j, configs[:, j], :b].T  # [b_j, S A]
        joint = (joint[:, None, :] * factor[None, :, :]).reshape(-1, num_pairs)
    return joint.T.reshape(num_states, num_actions, -1)


# Planner choice of "auto". Measured on a shared 2-core x86-64 machine (20
# seeds under vmap, min of 3): a backward induction on the paper's random FMDP
# (|S| = 64, |A| = 8, six binary factors, H = 10) took 0.11 ms per
# seed-episode on the dense matrix (build included) against 0.73 ms factor by
# factor; on Taxi (|S| = 500, |A| = 6, factors 5, 5, 5, 4, H = 50) 20-28 ms
# against 31 ms. Binary or small factors leave the factored contraction's
# minor axis at b_j = 2..5 entries, which XLA:CPU does not vectorise, so it
# only pays for memory: it is chosen when the dense matrix would exceed this
# many bytes, and for a single output factor, whose CPT is the dense matrix
# itself (tabular PSRL: no product to build).
DENSE_PLANNER_MAX_BYTES = 256 * 2**20
PLANNERS = ("auto", "dense", "factored")
CRITERIA = ("finite_horizon", "average_reward")


def resolve_planner(tables: ParentSetTables, planner: str) -> str:
    """``"dense"`` or ``"factored"`` for ``planner`` (``"auto"`` decides by
    size, see :data:`DENSE_PLANNER_MAX_BYTES`)."""
    if planner not in PLANNERS:
        raise ValueError(f"planner must be one of {PLANNERS}, got {planner!r}")
    if planner != "auto":
        return planner
    num_states, num_actions = tables.inputs.shape[:2]
    dense_bytes = 4 * num_states * num_actions * num_states
    if len(tables.output_sizes) == 1 or dense_bytes > DENSE_PLANNER_MAX_BYTES:
        return "factored"
    return "dense"


def sampled_parent_lists(tables: ParentSetTables, graph: Array) -> Array:
    """The sampled parent sets in the ``params.parents`` layout (-1 padded)."""
    node = jnp.arange(len(tables.output_sizes))
    parents = jnp.asarray(tables.parents)[node, graph]
    return jnp.where(parents < len(tables.input_sizes), parents, -1)


class PSRLState(NamedTuple):
    """State of a posterior-sampling agent (tabular, factored or causal).

    Attributes:
        counts: ``int32[d_Y, M, U, N]`` transition counts per candidate.
        log_evidence: ``float32[d_Y, M]`` sequential log marginal likelihood,
            shifted so the best valid candidate of each node is at 0.
        reward_posterior: the reward posterior: ``float32[S, A, 2]`` Beta
            pseudo-counts of the rescaled reward (prior ``Beta(1, 1)``; also
            kept, unused, with a known reward), or a
            :class:`~bayesrl.beliefs.normal_gamma.NormalGammaState` over the
            ``S A`` pairs (flat index ``s A + a``) with ``reward="normal_gamma"``.
        graph: ``int32[d_Y]`` the sampled candidate of each node.
        sampled_parents: ``int32[d_Y, Z]`` the sampled parent sets (-1 padded).
        cpts: ``float32[d_Y, U, N]`` the sampled conditionals ``theta_j(v |
            u)`` of the sampled parent sets (padded values 0); the dense model
            is ``agent.transition_model(state)``.
        rewards: ``float32[S, A]`` the sampled (or known) reward.
        policy: ``int32[H, S]`` the plan for the current episode
            (``int32[S]`` stationary with the average-reward criterion).
        step: ``int32`` step within the episode.
        episode: ``int32`` number of completed episodes.
    """

    counts: Array
    log_evidence: Array
    reward_posterior: Any
    graph: Array
    sampled_parents: Array
    cpts: Array
    rewards: Array
    policy: Array
    step: Array
    episode: Array


class PSRLInfo(NamedTuple):
    """Diagnostics of one update.

    Attributes:
        new_episode: whether a model was sampled and planned in this update.
        rejected: the transition held a non-finite reward and was ignored.
        graph_entropy: ``float32[d_Y]`` entropy of the parent-set posterior.
        evidence_gap: ``float32[d_Y]`` top-1 minus top-2 posterior logit
            (``inf`` with a single valid candidate).
    """

    new_episode: Array
    rejected: Array
    graph_entropy: Array
    evidence_gap: Array


class EpisodicAgent(Agent):
    """An :class:`~bayesrl.base.Agent` that also exposes its episode pieces.

    ``observe(state, transition) -> state`` adds one transition (action ``-1``
    is padding and leaves the state unchanged); ``begin_episode(key, state) ->
    state`` samples a model and plans; ``transition_model(state)`` is the dense
    ``float32[S, A, S]`` sampled model. ``update`` is ``observe`` followed by
    ``begin_episode`` under ``lax.cond`` when the transition ends the episode;
    :func:`bayesrl.psrl.run_episodes` calls the pieces directly so that a
    vmapped run plans once per episode (a batched ``cond`` would run both
    branches at every step).

    ``criterion`` is ``"finite_horizon"`` (an ``int32[H, S]`` plan for
    :func:`bayesrl.psrl.run_episodes`) or ``"average_reward"`` (an
    ``int32[S]`` stationary plan for :func:`bayesrl.psrl.run_continuing`).

    ``prior_state()`` is the state before any plan and ``plan(key, state)``
    samples and plans without counting an episode, so that ``init(key) ==
    plan(key, prior_state())``. :func:`bayesrl.psrl.run_episodes` uses them
    to trace the sampler and planner once (the first plan is made inside the
    episode loop instead of in a separate ``init``), which cuts the XLA
    compile time of an unbatched call by about 40%.
    """

    def __new__(
        cls,
        init,
        act,
        update,
        *,
        observe,
        begin_episode,
        transition_model,
        prior_state,
        plan,
        criterion="finite_horizon",
    ):
        agent = super().__new__(cls, init, act, update)
        agent.observe = observe
        agent.begin_episode = begin_episode
        agent.prior_state = prior_state
        agent.plan = plan
        agent.transition_model = transition_model
        agent.criterion = criterion
        return agent


def state_index(obs: Array, num_states: int) -> Array:
    """The state index of an observation (an index, or a one-hot vector)."""
    obs = jnp.asarray(obs)
    if obs.ndim == 0:
        return obs.astype(jnp.int32)
    return jnp.argmax(obs.reshape(num_states)).astype(jnp.int32)


def make_posterior_sampling_agent(
    tables: ParentSetTables,
    *,
    horizon: int,
    alpha: Any,
    known: Array,
    max_parents: Any,
    hyperprior: str,
    size_penalty: Any,
    reward: Array | None,
    reward_range: tuple[float, float],
    termination: Array,
    forbidden: Array | None = None,
    planner: str = "auto",
    criterion: str = "finite_horizon",
    planning_tolerance: Any = 0.01,
    max_planning_iterations: int = 1000,
) -> EpisodicAgent:
    """The posterior-sampling agent over ``tables`` (see the module docstring).

    Args:
        tables: candidate parent sets and input/output lookups.
        horizon: ``H``.
        alpha: Dirichlet concentration of every CPT (may be traced).
        known: ``bool[d_Y, d_X]`` known parents ``G0`` (may be traced).
        max_parents: the degree bound ``Z`` (may be traced, <= the table width).
        hyperprior: one of :data:`HYPERPRIORS`.
        size_penalty: ``kappa`` of the size-penalised hyper-prior.
        reward: ``float32[S, A]`` known mean rewards; None to learn them with
            a Beta(1, 1) prior on ``(r - low) / (high - low)`` (fractional
            Bernoulli updates, conjugate for rewards in {low, high}); or
            ``"normal_gamma"`` for a Normal-Gamma prior per pair,
            ``r ~ N(mu, 1/lambda)``, ``lambda ~ Gamma(1/2, 1/2)``, ``mu |
            lambda ~ N(1, 1/lambda)``: prior mean 1, prior variance guess
            ``beta_0 / alpha_0 = 1`` and one pseudo-observation
            (``kappa_0 = 2 alpha_0 = 1``), the prior of Osband et al. (2013,
            §6) as we read it. Each episode draws ``lambda`` then ``mu`` per
            pair from the posterior (``bayesrl.beliefs.normal_gamma``).
        reward_range: ``(low, high)``.
        termination: ``float32[S, A]`` known termination indicator.
        forbidden: ``bool[d_Y, d_X]`` inputs that are never parents (may be
            traced), or None.
        planner: ``"dense"`` (build ``P[S, A, S]``, then backward induction),
            ``"factored"`` (contract factor by factor, never build it) or
            ``"auto"`` (:func:`resolve_planner`).
        criterion: ``"finite_horizon"`` (``H``-step backward induction, a
            non-stationary ``int32[H, S]`` policy) or ``"average_reward"``
            (relative value iteration on the dense sampled model, a
            stationary ``int32[S]`` policy, for continuing runs with
            :func:`bayesrl.psrl.run_continuing`; ``planner`` is then unused).
        planning_tolerance: span stopping rule of relative value iteration
            (average reward only; may be traced).
        max_planning_iterations: its cap on backups (average reward only).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    num_states, num_actions = tables.inputs.shape[:2]
    num_outputs = len(tables.output_sizes)
    state_sizes = tuple(tables.output_sizes.tolist())
    width = tables.parents.shape[-1]
    planner = resolve_planner(tables, planner)
    low, high = reward_range
    valid = candidate_mask(tables, known, max_parents, forbidden)
    log_prior = log_hyperprior(
        tables, known, max_parents, hyperprior, size_penalty, forbidden
    )
    if reward is None:
        reward_model, known_reward = "beta_bernoulli", None
    elif isinstance(reward, str):
        reward_model, known_reward = reward, None
    else:
        reward_model, known_reward = "known", jnp.asarray(reward, jnp.float32)
    num_pairs = num_states * num_actions
    termination = jnp.asarray(termination, jnp.float32)
    if criterion == "average_reward":
        policy_shape = (num_states,)
    else:
        policy_shape = (horizon, num_states)

    def initial_reward_posterior():
        if reward_model == "normal_gamma":
            return normal_gamma_init(
                num_pairs,
                prior_mean=NORMAL_GAMMA_PRIOR_MEAN,
                prior_precision_scale=NORMAL_GAMMA_PSEUDOCOUNT,
                prior_shape=0.5 * NORMAL_GAMMA_PSEUDOCOUNT,
                prior_rate=0.5 * NORMAL_GAMMA_PSEUDOCOUNT * NORMAL_GAMMA_PRIOR_VARIANCE,
            )
        return jnp.ones((num_states, num_actions, 2), jnp.float32)

    def begin_episode(key: PRNGKey, state: PSRLState) -> PSRLState:
        key_graph, key_theta, key_reward = fast_random.split(key, 3)
        logits = graph_logits(state.log_evidence, log_prior, valid)
        graph = sample_graph(key_graph, logits)
        log_theta = sample_log_theta(
            key_theta, state.counts, graph, alpha, tables.output_sizes
        )
        cpts = jnp.exp(log_theta)
        if reward_model == "beta_bernoulli":
            # Beta(a, b) is the first coordinate of Dirichlet(a, b).
            log_fraction = log_dirichlet(
                key_reward, state.reward_posterior, jnp.ones((2,), bool)
            )
            rewards = low + (high - low) * jnp.exp(log_fraction[..., 0])
        elif reward_model == "normal_gamma":
            rewards = normal_gamma_sample(key_reward, state.reward_posterior)
            rewards = rewards.reshape(num_states, num_actions).astype(jnp.float32)
        else:
            rewards = known_reward
        if criterion == "average_reward":
            transitions = transition_matrix(tables, cpts, graph)
            policy = relative_value_iteration(
                transitions, rewards, planning_tolerance, max_planning_iterations
            ).policy
        elif planner == "dense":
            transitions = transition_matrix(tables, cpts, graph)
            policy = backward_induction(
                transitions, rewards, termination, horizon
            ).policy
        else:
            policy = factored_backward_induction(
                cpts,
                sampled_configurations(tables, graph),
                state_sizes,
                rewards,
                termination,
                horizon,
            ).policy
        return state._replace(
            graph=graph,
            sampled_parents=sampled_parent_lists(tables, graph),
            cpts=cpts,
            rewards=rewards,
            policy=policy,
            step=jnp.zeros((), jnp.int32),
        )

    def prior_state() -> PSRLState:
        return PSRLState(
            counts=jnp.zeros(
                (
                    num_outputs,
                    tables.num_candidates,
                    tables.num_configurations,
                    tables.num_values,
                ),
                jnp.int32,
            ),
            log_evidence=jnp.zeros((num_outputs, tables.num_candidates), jnp.float32),
            reward_posterior=initial_reward_posterior(),
            graph=jnp.zeros((num_outputs,), jnp.int32),
            sampled_parents=jnp.full((num_outputs, width), -1, jnp.int32),
            cpts=jnp.zeros(
                (num_outputs, tables.num_configurations, tables.num_values),
                jnp.float32,
            ),
            rewards=jnp.zeros((num_states, num_actions), jnp.float32),
            policy=jnp.zeros(policy_shape, jnp.int32),
            step=jnp.zeros((), jnp.int32),
            episode=jnp.zeros((), jnp.int32),
        )

    def init(key: PRNGKey) -> PSRLState:
        return begin_episode(key, prior_state())

    def act(key: PRNGKey, state: PSRLState, obs: Array) -> tuple[Array, dict]:
        del key
        s = state_index(obs, num_states)
        if criterion == "average_reward":
            return state.policy[s], {}
        step = jnp.clip(state.step, 0, horizon - 1)
        return state.policy[step, s], {}

    def observe_pair(
        state: PSRLState, transition: Transition, count_next_state: Array
    ) -> tuple[PSRLState, Array]:
        action = jnp.asarray(transition.action, jnp.int32)
        reward = jnp.asarray(transition.reward, jnp.float32)
        rejected = (action >= 0) & ~jnp.isfinite(reward)
        used = (action >= 0) & ~rejected
        s = state_index(transition.obs, num_states)
        s_next = state_index(transition.next_obs, num_states)
        a = jnp.clip(action, 0, num_actions - 1)
        weight = (used & count_next_state).astype(jnp.int32)
        counts, log_evidence = observe(
            state.counts,
            state.log_evidence,
            valid,
            tables,
            jnp.asarray(tables.inputs)[s, a],
            jnp.asarray(tables.outputs)[s_next],
            alpha,
            weight,
        )
        if reward_model == "normal_gamma":
            reward_posterior = normal_gamma_update(
                state.reward_posterior,
                (s * num_actions + a)[None],
                jnp.where(used, reward, 0.0)[None],
                used.astype(jnp.float32)[None],
            )
        else:
            fraction = jnp.clip(
                (jnp.where(used, reward, low) - low) / (high - low), 0, 1
            )
            increment = jnp.stack([fraction, 1.0 - fraction]) * used
            reward_posterior = state.reward_posterior.at[s, a].add(increment)
        state = state._replace(
            counts=counts,
            log_evidence=log_evidence,
            reward_posterior=reward_posterior,
            step=state.step + 1,
        )
        return state, rejected

    def begin_next_episode(key: PRNGKey, state: PSRLState) -> PSRLState:
        state = begin_episode(key, state)
        return state._replace(episode=state.episode + 1)

    def observe_transition(state: PSRLState, transition: Transition) -> PSRLState:
        return observe_pair(state, transition, jnp.ones((), bool))[0]

    def update(
        key: PRNGKey, state: PSRLState, transition: Transition
    ) -> tuple[PSRLState, PSRLInfo]:
        done = jnp.logical_or(transition.terminated, transition.truncated)
        # gymnax auto-resets: a transition that ends the episode carries the
        # reset observation as next_obs, so only its reward is used.
        state, rejected = observe_pair(state, transition, ~done)
        state = jax.lax.cond(done, begin_next_episode, lambda k, s: s, key, state)
        logits = graph_logits(state.log_evidence, log_prior, valid)
        return state, PSRLInfo(
            new_episode=done,
            rejected=rejected,
            graph_entropy=_entropy(logits),
            evidence_gap=_top_two_gap(logits),
        )

    return EpisodicAgent(
        init,
        act,
        update,
        observe=observe_transition,
        begin_episode=begin_next_episode,
        transition_model=lambda state: transition_matrix(
            tables, state.cpts, state.graph
        ),
        prior_state=prior_state,
        plan=begin_episode,
        criterion=criterion,
    )


def _entropy(logits: Array) -> Array:
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    probs = jnp.exp(log_probs)
    return -jnp.sum(jnp.where(probs > 0, probs * log_probs, 0.0), axis=-1)


def _top_two_gap(logits: Array) -> Array:
    if logits.shape[-1] < 2:
        return jnp.full(logits.shape[:-1], jnp.inf)
    top_two = jax.lax.top_k(logits, 2)[0]
    return top_two[..., 0] - top_two[..., 1]
