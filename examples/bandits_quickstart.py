"""Thompson sampling vs UCB1 on the 10-armed Bernoulli bandit, 200 seeds at
once, a vmapped hyper-parameter sweep, then a served bandit with
delayed, batched feedback.

Run: python examples/bandits_quickstart.py
"""

import jax
import numpy as np

import bayesrl
from bayesrl import bandits, beliefs, envs
from bayesrl.eval import mean_interval

env = envs.BernoulliBandit(10)
params = env.default_params  # means linspace(0.2, 0.7, 10)

# bandits.bayes_ucb(beliefs.beta_bernoulli(10)) is Bayes-UCB; it inverts a Beta
# CDF per arm per step, so it costs much more per step than Thompson sampling.
for name, agent in {
    "Thompson sampling": bandits.thompson_sampling(beliefs.beta_bernoulli(10)),
    "UCB1": bandits.ucb1(10),
}.items():
    _, metrics = bayesrl.run_many(jax.random.key(0), agent, env, params, 1000, 200)
    mean, half = mean_interval(np.asarray(metrics.regret).sum(axis=1))
    print(f"{name:18s} regret at T=1000: {mean:6.1f} ± {half:.1f}")


# Sweep a hyper-parameter with vmap: factories accept traced values.
def final_regret(key, gamma):
    agent = bandits.thompson_sampling(beliefs.beta_bernoulli(10, discount=gamma))
    return bayesrl.run(key, agent, env, params, 1000)[1].regret.sum()


gammas = jax.numpy.array([0.9, 0.99, 0.999, 1.0])
keys = jax.random.split(jax.random.key(1), 100)
sweep = jax.jit(jax.vmap(jax.vmap(final_regret, (0, None)), (None, 0)))(keys, gammas)
for gamma, regrets in zip(gammas, np.asarray(sweep), strict=True):
    print(f"discount {float(gamma):5.3f}: regret {regrets.mean():6.1f}")

# Serving: pick 3 distinct arms per request, learn from delayed batches.
served = bayesrl.Bandit(
    bandits.thompson_sampling(beliefs.beta_bernoulli(10), batch_size=3), seed=0
)
rng = np.random.default_rng(0)
pending_arms, pending_rewards = [], []
for request in range(300):
    arms = served.select()
    pending_arms += arms.tolist()
    pending_rewards += (rng.random(3) < np.asarray(params.means)[arms]).tolist()
    if request % 50 == 49:  # feedback arrives in batches of 150 observations
        served.update(pending_arms, pending_rewards)
        pending_arms, pending_rewards = [], []
print("posterior means:", np.round(served.posterior_mean(), 2))

# Latency-bound serving, one observation per request: the same agent run in
# NumPy on the host (bayesrl.NumpyBandit: no JAX call per request; draws
# from NumPy's PCG64 stream, same posterior as Bandit).
fast = bayesrl.NumpyBandit(
    bandits.thompson_sampling(beliefs.beta_bernoulli(10)), seed=0
)
means = np.asarray(params.means)
arm = fast.select()
for _ in range(2000):
    arm = fast.update_and_select([arm], [float(rng.random() < means[arm])])
pulls = fast.state.successes + fast.state.failures
print("NumpyBandit pulls per arm:", pulls.astype(int))
