"""PSRL on RiverSwim, 20 seeds in one call: ``python examples/psrl_riverswim.py``.

Posterior sampling for RL (Osband, Russo & Van Roy 2013): every episode, sample
a transition model from the Dirichlet posterior (and rewards from a Beta
posterior), plan on it by backward induction, act greedily for one episode.
``run_episodes`` scores every episode's plan exactly against the true model,
so ``metrics.regret`` is the exact expected regret, not a noisy estimate.
"""

import jax
import numpy as np

from bayesrl.envs import RiverSwim
from bayesrl.psrl import psrl, run_episodes

NUM_SEEDS = 20
NUM_EPISODES = 200  # x horizon 20 = 4,000 steps per seed


def main():
    env = RiverSwim()  # 6 states, horizon 20, starts at the left bank
    params = env.default_params
    agent = psrl(env, prior_alpha=1.0 / env.num_states)  # the 2013 prior

    run = jax.jit(
        jax.vmap(lambda key: run_episodes(key, agent, env, params, NUM_EPISODES))
    )
    keys = jax.random.split(jax.random.key(0), NUM_SEEDS)
    final_state, metrics = run(keys)

    cumulative = np.asarray(metrics.regret).cumsum(axis=1)  # [seeds, episodes]
    mean = cumulative[:, -1].mean()
    stderr = cumulative[:, -1].std(ddof=1) / np.sqrt(NUM_SEEDS)
    print(f"cumulative regret after {NUM_EPISODES} episodes: {mean:.2f} ± {stderr:.2f}")
    late = np.asarray(metrics.regret)[:, -50:].mean()
    print(f"mean per-episode regret over the last 50 episodes: {late:.4f}")
    # The last plan of seed 0: action 1 ("swim right") everywhere at step 0.
    print("seed 0, step-0 policy:", np.asarray(final_state.policy[0, 0]))


if __name__ == "__main__":
    main()
