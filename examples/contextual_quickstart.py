"""Linear Thompson sampling on a linear contextual bandit, 200 seeds at once,
then the scikit-learn-style ContextualBandit facade (fit, predict, save/load).

Run: python examples/contextual_quickstart.py
"""

import tempfile
from pathlib import Path

import jax
import numpy as np

import bayesrl
from bayesrl import bandits, envs
from bayesrl.eval import mean_interval

num_arms, dim = 5, 8
env = envs.LinearContextualBandit(num_arms, dim)
params = env.default_params  # theta rows on the unit sphere, noise_std 0.5

for name, agent in {
    "linear TS (known noise)": bandits.linear_thompson_sampling(
        num_arms, dim, noise_std=0.5
    ),
    "linear TS (unknown noise)": bandits.linear_thompson_sampling(num_arms, dim),
    "LinUCB (alpha=1)": bandits.lin_ucb(num_arms, dim, alpha=1.0),
    "uniform": bandits.uniform(num_arms),
}.items():
    _, metrics = bayesrl.run_many(jax.random.key(0), agent, env, params, 500, 200)
    mean, half = mean_interval(np.asarray(metrics.regret).sum(axis=1))
    print(f"{name:26s} regret at T=500: {mean:7.1f} ± {half:.1f}")

# The facade: learn from logged data, recommend, persist, resume.
rng = np.random.default_rng(0)
contexts = rng.normal(size=(300, dim))
arms = rng.integers(0, num_arms, 300)
theta = np.asarray(params.theta)
rewards = np.sum(contexts * theta[arms], axis=1) + 0.5 * rng.normal(size=300)

bandit = bayesrl.ContextualBandit(
    bandits.linear_thompson_sampling(num_arms, dim, noise_std=0.5), seed=0
)
bandit.fit(arms, rewards, contexts)
new_contexts = rng.normal(size=(4, dim))
print("recommended arms:", bandit.predict(new_contexts))
print("best arms (truth):", np.argmax(new_contexts @ theta.T, axis=1))
print("expected rewards:\n", np.round(bandit.predict_expectations(new_contexts), 2))
only_two = np.array([False, False, True, True, False])
print("with arms 2 and 3 only:", bandit.predict(new_contexts, available=only_two))

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "bandit.zip"
    bandit.save(path)
    resumed = bayesrl.ContextualBandit.load(path)
    resumed.partial_fit([1], [0.3], new_contexts[:1])
    print(
        "resumed and updated; arm for the first context:",
        resumed.predict(new_contexts[0]),
    )
