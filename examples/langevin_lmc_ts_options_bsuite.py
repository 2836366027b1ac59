"""LMC-TS with the reference options, and the bsuite DeepSea score of LMC-LSVI.

Run: ``python examples/langevin_lmc_ts_options_bsuite.py`` (well under a minute
on a laptop CPU).

1. A logistic bandit (Bernoulli rewards of mean ``sigmoid(theta_a . x)``):
   LMC-TS with the logistic loss, minibatches of 32 stored rounds, the
   reference's ``eta_0 / t`` step-size decay with its frozen noise scale, and a
   Feel-Good bonus, against uniform play.
2. DeepSea (bsuite semantics, one random action map per seed): the bad-episode
   flags of LMC-LSVI's episodes, the bsuite learning time and ``solved``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import run, run_many
from bayesrl.envs import DeepSea, LinearContextualBandit
from bayesrl.eval import deep_sea_bad_episodes, deep_sea_learning_time, deep_sea_solved
from bayesrl.langevin import lmc_lsvi, lmc_ts


def logistic_bandit(num_steps=400, num_seeds=4):
    num_arms, dim = 4, 5
    env = LinearContextualBandit(num_arms, dim, reward="logistic")
    params = env.sample_params(jax.random.key(0))
    params = params.replace(theta=3.0 * params.theta)
    agent = lmc_ts(
        num_arms,
        dim,
        inverse_temperature=1.0,  # with ridge 1: the Bayes posterior, N(0, I/2) prior
        num_inner_steps=20,
        step_size=0.05,
        loss="logistic",
        capacity=num_steps,
        batch_size=32,
        step_size_decay="inverse_t",  # 10 eta_0 / t every 20 rounds (minibatches)
        freeze_noise_step_size=True,  # noise std eta_t sqrt(2 / (beta eta_0))
        feel_good=(0.1, 1.0),  # - 0.1 sum_s min(1, max_a f(x_s, a))
    )
    _, metrics = run_many(jax.random.key(1), agent, env, params, num_steps, num_seeds)
    regret = np.asarray(metrics.regret).sum(1)
    contexts = jax.random.normal(jax.random.key(2), (20_000, dim))
    means = jax.nn.sigmoid(contexts @ params.theta.T)
    uniform = num_steps * float(jnp.mean(means.max(1) - means.mean(1)))
    two_se = 2 * regret.std(ddof=1) / np.sqrt(num_seeds)
    print(
        f"logistic bandit, T={num_steps}: LMC-TS regret {regret.mean():.1f} "
        f"± {two_se:.1f} (2 se), uniform {uniform:.1f}"
    )


def deep_sea_score(size=10, num_episodes=300):
    env = DeepSea(size)
    agent = lmc_lsvi(
        2,
        size,
        max_episodes=num_episodes,
        num_states=size * size,
        state_fn=lambda obs: obs,
        value_bounds=(-0.01, 1.0),  # DeepSea's move cost is negative
    )
    key_params, key_run = jax.random.split(jax.random.key(3))
    params = env.sample_params(key_params)
    actions = run(key_run, agent, env, params, num_episodes * size)[1].action
    bad = deep_sea_bad_episodes(
        actions.reshape(num_episodes, size), params.action_mapping
    )
    learning_time = deep_sea_learning_time(bad)
    print(
        f"DeepSea N={size}, {num_episodes} episodes: {int(bad.sum())} bad episodes, "
        f"learning time {learning_time} (bsuite: first logged episode with "
        f"bad/episode < 0.9), solved {deep_sea_solved(size, learning_time)} "
        f"(needs < 2^{size} + 100 = {2**size + 100})"
    )


if __name__ == "__main__":
    logistic_bandit()
    deep_sea_score()
