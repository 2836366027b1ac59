"""PSRL vs UCRL2 on RiverSwim without resets.

Run: ``python examples/psrl_vs_ucrl2_continuing.py``.

The infinite-horizon setting of Osband, Russo & Van Roy (2013, §6): the agent
is never reset; a new episode (a new posterior sample for PSRL, new
confidence sets for UCRL2) starts when some state-action count has doubled
since the episode began. Both plan for the average reward (relative value
iteration; extended value iteration over L1 confidence sets for UCRL2).
``run_continuing`` returns the per-step regret ``g* - R(s_t, a_t)``.
"""

import jax
import numpy as np

from bayesrl.envs import RiverSwim
from bayesrl.psrl import psrl, run_continuing, ucrl2

NUM_SEEDS = 10
NUM_STEPS = 5_000


def main():
    env = RiverSwim()  # 6 states, starts at the left bank
    params = env.default_params
    agents = {
        # Dirichlet(1/S) transitions and the Normal-Gamma reward prior of 2013.
        "PSRL": psrl(env, reward="normal_gamma", criterion="average_reward"),
        "UCRL2": ucrl2(env, delta=0.05),
    }
    keys = jax.random.split(jax.random.key(0), NUM_SEEDS)
    for name, agent in agents.items():
        run = jax.jit(
            jax.vmap(
                lambda key, agent=agent: run_continuing(
                    key, agent, env, params, NUM_STEPS, schedule="doubling"
                )[1]
            )
        )
        metrics = run(keys)
        total = np.asarray(metrics.regret).sum(axis=1)  # [seeds]
        episodes = np.asarray(metrics.episode_start).sum(axis=1)
        print(
            f"{name:5s}: total regret over {NUM_STEPS} steps "
            f"{total.mean():8.1f} ± {total.std(ddof=1) / np.sqrt(NUM_SEEDS):6.1f} "
            f"(s.e.), {episodes.mean():.0f} episodes on average, "
            f"optimal gain {float(metrics.optimal_gain[0]):.4f}"
        )


if __name__ == "__main__":
    main()
