"""Stochastic gradient Langevin dynamics (SGLD) as an optax transformation.

Welling & Teh, "Bayesian Learning via Stochastic Gradient Langevin Dynamics",
ICML 2011. For a loss ``L`` (the negative log-density up to a constant) the
Euler–Maruyama step of the overdamped Langevin diffusion is::

    w <- w - step_size * grad L(w) + sqrt(2 * step_size * temperature) * xi,

with ``xi ~ N(0, I)``. Its stationary law (for small steps) is the Gibbs density
``exp(-L / temperature)``; LMC-LSVI and LMC-TS write ``temperature = 1 / beta``.
This is blackjax's ``sgld`` kernel with ``logdensity_grad = -grad L``; a key gives
the same noise draw in both. It is :func:`preconditioned_langevin` with the
identity preconditioner, which this module names.
"""

from __future__ import annotations

import optax

from bayesrl.langevin.preconditioned_langevin import (
    PreconditionedLangevinState,
    preconditioned_langevin,
)
from bayesrl.types import Array

#: State of :func:`sgld`: ``count`` (accepted steps) and ``num_nonfinite``
#: (steps reverted because the update was not finite).
SGLDState = PreconditionedLangevinState


def sgld(
    step_size: float | Array,
    temperature: float | Array = 1.0,
    noise_multiplier: float | Array = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """Plain SGLD: ``updates = -step_size * grads + sqrt(2 step_size T) * xi``.

    The transform is terminal: it emits the whole additive update (drift plus
    noise), so apply it with ``optax.apply_updates`` and never chain it with a
    scaling transform. A step whose update is not finite is reverted (zero update,
    state kept) and counted in ``state.num_nonfinite``.

    Args:
        step_size: the step size ``eta > 0`` (traceable).
        temperature: ``T >= 0``; the target is ``exp(-L / T)``. ``1 / beta`` in
            LMC-LSVI notation (traceable).
        noise_multiplier: multiplies the noise; 0 turns SGLD into gradient
            descent (a noise-off ablation).

    Returns:
        An optax ``GradientTransformationExtraArgs`` whose ``update(grads, state,
        params=None, *, key)`` needs a typed PRNG key.

    Raises:
        ValueError: for a non-positive step size or a negative temperature or
            noise multiplier (checked when the values are concrete).
    """
    return preconditioned_langevin(step_size, temperature, noise_multiplier)
