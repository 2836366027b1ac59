"""The (double, n-step) DQN loss with the optional Feel-Good prior term.

DQN loss of the LMCDQN papers (tianshou 0.4.10 ``DQNPolicy``: mean squared TD
error, no ``1/2``, no Huber) on a minibatch of ``B`` n-step windows::

    G_i = R_i + bootstrap_i * Q_target(s'_i, a*_i)          (no gradient)
    a*_i = argmax_a Q_w(s'_i, a)       with double Q (van Hasselt et al. 2016),
           argmax_a Q_target(s'_i, a)  without,
    L(w) = mean_i (G_i - Q_w(s_i, a_i))^2  -  eta_fg * mean_i max_a Q_w(s1_i, a)

where ``R_i`` and ``bootstrap_i = discount^{m+1} (1 - terminated)`` come from
:func:`~bayesrl.langevin.n_step_returns` and ``s1_i`` is the first observation of
the episode transition ``i`` belongs to. The second term is the Feel-Good prior
of FG-LMCDQN / FG-ULMCDQN (Ishfaq, Tan, Yang, Lan, Lu, Mahmood, Precup & Xu,
"More Efficient Randomized Exploration for Reinforcement Learning via
Approximate Sampling", RLC 2024, https://arxiv.org/abs/2406.12241; reference
code ``panxulab/LSVI-ASE``, ``components/fgprior_dqn/policy.py``), after Zhang's
Feel-Good Thompson sampling (SIAM J. Math. Data Sci. 2022): the gradient flows
through it into the online network, pushing up the value of the start states,
i.e. optimism. ``eta_fg = 0`` is the plain DQN loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesrl._checks import is_concrete
from bayesrl.types import Array, ArrayTree


class DQNBatch(NamedTuple):
    """A minibatch of n-step windows (leading axis ``B``).

    Attributes:
        obs: ``s_i``, the first observation of each window.
        action: ``a_i``.
        returns: ``R_i``, the truncated discounted n-step reward sum.
        next_obs: the observation to bootstrap from.
        bootstrap: ``discount^{m+1} (1 - terminated)``, 0 after a termination.
        first_obs: ``s1_i``, the first observation of the episode of ``s_i``
            (None when the Feel-Good term is off).
    """

    obs: Array
    action: Array
    returns: Array
    next_obs: Array
    bootstrap: Array
    first_obs: Array | None


def td_targets(
    next_q_online: Array,
    next_q_target: Array,
    returns: Array,
    bootstrap: Array,
    double_q: bool,
) -> Array:
    """``G = R + bootstrap * Q_target(s', a*)`` for ``[B, A]`` next-state values.

    ``a*`` is the online network's argmax with ``double_q`` and the target
    network's argmax (i.e. ``max_a Q_target``) without.
    """
    chooser = next_q_online if double_q else next_q_target
    best = jnp.argmax(chooser, axis=1)
    value = jnp.take_along_axis(next_q_target, best[:, None], axis=1)[:, 0]
    return returns + bootstrap * value


def dqn_loss(
    q_fn: Callable[[ArrayTree, Array], Array],
    params: ArrayTree,
    target_params: ArrayTree,
    batch: DQNBatch,
    *,
    double_q: bool,
    feel_good_weight: float | Array = 0.0,
) -> Array:
    """Mean squared TD error minus ``feel_good_weight * mean max_a Q(s1, a)``.

    Args:
        q_fn: ``q_fn(params, obs) -> [A]`` action values of one observation.
        params: the online parameters (differentiated).
        target_params: the target network's parameters (not differentiated).
        batch: the minibatch.
        double_q: choose the bootstrap action with the online network.
        feel_good_weight: ``eta_fg >= 0`` (traceable); a concrete 0 skips the
            term (and ``batch.first_obs`` may then be None).

    Returns:
        The scalar loss, to be minimised.
    """
    q_batch = jax.vmap(q_fn, in_axes=(None, 0))
    q = q_batch(params, batch.obs)
    q_taken = jnp.take_along_axis(q, batch.action[:, None], axis=1)[:, 0]
    next_q_target = q_batch(target_params, batch.next_obs)
    next_q_online = q_batch(params, batch.next_obs) if double_q else next_q_target
    target = jax.lax.stop_gradient(
        td_targets(
            next_q_online, next_q_target, batch.returns, batch.bootstrap, double_q
        )
    )
    loss = jnp.mean((target - q_taken) ** 2)
    if is_concrete(feel_good_weight) and float(feel_good_weight) == 0.0:
        return loss
    start_values = jnp.max(q_batch(params, batch.first_obs), axis=1)
    return loss - feel_good_weight * jnp.mean(start_values)
