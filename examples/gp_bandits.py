"""GP bandits on a finite candidate set: IRGP-UCB, GP-UCB and GP-TS on the
negated Branin function (maximised) and on GP sample paths, 16 seeds at once;
then sparse linear Thompson sampling on a 200-dimensional sparse linear bandit.

Run: python examples/gp_bandits.py   (about a minute on 2 CPU cores)
"""

import jax
import numpy as np

import bayesrl
from bayesrl import bandits, envs
from bayesrl.eval import mean_interval

# Branin on a 15 x 15 grid plus its three minimisers; inputs scaled to [0, 1]^2
# and values standardised so that a unit-variance GP prior fits.
points, params = envs.branin_instance(points_per_axis=15, noise_std=0.1)
candidates = (points - points.min(0)) / (points.max(0) - points.min(0))
values = params.values
params = params.replace(values=(values - values.mean()) / values.std())
env = envs.CandidateSetBandit(len(candidates))

gp = dict(kernel="rbf", lengthscale=0.2, noise_std=0.1)
agents = {
    "IRGP-UCB": bandits.irgp_ucb(candidates, **gp),
    "GP-UCB": bandits.gp_ucb(candidates, **gp),
    "GP-TS": bandits.gp_thompson_sampling(candidates, **gp),
    "uniform": bandits.uniform(len(candidates)),
}
for name, agent in agents.items():
    _, metrics = bayesrl.run_many(jax.random.key(0), agent, env, params, 60, 16)
    regret = np.asarray(metrics.regret)
    cumulative, half = mean_interval(regret.sum(axis=1))
    simple, _ = mean_interval(regret.min(axis=1))
    print(
        f"Branin   {name:9s} cumulative regret {cumulative:6.2f} ± {half:4.2f}"
        f"   simple regret {simple:.3f}"
    )

# Bayesian regret: one GP sample path per seed, drawn from the agents' prior.
keys = jax.random.split(jax.random.key(1), 16)
paths = jax.vmap(lambda k: envs.gp_sample_path_params(k, candidates, **gp))(keys)
for name, agent in agents.items():
    _, metrics = bayesrl.run_many(
        jax.random.key(2), agent, env, paths, 60, 16, batched_env_params=True
    )
    cumulative, half = mean_interval(np.asarray(metrics.regret).sum(axis=1))
    print(f"GP path  {name:9s} cumulative regret {cumulative:6.2f} ± {half:4.2f}")

# Sparse linear TS: d = 200, s = 5 non-zeros per arm, 5 arms, T = 300.
sparse_env = envs.SparseLinearBandit(num_arms=5, dim=200, sparsity=5)
sparse_params = sparse_env.default_params
for name, agent in {
    "sparse TS": bandits.sparse_thompson_sampling(5, 200, capacity=300),
    "linear TS": bandits.linear_thompson_sampling(5, 200),
}.items():
    state, metrics = bayesrl.run_many(
        jax.random.key(3), agent, sparse_env, sparse_params, 300, 4
    )
    cumulative, half = mean_interval(np.asarray(metrics.regret).sum(axis=1))
    print(f"sparse   {name:9s} cumulative regret {cumulative:6.1f} ± {half:5.1f}")
