"""Decision rules and bandit agents: each factory returns an ``Agent``."""

from bayesrl.bandits._registry import AgentSpec, describe
from bayesrl.bandits.bayes_ucb import bayes_ucb
from bayesrl.bandits.epsilon_greedy import epsilon_greedy
from bayesrl.bandits.gp_thompson_sampling import gp_thompson_sampling
from bayesrl.bandits.gp_ucb import gp_ucb
from bayesrl.bandits.irgp_ucb import irgp_ucb
from bayesrl.bandits.kl_ucb import kl_ucb
from bayesrl.bandits.lin_ucb import lin_ucb
from bayesrl.bandits.linear_bayes_ucb import linear_bayes_ucb
from bayesrl.bandits.linear_epsilon_greedy import linear_epsilon_greedy
from bayesrl.bandits.linear_thompson import linear_thompson_sampling
from bayesrl.bandits.round_robin_warmup import round_robin_warmup
from bayesrl.bandits.sparse_thompson_sampling import sparse_thompson_sampling
from bayesrl.bandits.thompson import thompson_sampling
from bayesrl.bandits.ucb1 import ucb1
from bayesrl.bandits.uniform import uniform

__all__ = [
    "AgentSpec",
    "bayes_ucb",
    "describe",
    "epsilon_greedy",
    "gp_thompson_sampling",
    "gp_ucb",
    "irgp_ucb",
    "kl_ucb",
    "lin_ucb",
    "linear_bayes_ucb",
    "linear_epsilon_greedy",
    "linear_thompson_sampling",
    "round_robin_warmup",
    "sparse_thompson_sampling",
    "thompson_sampling",
    "ucb1",
    "uniform",
]
