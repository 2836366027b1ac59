"""``ContextualBandit``: the scikit-learn-style facade over a contextual agent.

The names users of MABWiser, contextualbandits and obp know: ``fit(arms,
rewards, contexts)`` (from scratch), ``partial_fit(...)`` (add data),
``predict(contexts, available=None)`` and ``predict_expectations(contexts)``,
plus ``save``/``load``. It shares :class:`bayesrl.Bandit`'s machinery (host-side
validation, the key and state handling, the zip file format with a
human-readable ``header.json``): every input is checked on the host before
anything is traced, a refused input raises ``ValueError`` and leaves the state
untouched, and a loaded facade predicts and updates exactly as the saved one
would have.

Contexts are ``[n, dim]`` (one context shared by all arms: the disjoint
layout) or ``[n, num_arms, dim]`` (per-arm features: the shared layout); a
single context may be passed without the leading axis. Agents without a linear
model (``bayesrl.bandits.uniform``) take contexts of any fixed dimension, fixed
by the first call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl._checks import host_real_array
from bayesrl.base import Agent, BanditObs, Transition
from bayesrl.beliefs._linear import LinearBelief
from bayesrl.facade import _HostFacade, _padded_capacity


class ContextualBandit(_HostFacade):
    """Stateful contextual bandit: ``fit``, ``partial_fit``, ``predict``,
    ``predict_expectations``, ``save``/``load``.

    Args:
        agent: an agent built by a ``bayesrl.bandits`` factory
            (``linear_thompson_sampling``, ``lin_ucb``, ``uniform``...).
        seed: integer seed of the facade's key.

    Example:
        >>> import numpy as np, bayesrl
        >>> agent = bayesrl.bandits.linear_thompson_sampling(3, 2, noise_std=0.5)
        >>> bandit = bayesrl.ContextualBandit(agent, seed=0)
        >>> bandit.fit([0, 1, 2], [1.0, 0.0, 0.5], np.eye(3, 2))
        >>> arms = bandit.predict(np.ones((4, 2)))
    """

    FORMAT_NAME = "bayesrl.ContextualBandit"

    def __init__(self, agent: Agent, seed: int = 0):
        super().__init__(agent, seed)
        belief = self.spec.belief
        if isinstance(belief, LinearBelief):
            self._layout = belief.layout
            self._dim: int | None = belief.dim
        else:
            self._layout = "disjoint"
            self._dim = None
        self._update_fn = jax.jit(self._update_impl)
        self._predict_fn = jax.jit(self._predict_impl)

    # -- pure kernels ---------------------------------------------------------

    def _update_impl(self, key, state, arms, rewards, contexts):
        obs = BanditObs(
            available=jnp.ones((arms.shape[0], self.num_arms), bool), context=contexts
        )
        transition = Transition(
            obs=obs,
            action=arms,
            reward=rewards,
            next_obs=obs,
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
        )
        key, key_update = fast_random.split(key)
        new_state, info = self.agent.update(key_update, state, transition)
        return key, new_state, info

    def _predict_impl(self, key, state, contexts, available):
        key, key_act = fast_random.split(key)
        keys = fast_random.split(key_act, contexts.shape[0])

        def act(k, context, mask):
            return self.agent.act(k, state, BanditObs(available=mask, context=context))

        arms, _ = jax.vmap(act)(keys, contexts, available)
        return key, arms

    # -- host-side API --------------------------------------------------------

    @property
    def dim(self) -> int | None:
        """The context dimension (None until fixed, for model-free agents)."""
        return self._dim

    def fit(self, arms, rewards, contexts) -> ContextualBandit:
        """Learn from scratch: reset to the prior, then :meth:`partial_fit`."""
        checked = self._check_data(arms, rewards, contexts)
        prior = self.agent.init(jax.random.key(0))
        self._apply(prior, *checked)
        return self

    def partial_fit(self, arms, rewards, contexts) -> ContextualBandit:
        """Add observations: ``rewards[i]`` for ``arms[i]`` in ``contexts[i]``.

        Refuses (``ValueError``) wrong shapes or dimensions, unknown arms,
        rewards or contexts not finite in the state's dtype or complex, and an
        update whose result would not be finite (contexts of 1e20: their outer
        product overflows float32); the state is then unchanged.
        """
        self._apply(self.state, *self._check_data(arms, rewards, contexts))
        return self

    def predict(self, contexts, available=None):
        """The arm to play for each context (an int for a single context).

        Args:
            contexts: ``[n, dim]`` / ``[n, num_arms, dim]``, or one context.
            available: optional bool mask ``[num_arms]`` (all rows) or
                ``[n, num_arms]`` of arms that may be chosen; each row needs
                at least one True.
        """
        contexts, single = self._check_contexts(contexts)
        rows = contexts.shape[0]
        if available is None:
            mask = np.ones((rows, self.num_arms), dtype=bool)
        else:
            mask = np.asarray(available)
            if mask.ndim == 1:
                mask = np.broadcast_to(self._check_available(mask), (rows, mask.size))
            elif mask.shape != (rows, self.num_arms) or mask.dtype != np.bool_:
                raise ValueError(
                    f"available must be a bool array of shape [{self.num_arms}] or "
                    f"[{rows}, {self.num_arms}], got dtype {mask.dtype} and shape "
                    f"{mask.shape}"
                )
            elif not np.all(mask.any(axis=1)):
                raise ValueError("every row of available must allow at least one arm")
        capacity = _padded_capacity(rows)
        padded_contexts = self._pad(contexts, capacity)
        padded_mask = np.pad(mask, ((0, capacity - rows), (0, 0)), constant_values=1)
        self._key, arms = self._predict_fn(
            self._key, self.state, padded_contexts, padded_mask
        )
        arms = np.asarray(arms[:rows])
        return int(arms[0]) if single else arms

    def predict_expectations(self, contexts) -> np.ndarray:
        """Posterior mean reward of every arm: ``[n, num_arms]`` (``[num_arms]``
        for a single context)."""
        contexts, single = self._check_contexts(contexts)
        belief = self.spec.belief
        if isinstance(belief, LinearBelief):
            means = jax.vmap(lambda c: belief.mean(self.state, c))(
                jnp.asarray(contexts)
            )
        else:
            means = jnp.broadcast_to(
                belief.mean(self.state), (contexts.shape[0], self.num_arms)
            )
        means = np.asarray(means)
        if not np.all(np.isfinite(means)):
            raise ValueError(
                "contexts too large: the expectations overflow "
                f"{self._float_dtype.name}"
            )
        return means[0] if single else means

    # -- validation -------------------------------------------------------------

    def _context_rank(self) -> int:
        return 1 if self._layout == "disjoint" else 2

    def _check_contexts(self, contexts, num_rows: int | None = None):
        contexts = host_real_array("contexts", contexts, self._float_dtype)
        rank = self._context_rank()
        single = contexts.ndim == rank and num_rows is None
        if single:
            contexts = contexts[None]
        expected = "[n, dim]" if rank == 1 else f"[n, {self.num_arms}, dim]"
        if contexts.ndim != rank + 1 or contexts.shape[0] == 0:
            raise ValueError(
                f"contexts must have shape {expected}, got shape {contexts.shape}"
            )
        if rank == 2 and contexts.shape[1] != self.num_arms:
            raise ValueError(
                f"contexts must have shape {expected} (one feature row per arm), "
                f"got shape {contexts.shape}"
            )
        if self._dim is not None and contexts.shape[-1] != self._dim:
            raise ValueError(
                f"contexts must have dim={self._dim} features, got {contexts.shape[-1]}"
            )
        if num_rows is not None and contexts.shape[0] != num_rows:
            raise ValueError(
                f"contexts must have one row per arm played ({num_rows}), got "
                f"{contexts.shape[0]}"
            )
        return contexts, single

    def _check_data(self, arms, rewards, contexts):
        arms, rewards = self._check_arms_and_rewards(arms, rewards)
        contexts, _ = self._check_contexts(contexts, num_rows=arms.size)
        return arms, rewards, contexts

    def _pad(self, contexts: np.ndarray, capacity: int) -> np.ndarray:
        pad = [(0, capacity - contexts.shape[0])] + [(0, 0)] * (contexts.ndim - 1)
        return np.pad(contexts, pad).astype(jnp.result_type(float))

    def _apply(self, state, arms, rewards, contexts) -> None:
        capacity = _padded_capacity(arms.size)
        dtype = jnp.result_type(float)
        padded = (
            np.pad(
                arms.astype(np.int32), (0, capacity - arms.size), constant_values=-1
            ),
            np.pad(rewards, (0, capacity - arms.size)).astype(dtype),
            self._pad(contexts, capacity),
        )
        key, new_state, info = self._update_fn(self._key, state, *padded)
        self._commit(new_state, info, old=state)
        self._key = key
        if self._dim is None:
            self._dim = int(contexts.shape[-1])
