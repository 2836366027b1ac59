"""MoPPS prompt selection: a trainer-style loop with ``PromptSelector``, then
Uniform vs DAPO dynamic sampling vs MoPPS on the simulated learning policy.

Run: python examples/prompts_simulator.py
"""

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl.envs import PromptSimulator
from bayesrl.eval import mean_interval
from bayesrl.prompts import PromptSelector, mopps
from bayesrl.prompts.simulate import rollouts_to_target, simulate, steps_to_target

# 1. What a trainer does: select prompt ids, roll out k responses each, feed the
#    rewards back (all groups, the all-fail/all-succeed ones included), checkpoint.
num_prompts, batch_size, k = 2_000, 32, 8
true_success = np.random.default_rng(0).beta(0.7, 0.7, num_prompts)  # unknown
selector = PromptSelector(num_prompts, batch_size, seed=0, candidate_multiplier=8)
rng = np.random.default_rng(1)
for step in range(60):
    ids = selector.select()  # int64 [batch_size], distinct
    rewards = rng.random((batch_size, k)) < true_success[ids, None]
    rows = np.repeat(ids, k)  # one row per response, any order
    info = selector.update(rows, rewards=rewards.ravel().astype(float))
    if step % 20 == 0 or step == 59:
        # rho_selected: Spearman correlation of the posterior means before the
        # update with the observed success rates; undefined (NaN) while every
        # prompt still has the prior's mean, as at step 0.
        rho = info["rho_selected"]
        rho_text = "n/a (all at the prior)" if np.isnan(rho) else f"{rho:+.2f}"
        print(
            f"step {step:2d}: zero-variance {info['zero_variance_fraction']:.2f}, "
            f"rho_selected {rho_text}, "
            f"true success of selected {true_success[ids].mean():.2f}"
        )
checkpoint = selector.state_dict()  # plain NumPy arrays: save them with the model
resumed = PromptSelector(num_prompts, batch_size, seed=0, candidate_multiplier=8)
resumed.load_state_dict(checkpoint)
assert np.array_equal(resumed.select(), selector.select())  # same next batch

# 2. On the 2PL learning-policy simulator, three seeds per method.
sim = PromptSimulator(num_prompts=8_000, num_test=2_000, num_rollouts=k)
batch, steps, target = 128, 150, 0.38
agent = mopps(8_000, batch, candidate_multiplier=8)


def run(method, seed):
    key = jax.random.key(seed)
    params = sim.sample_params(jax.random.fold_in(key, 1))
    return simulate(
        jax.random.fold_in(key, 2),
        sim,
        params,
        method,
        steps,
        batch,
        agent=agent,
        max_batches=8,
    )


for method in ("uniform", "dapo", "mopps"):
    metrics = jax.jit(lambda s, m=method: jax.lax.map(lambda x: run(m, x), s))(
        jnp.arange(3)
    )
    zero_var = mean_interval(np.asarray(metrics.zero_variance_fraction).mean(-1))
    to_target = np.asarray(steps_to_target(metrics.heldout_accuracy, target))
    rollouts = np.asarray(
        rollouts_to_target(metrics.heldout_accuracy, metrics.rollouts, target)
    )
    print(
        f"{method:8s} zero-variance {zero_var[0]:.3f} ± {zero_var[1]:.3f}, "
        f"steps to {target} {to_target.mean():.0f}, rollouts {rollouts.mean():,.0f}"
    )
