"""Evaluation helpers: intervals over seeds and the Lai-Robbins constant."""

from bayesrl.eval.intervals import bootstrap_interval, mean_interval
from bayesrl.eval.lai_robbins import bernoulli_kl, lai_robbins_constant

__all__ = [
    "bernoulli_kl",
    "bootstrap_interval",
    "lai_robbins_constant",
    "mean_interval",
]
