"""A plain NumPy C-PSRL (Mutti et al., ICLR 2024, Algorithm 1), one seed at a time.

The reference for ``python -m benchmarks.psrl``'s speed comparison. It is a
straightforward, vectorised-over-candidates NumPy implementation of the same
model as :func:`bayesrl.psrl.cpsrl`: every subset of the inputs of size
``<= Z`` containing the known parents is a candidate; per transition the
sequential Dirichlet-multinomial evidence and the counts of every candidate are
updated; per episode a parent set is drawn per node, then Dirichlet CPTs, the
dense model is built and planned by backward induction. No JAX.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


class NumpyCPSRL:
    """C-PSRL with known reward on a factored MDP given by NumPy tables.

    Args:
        input_sizes: cardinalities of ``x = (s, a)``.
        state_sizes: cardinalities of the state factors.
        known_parents: int ``[d_Y, K]`` padded with -1.
        max_parents: ``Z``.
        rewards: ``[S, A]`` known mean rewards.
        horizon: ``H``.
        alpha: Dirichlet concentration.
        rng: a ``numpy.random.Generator``.
    """

    def __init__(
        self,
        input_sizes,
        state_sizes,
        known_parents,
        max_parents,
        rewards,
        horizon,
        alpha,
        rng,
    ):
        self.input_sizes = tuple(input_sizes)
        self.state_sizes = tuple(state_sizes)
        self.num_inputs = len(input_sizes)
        self.num_outputs = len(state_sizes)
        self.rewards = np.asarray(rewards, np.float64)
        self.horizon = horizon
        self.alpha = alpha
        self.rng = rng
        self.num_states, self.num_actions = self.rewards.shape
        subsets = [
            z
            for size in range(max_parents + 1)
            for z in itertools.combinations(range(self.num_inputs), size)
        ]
        self.num_candidates = len(subsets)
        self.parents = np.full(
            (self.num_candidates, max(1, max_parents)), self.num_inputs
        )
        self.strides = np.zeros_like(self.parents)
        for m, z in enumerate(subsets):
            self.parents[m, : len(z)] = z
            for k in range(len(z)):
                self.strides[m, k] = math.prod(input_sizes[i] for i in z[k + 1 :])
        members = np.zeros((self.num_candidates, self.num_inputs), bool)
        for m, z in enumerate(subsets):
            members[m, list(z)] = True
        known = np.zeros((self.num_outputs, self.num_inputs), bool)
        for j, row in enumerate(np.asarray(known_parents)):
            known[j, row[row >= 0]] = True
        self.valid = np.all(members[None] | ~known[:, None], -1) & (
            members.sum(-1)[None] <= max_parents
        )
        self.num_configs = max(math.prod(input_sizes[i] for i in z) for z in subsets)
        self.num_values = max(state_sizes)
        self.counts = np.zeros(
            (self.num_outputs, self.num_candidates, self.num_configs, self.num_values)
        )
        self.log_evidence = np.zeros((self.num_outputs, self.num_candidates))
        grids = np.meshgrid(*[np.arange(n) for n in state_sizes], indexing="ij")
        self.state_factors = np.stack([g.ravel() for g in grids], -1)
        grids = np.meshgrid(
            *[np.arange(n) for n in input_sizes[self.num_outputs :]], indexing="ij"
        )
        action_factors = np.stack([g.ravel() for g in grids], -1)
        self.inputs = np.concatenate(
            [
                np.repeat(self.state_factors[:, None], self.num_actions, 1),
                np.repeat(action_factors[None], self.num_states, 0),
            ],
            -1,
        )
        self.policy = None
        self.transitions = None

    def _configs(self, x):
        padded = np.append(x, 0)
        return (padded[self.parents] * self.strides).sum(-1)

    def observe(self, state, action, next_state):
        u = self._configs(self.inputs[state, action])  # [M]
        y = self.state_factors[next_state]
        candidates = np.arange(self.num_candidates)
        for j in range(self.num_outputs):
            row = self.counts[j, candidates, u]
            n_uv = row[:, y[j]]
            delta = np.log(self.alpha + n_uv) - np.log(
                self.state_sizes[j] * self.alpha + row.sum(-1)
            )
            self.log_evidence[j] += delta
            self.log_evidence[j] -= self.log_evidence[j][self.valid[j]].max()
            self.counts[j, candidates, u, y[j]] += 1

    def begin_episode(self):
        graph = np.empty(self.num_outputs, int)
        for j in range(self.num_outputs):
            logits = np.where(self.valid[j], self.log_evidence[j], -np.inf)
            probs = np.exp(logits - logits.max())
            graph[j] = self.rng.choice(self.num_candidates, p=probs / probs.sum())
        transitions = np.ones((self.num_states, self.num_actions, 1))
        for j, b in enumerate(self.state_sizes):
            concentration = self.alpha + self.counts[j, graph[j], :, :b]
            gammas = self.rng.standard_gamma(concentration)
            theta = gammas / gammas.sum(-1, keepdims=True)
            padded = np.concatenate(
                [self.inputs, np.zeros(self.inputs.shape[:2] + (1,), int)], -1
            )
            configs = (
                padded[..., self.parents[graph[j]]] * self.strides[graph[j]]
            ).sum(-1)
            factor = theta[configs]  # [S, A, b]
            transitions = (transitions[..., :, None] * factor[..., None, :]).reshape(
                self.num_states, self.num_actions, -1
            )
        self.transitions = transitions
        values = np.zeros(self.num_states)
        self.policy = np.zeros((self.horizon, self.num_states), int)
        for h in reversed(range(self.horizon)):
            q = self.rewards + transitions @ values
            self.policy[h] = q.argmax(-1)
            values = q.max(-1)


def run_numpy_cpsrl(
    model,
    known_parents,
    max_parents,
    input_sizes,
    state_sizes,
    horizon,
    num_episodes,
    alpha=1.0,
    seed=0,
):
    """Run one seed; returns the per-episode exact expected regret.

    Args:
        model: ``(transitions [S, A, S], rewards [S, A], initial [S])`` NumPy.
    """
    transitions, rewards, initial = (np.asarray(a, np.float64) for a in model)
    # Renormalise in float64 (the model may come from float32 arrays).
    transitions = transitions / transitions.sum(-1, keepdims=True)
    initial = initial / initial.sum()
    rng = np.random.default_rng(seed)
    agent = NumpyCPSRL(
        input_sizes,
        state_sizes,
        known_parents,
        max_parents,
        rewards,
        horizon,
        alpha,
        rng,
    )
    num_states = rewards.shape[0]
    states = np.arange(num_states)
    optimal = np.zeros(num_states)
    for _ in range(horizon):
        optimal = (rewards + transitions @ optimal).max(-1)
    regrets = np.zeros(num_episodes)
    agent.begin_episode()
    for k in range(num_episodes):
        values = np.zeros(num_states)
        for h in reversed(range(horizon)):
            actions = agent.policy[h]
            values = rewards[states, actions] + transitions[states, actions] @ values
        regrets[k] = initial @ (optimal - values)
        state = rng.choice(num_states, p=initial)
        for h in range(horizon):
            action = agent.policy[h, state]
            next_state = rng.choice(num_states, p=transitions[state, action])
            agent.observe(state, action, next_state)
            state = next_state
        agent.begin_episode()
    return regrets
