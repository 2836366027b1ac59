"""Causal PSRL (C-PSRL): posterior sampling with a causal-graph prior.

Mutti, De Santi, Restelli, Marx & Ramponi, "Exploiting Causal Graph Priors with
Posterior Sampling for Reinforcement Learning", ICLR 2024,
https://arxiv.org/abs/2310.07518 (Algorithm 1).

The practitioner states known edges ``G0`` (known parents ``z_j^0`` of each
next-state factor) and a degree bound ``Z``. The hypothesis space of node ``j``
is ``Z_j = {z : z_j^0 ⊆ z, |z| <= Z}`` with ``|Z_j| = sum_{i <= Z - eta_j}
C(d_X - eta_j, i)``. The prior is hierarchical: ``z_j ~ P0_j`` (uniform on
``Z_j`` by default), then ``theta_j(. | u) ~ Dirichlet(alpha 1_{b_j})``. The
posterior of ``z_j`` is exact and per node,

    P(z_j | D) ∝ P0_j(z_j) prod_u [G(b alpha) / G(b alpha + n(u))
                 prod_v G(alpha + n(u, v)) / G(alpha)],

kept sequentially at O(1) per transition per candidate. Each episode: draw
``z_j`` per node from it, then ``theta | z`` from the Dirichlet posterior, plan
on the product model and act. Scores use the marginal likelihood with the same
``alpha`` as the sampler, never the likelihood of last episode's ``theta``.
Bayesian regret ``O~((H^{5/2} N^{1+Z/2} d_Y + sqrt(H 2^{d_X - eta})) sqrt(K))``
(Theorem 1).

Candidates are every subset of the ``d_X`` inputs of size ``<= max_parents``
(one static table shared by the nodes), and validity is computed from ``G0`` in
jit, so ``known_parents`` and ``prior_alpha`` may be traced (vmap over ``G0``
draws) without recompiling.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from bayesrl import random as fast_random
from bayesrl._checks import check_positive
from bayesrl.envs.factored import FactoredMDP
from bayesrl.psrl import validation
from bayesrl.psrl.parent_sets import (
    HYPERPRIORS,
    EpisodicAgent,
    build_tables,
    make_posterior_sampling_agent,
    parents_to_mask,
    subsets_up_to,
)
from bayesrl.types import Array, PRNGKey


def cpsrl(
    env: FactoredMDP,
    known_parents: Any,
    max_parents: int,
    prior_alpha: Any = 1.0,
    hyperprior: str = "uniform",
    reward: Any = None,
    *,
    size_penalty: float = 0.5,
    termination: Any = None,
    forbidden_parents: Any = None,
    planner: str = "auto",
) -> EpisodicAgent:
    """C-PSRL on ``env`` with known parents ``G0`` and degree bound ``Z``.

    Args:
        env: a :class:`~bayesrl.envs.FactoredMDP`.
        known_parents: int ``[d_Y, K]`` known parents of each next-state factor,
            padded with -1 (the layout of ``params.parents``); may be traced.
        max_parents: ``Z``, the in-degree bound (static).
        prior_alpha: Dirichlet concentration ``alpha`` of every conditional,
            used both to score parent sets and to sample CPTs (may be traced).
        hyperprior: ``"uniform"`` on ``Z_j``; ``"size_penalised"``, ``P0_j(z) ∝
            size_penalty ** (|z| - eta_j)``; or ``"size_uniform"``, uniform over
            sizes then within a size.
        reward: None to learn the reward (Beta(1, 1) on the reward rescaled by
            ``env.reward_range``); ``"normal_gamma"`` to learn it with the
            Normal-Gamma prior of Osband et al. (2013): mean 1, variance 1, one
            pseudo-observation; or a known ``[S, A]`` table. A learned reward
            (one per state-action pair) can dominate the regret for thousands
            of episodes and hide what the dynamics prior buys: to compare
            transition priors, pass the known reward.
        size_penalty: ``kappa`` in (0, 1] for ``"size_penalised"``.
        termination: known ``[S, A]`` termination; None takes the env's rules.
        forbidden_parents: int ``[d_Y, K']`` inputs known *not* to be parents of
            each next-state factor, padded with -1 (may be traced), or None. A
            bayesrl extension (the paper uses no forbidden-edge knowledge): the
            parent-set posterior puts no mass on sets containing them.
        planner: ``"dense"`` builds ``P[S, A, S]`` and runs backward induction;
            ``"factored"`` contracts ``E[V(s')]`` factor by factor from the
            sampled CPTs and never builds it; ``"auto"`` takes the dense path
            unless ``P`` would exceed 256 MiB (or there is one flat factor), see
            :func:`bayesrl.psrl.parent_sets.resolve_planner`.
    """
    validation.check_env(env, factored=True)
    num_outputs, num_inputs = len(env.state_sizes), len(env.input_sizes)
    if (
        not isinstance(max_parents, int)
        or isinstance(max_parents, bool)
        or not 1 <= max_parents <= num_inputs
    ):
        raise ValueError(
            f"max_parents must be an int in [1, d_X={num_inputs}], got {max_parents!r}"
        )
    if hyperprior not in HYPERPRIORS:
        raise ValueError(f"hyperprior must be one of {HYPERPRIORS}, got {hyperprior!r}")
    if not 0.0 < float(size_penalty) <= 1.0:
        raise ValueError(f"size_penalty must be in (0, 1], got {size_penalty!r}")
    validation.check_parent_lists(
        "known_parents", known_parents, num_outputs, num_inputs, max_parents
    )
    forbidden = None
    if forbidden_parents is not None:
        validation.check_parent_lists(
            "forbidden_parents", forbidden_parents, num_outputs, num_inputs, num_inputs
        )
        validation.check_disjoint_parents(known_parents, forbidden_parents)
        forbidden = parents_to_mask(forbidden_parents, num_inputs)
    check_positive("prior_alpha", prior_alpha)
    reward = validation.resolve_reward(env, reward)
    termination = validation.resolve_termination(env, termination)
    subsets = subsets_up_to(num_inputs, max_parents)
    tables = build_tables(
        env.input_sizes,
        env.state_sizes,
        [subsets] * num_outputs,
        env.input_factors(),
        env.state_factors,
    )
    validation.check_memory(
        num_outputs, len(subsets), tables.num_configurations, tables.num_values
    )
    return make_posterior_sampling_agent(
        tables,
        horizon=env.horizon,
        alpha=prior_alpha,
        known=parents_to_mask(known_parents, num_inputs),
        max_parents=max_parents,
        hyperprior=hyperprior,
        size_penalty=size_penalty,
        reward=reward,
        reward_range=env.reward_range,
        termination=termination,
        forbidden=forbidden,
        planner=planner,
    )


def draw_known_parents(key: PRNGKey, true_parents: Array, eta: Any) -> Array:
    """The paper's G0 protocol: ``min(eta, |z_j*|)`` true parents per node,
    chosen uniformly at random (jittable; ``eta`` may be traced).

    Args:
        key: a typed PRNG key.
        true_parents: int ``[d_Y, K]`` true parent sets, padded with -1.
        eta: the number of known parents per node.

    Returns:
        int32 ``[d_Y, K]`` known parents in the same -1-padded layout.
    """
    true_parents = jnp.asarray(true_parents, jnp.int32)
    scores = fast_random.uniform(key, true_parents.shape)
    scores = jnp.where(true_parents >= 0, scores, jnp.inf)
    shuffled = jnp.take_along_axis(true_parents, jnp.argsort(scores, -1), -1)
    keep = jnp.arange(true_parents.shape[-1]) < eta
    return jnp.where(keep & (shuffled >= 0), shuffled, -1)
