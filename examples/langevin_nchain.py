"""Langevin Monte Carlo exploration on the N-chain, in two flavours.

1. Adam LMCDQN: many seeds of a deep Q-network trained at once with
   ``jax.jit(jax.vmap(train))``; acting is greedy on the Langevin sample.
2. LMC-LSVI with one-hot (tabular) features and the diagonal preconditioner,
   through the generic ``bayesrl.run`` loop.

Run: ``python examples/langevin_nchain.py``.
"""

import jax
import numpy as np

import bayesrl
from bayesrl.envs import NChain
from bayesrl.langevin import adam_lmcdqn, lmc_lsvi

N = 10
env = NChain(N)
params = env.default_params

# --- 1. Adam LMCDQN, 8 seeds vmapped (the papers' protocol, shortened) -------
# Defaults: the papers' protocol with eta = 1e-2, a = 1, sigma_n = 1e-4.
train = adam_lmcdqn(env, params, num_epochs=10)
keys = jax.random.split(jax.random.key(0), 8)
_, metrics = jax.jit(jax.vmap(train))(keys)
print("Adam LMCDQN greedy test return per epoch (mean over 8 seeds):")
print(np.round(np.asarray(metrics.eval_return).mean(0), 2))

# --- 2. LMC-LSVI on the tabular chain ------------------------------------------
num_episodes = 100
agent = lmc_lsvi(
    env.num_actions,
    env.horizon,
    max_episodes=num_episodes,
    num_states=N,
    state_fn=NChain.state_index,  # thermometer observation -> position
    num_inner_steps=10,
    preconditioner="diagonal",
)
_, steps = bayesrl.run(
    jax.random.key(1), agent, env, params, num_episodes * env.horizon
)
returns = np.asarray(steps.reward).reshape(num_episodes, env.horizon).sum(1)
first = int(np.argmax(returns > 9.99)) + 1 if (returns > 9.99).any() else None
print(f"LMC-LSVI: first optimal episode {first}; last 10 returns {returns[-10:]}")
