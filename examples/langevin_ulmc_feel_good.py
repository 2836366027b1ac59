"""Underdamped Langevin and the Feel-Good prior (Ishfaq et al., RLC 2024).

1. The two underdamped transforms on a 1-d quadratic loss ``L(w) = lam w^2``:
   EulerULMC (noise on the momentum) samples close to the Gibbs law
   ``N(0, 1 / (2 beta lam))``; aULMC (the official ULMCDQN step, noise on the
   position) samples a wider law.
2. ULMCDQN and FG-ULMCDQN on the N-chain: config options of ``adam_lmcdqn``,
   a traced Feel-Good weight and several seeds trained in one
   ``jax.jit(jax.vmap(...))`` program.

Run: ``python examples/langevin_ulmc_feel_good.py`` (under a minute on a laptop
CPU).
"""

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl.envs import NChain
from bayesrl.langevin import (
    adam_lmcdqn,
    adam_underdamped_langevin,
    underdamped_langevin,
)

# --- 1. Stationary variance on a quadratic ----------------------------------------
lam, beta, eta, friction = 1.0, 5.0, 0.1, 2.0
transforms = {
    "EulerULMC": underdamped_langevin(eta, friction, beta),
    # bias_factor 0: the Adam term is off, so the chain is linear-Gaussian.
    "aULMC (a = 0)": adam_underdamped_langevin(eta, 0.0, friction, beta),
}
for name, transform in transforms.items():

    def chain(key, transform=transform):
        def body(carry, k):
            w, state = carry
            updates, state = transform.update(2 * lam * w, state, key=k)
            return (w + updates, state), None

        w0 = jnp.zeros(())
        init = (w0, transform.init(w0))
        return jax.lax.scan(body, init, jax.random.split(key, 200))[0][0]

    samples = jax.jit(jax.vmap(chain))(jax.random.split(jax.random.key(0), 10_000))
    print(
        f"{name:14s} stationary variance {float(jnp.var(samples)):.4f} "
        f"(Gibbs {1 / (2 * beta * lam):.4f})"
    )

# --- 2. ULMCDQN and FG-ULMCDQN on the N-chain -------------------------------------
# The Feel-Good weight is traceable: one compiled program sweeps eta_fg in
# {0 (ULMCDQN), 0.1 (FG-ULMCDQN)} x 4 seeds.
env = NChain(10)
env_params = env.default_params  # concrete: built outside the traced function


def train_one(feel_good_weight, key):
    train = adam_lmcdqn(
        env,
        env_params,
        num_epochs=4,
        optimizer="adam_underdamped_langevin",
        friction=1.0,
        feel_good_weight=feel_good_weight,
    )
    return train(key)[1].eval_return


weights = jnp.array([0.0, 0.1])
keys = jax.random.split(jax.random.key(1), 4)
sweep = jax.vmap(jax.vmap(train_one, in_axes=(None, 0)), in_axes=(0, None))
returns = np.asarray(jax.jit(sweep)(weights, keys))  # [weight, seed, epoch]
for name, curve in zip(("ULMCDQN", "FG-ULMCDQN"), returns.mean(1), strict=True):
    print(f"{name:11s} greedy test return per epoch (mean of 4 seeds): {curve}")
