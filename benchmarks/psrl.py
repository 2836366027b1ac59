"""Reproduction of C-PSRL's experiments and PSRL anchors: ``python -m benchmarks.psrl``.

Mutti et al., "Exploiting Causal Graph Priors with Posterior Sampling for
Reinforcement Learning", ICLR 2024 (https://arxiv.org/abs/2310.07518).

Sections (``--sections``, all by default):

* ``fmdp``: the paper's random factored MDP (d_X = 9, d_Y = 6, binary, |z*| = Z
  = 3, dense U[0, 1] known reward, uniform start, H = 10): PSRL (flat
  Dirichlet, alpha = 1/|S| and alpha = 1), C-PSRL at eta in {0, 1, 2} and
  F-PSRL (true graph); cumulative regret with 95% intervals, l1 model error and
  graph recovery.
* ``hard``: the family where the degree of prior knowledge matters: sparse
  reward (1 in the all-ones state), fixed all-zeros start, |z*| = Z = 4.
* ``taxi``: factored Taxi 5x5 (H = 50, known reward and termination): PSRL,
  C-PSRL (eta = 2, Z = 4) and F-PSRL with the rule-derived scopes (beyond the
  paper, which had no oracle on Taxi).
* ``anchors``: PSRL vs UCBVI on RiverSwim (6 states, tau = 20) and random MDPs
  (10 states, 5 actions, tau = 20), as in Osband et al. (2013).
* ``deepsea``: PSRL on bsuite DeepSea: episodes to the first treasure vs size.
* ``psrl2013``: the table of Osband, Russo & Van Roy (2013): PSRL (Dirichlet
  alpha = 1/S, Normal-Gamma rewards) vs UCRL2 (delta = 0.05) on RiverSwim and
  random MDPs drawn from the prior, tau = 20-episodic (``run_episodes``) and
  infinite-horizon on the doubling schedule (``run_continuing``), total regret
  over 10^4 steps, 20 runs (``--full``), beside the published numbers.
* ``speed``: C-PSRL (eta = 2) on the paper's random FMDP for 20 seeds, timed
  with compilation, beside the plain NumPy C-PSRL of
  ``benchmarks/peers/numpy_cpsrl.py``.

The default is a fast smoke run; ``--full`` uses the paper's sizes (20 seeds x
500 episodes). Results go to ``benchmarks/results/psrl[_full].json`` with plots
beside them. Seeds use common random numbers: per seed, every agent sees the
same instance and the same G0 draw. F-PSRL on the random families is
``cpsrl`` given the whole true graph with Z = |z*| (bit-identical to ``fpsrl``,
see ``tests/psrl/test_agents.py``), which lets it vmap over instances.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from bayesrl import random as fast_random
from bayesrl.envs import (
    DeepSea,
    FactoredMDP,
    RiverSwim,
    TabularMDP,
    Taxi,
    random_factored_mdp_params,
    random_tabular_mdp_params,
)
from bayesrl.envs.tabular import TabularMDPParams
from bayesrl.psrl import (
    cpsrl,
    draw_known_parents,
    fpsrl,
    psrl,
    run_continuing,
    run_episodes,
    ucrl2,
)
from benchmarks._common import machine
from benchmarks.peers.numpy_cpsrl import run_numpy_cpsrl
from benchmarks.peers.ucbvi import ucbvi

RESULTS_DIR = Path(__file__).parent / "results"

FAST = {
    "seeds": 4,
    "episodes": 100,
    "taxi_seeds": 2,
    "taxi_episodes": 40,
    "anchor_episodes": 100,
    "deepsea_sizes": (4, 6, 8),
    "deepsea_episodes": 300,
    "deepsea_seeds": 3,
    "speed_episodes": 100,
    "numpy_episodes": 10,
    "psrl2013_seeds": 4,
    "psrl2013_steps": 2000,
}
FULL = {
    "seeds": 20,
    "episodes": 500,
    "taxi_seeds": 3,
    "taxi_episodes": 150,
    "anchor_episodes": 500,
    "deepsea_sizes": (5, 8, 10, 12, 15),
    "deepsea_episodes": 500,
    "deepsea_seeds": 3,
    "speed_episodes": 500,
    "numpy_episodes": 30,
    "psrl2013_seeds": 20,
    "psrl2013_steps": 10_000,
}


def interval(samples: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval over seeds (axis 0)."""
    samples = np.asarray(samples, np.float64)
    n = samples.shape[0]
    if n < 2:
        return float(samples.mean()), float("nan")
    half = stats.t.ppf(0.975, n - 1) * samples.std(ddof=1) / np.sqrt(n)
    return float(samples.mean()), float(half)


def parent_masks(parents: np.ndarray, num_inputs: int) -> np.ndarray:
    """``[..., d_Y, K]`` -1 padded parent lists to ``bool[..., d_Y, d_X]``."""
    parents = np.asarray(parents)
    hits = parents[..., None] == np.arange(num_inputs)
    return np.any(hits & (parents[..., None] >= 0), axis=-2)


def summarise(metrics, seconds: float, true_parents=None, num_inputs=None) -> dict:
    """Curves and scalars of one agent's ``[seeds, K]`` metrics."""
    regret = np.asarray(metrics.regret, np.float64)
    num_episodes = regret.shape[1]
    cumulative = regret.cumsum(1)
    early = regret[:, : min(50, num_episodes)].mean(1)
    late = regret[:, -max(1, num_episodes // 5) :].mean(1)
    mean_curve = cumulative.mean(0)
    half = (
        stats.t.ppf(0.975, regret.shape[0] - 1)
        * cumulative.std(0, ddof=1)
        / np.sqrt(regret.shape[0])
        if regret.shape[0] > 1
        else np.full(num_episodes, np.nan)
    )
    out = {
        "seconds": seconds,
        "cumulative_regret": interval(cumulative[:, -1]),
        "per_episode_regret_first_50": interval(early),
        "per_episode_regret_last_20_percent": interval(late),
        "late_over_early": float(late.mean() / early.mean()),
        "final_l1_error": interval(np.asarray(metrics.model_l1_error)[:, -1]),
        "curve_cumulative_regret_mean": mean_curve.tolist(),
        "curve_cumulative_regret_ci": half.tolist(),
        "curve_l1_error_mean": np.asarray(metrics.model_l1_error).mean(0).tolist(),
        "per_seed_cumulative_regret": cumulative[:, -1].tolist(),
    }
    if true_parents is not None:
        sampled = parent_masks(np.asarray(metrics.sampled_parents), num_inputs)
        truth = parent_masks(np.asarray(true_parents), num_inputs)[:, None]
        if sampled.shape[-2:] == truth.shape[-2:]:
            equal = np.all(sampled == truth, -1).mean((0, 2))
            contains = np.all(sampled | ~truth, -1).mean((0, 2))
            out["curve_graph_equal"] = equal.tolist()
            out["curve_graph_contains"] = contains.tolist()
            out["graph_equal_last_20_percent"] = float(
                equal[-max(1, num_episodes // 5) :].mean()
            )
            out["graph_contains_last_20_percent"] = float(
                contains[-max(1, num_episodes // 5) :].mean()
            )
    return out


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    return out, time.perf_counter() - start


def timed_cpu(fn, *args):
    """``(out, wall seconds, process CPU seconds)``; CPU time is less
    distorted than wall time on a machine shared with other jobs."""
    start, cpu_start = time.perf_counter(), time.process_time()
    out = fn(*args)
    jax.block_until_ready(out)
    return out, time.perf_counter() - start, time.process_time() - cpu_start


def paired_ratio(results: dict, numerator: str, denominator: str) -> dict:
    a = np.asarray(results[numerator]["per_seed_cumulative_regret"])
    b = np.asarray(results[denominator]["per_seed_cumulative_regret"])
    difference = interval(a - b)
    return {
        "ratio_of_means": float(a.mean() / b.mean()),
        "paired_difference": difference,
        "difference_ci_above_zero": bool(difference[0] - difference[1] > 0),
    }


def factored_family(
    label, key, num_seeds, num_episodes, max_parents, reward, start, etas
) -> dict:
    """One random-FMDP family: every agent on the same instances and G0 draws."""
    env = FactoredMDP((2,) * 6, (2,) * 3, 10, max_parents)
    num_states = env.num_states
    key_instances, key_g0, key_runs = jax.random.split(key, 3)
    params = jax.jit(
        jax.vmap(
            lambda k: random_factored_mdp_params(k, env, reward=reward, start=start)
        )
    )(jax.random.split(key_instances, num_seeds))
    g0_keys = jax.random.split(key_g0, num_seeds)
    run_keys = jax.random.split(key_runs, num_seeds)
    makers = {
        "PSRL (alpha=1/|S|)": lambda p, k: psrl(env, 1.0 / num_states, p.rewards),
        "PSRL (alpha=1)": lambda p, k: psrl(env, 1.0, p.rewards),
    }
    for eta in etas:
        makers[f"C-PSRL (eta={eta})"] = lambda p, k, eta=eta: cpsrl(
            env, draw_known_parents(k, p.parents, eta), max_parents, reward=p.rewards
        )
    makers["F-PSRL"] = lambda p, k: cpsrl(env, p.parents, max_parents, reward=p.rewards)
    results = {}
    for name, make in makers.items():

        def one(run_key, instance, g0_key, make=make):
            agent = make(instance, g0_key)
            return run_episodes(run_key, agent, env, instance, num_episodes)[1]

        metrics, seconds = timed(jax.jit(jax.vmap(one)), run_keys, params, g0_keys)
        results[name] = summarise(metrics, seconds, params.parents, 9)
        print(
            f"[{label}] {name:20s} cumulative regret "
            f"{results[name]['cumulative_regret'][0]:8.2f} "
            f"± {results[name]['cumulative_regret'][1]:6.2f}  "
            f"late/early {results[name]['late_over_early']:.3f}  "
            f"l1 {results[name]['final_l1_error'][0]:.3f}  ({seconds:.1f} s)",
            flush=True,
        )
    comparisons = {
        "psrl_over_cpsrl_eta2": paired_ratio(
            results, "PSRL (alpha=1/|S|)", "C-PSRL (eta=2)"
        ),
        "cpsrl_eta2_over_fpsrl": paired_ratio(results, "C-PSRL (eta=2)", "F-PSRL"),
        "cpsrl_eta0_over_eta2": paired_ratio(
            results, "C-PSRL (eta=0)", "C-PSRL (eta=2)"
        ),
    }
    for name, value in comparisons.items():
        print(
            f"[{label}] {name}: ratio {value['ratio_of_means']:.2f}, paired "
            f"difference {value['paired_difference'][0]:.2f} "
            f"± {value['paired_difference'][1]:.2f}",
            flush=True,
        )
    return {
        "setting": {
            "d_X": 9,
            "d_Y": 6,
            "num_values": 2,
            "true_parent_set_size": max_parents,
            "Z": max_parents,
            "horizon": 10,
            "episodes": num_episodes,
            "seeds": num_seeds,
            "reward": reward + " (known to every agent)",
            "start": start,
            "cpt_prior": "Dirichlet(1)",
            "alpha_cpsrl_fpsrl": 1.0,
            "alpha_psrl": ["1/|S| = 1/64", 1.0],
            "hyperprior": "uniform",
            "G0": "eta true parents per node, uniform",
            "planner": "exact backward induction on the dense sampled model",
        },
        "agents": results,
        "comparisons": comparisons,
    }


def taxi_section(key, num_seeds, num_episodes, agents=None) -> dict:
    env = Taxi()
    params = env.default_params
    true_parents = env.true_parents
    known = np.asarray(draw_known_parents(jax.random.key(0), true_parents, 2))
    makers = {
        "PSRL (alpha=1/|S|)": lambda: psrl(env, 1.0 / env.num_states, params.rewards),
        "C-PSRL (eta=2)": lambda: cpsrl(env, known, 4, reward=params.rewards),
        "F-PSRL (rule scopes)": lambda: fpsrl(env, true_parents, params.rewards),
    }
    if agents is not None:
        makers = {name: make for name, make in makers.items() if name in agents}
    keys = jax.random.split(key, num_seeds)
    results = {}
    for name, make in makers.items():
        agent = make()
        run = jax.jit(
            jax.vmap(
                lambda k, agent=agent: run_episodes(
                    k, agent, env, params, num_episodes
                )[1]
            )
        )
        metrics, seconds = timed(run, keys)
        parents = np.broadcast_to(true_parents, (num_seeds,) + true_parents.shape)
        results[name] = summarise(metrics, seconds, parents, 5)
        print(
            f"[taxi] {name:22s} cumulative regret "
            f"{results[name]['cumulative_regret'][0]:9.1f} "
            f"± {results[name]['cumulative_regret'][1]:7.1f}  late/early "
            f"{results[name]['late_over_early']:.3f}  ({seconds:.1f} s)",
            flush=True,
        )
    return {
        "setting": {
            "horizon": 50,
            "episodes": num_episodes,
            "seeds": num_seeds,
            "Z": 4,
            "known_parents": known.tolist(),
            "alpha_psrl": "1/500",
            "alpha_cpsrl_fpsrl": 1.0,
            "reward_and_termination": "known (Taxi-v3 rules)",
        },
        "agents": results,
    }


def anchors_section(key, num_seeds, num_episodes) -> dict:
    out = {}
    river = RiverSwim()
    random_env = TabularMDP(10, 5, 20)
    instances = {
        "riverswim": (river, None),
        "random_mdp": (
            random_env,
            jax.vmap(lambda k: random_tabular_mdp_params(k, 10, 5))(
                jax.random.split(jax.random.fold_in(key, 1), num_seeds)
            ),
        ),
    }
    keys = jax.random.split(key, num_seeds)
    for label, (env, batched_params) in instances.items():
        results = {}
        for name, agent in (
            ("PSRL (alpha=1/|S|)", psrl(env)),
            ("UCBVI-CH", ucbvi(env, num_episodes)),
        ):
            if batched_params is None:
                params = env.default_params
                run = jax.jit(
                    jax.vmap(
                        lambda k, agent=agent, env=env, params=params: run_episodes(
                            k, agent, env, params, num_episodes
                        )[1]
                    )
                )
                metrics, seconds = timed(run, keys)
            else:
                run = jax.jit(
                    jax.vmap(
                        lambda k, p, agent=agent, env=env: run_episodes(
                            k, agent, env, p, num_episodes
                        )[1]
                    )
                )
                metrics, seconds = timed(run, keys, batched_params)
            results[name] = summarise(metrics, seconds)
            print(
                f"[{label}] {name:20s} total regret over "
                f"{num_episodes * env.horizon} steps "
                f"{results[name]['cumulative_regret'][0]:8.2f} "
                f"± {results[name]['cumulative_regret'][1]:6.2f}",
                flush=True,
            )
        out[label] = {
            "setting": {
                "states": env.num_states,
                "actions": env.num_actions,
                "horizon": env.horizon,
                "episodes": num_episodes,
                "seeds": num_seeds,
                "psrl_prior": "Dirichlet(1/|S|) transitions, Beta(1,1) rewards",
                "reward": "learned by both agents",
            },
            "agents": results,
        }
    return out


def deepsea_section(key, sizes, num_seeds, num_episodes) -> dict:
    rows = []
    for size in sizes:
        env = DeepSea(size)
        params = jax.vmap(env.sample_params)(
            jax.random.split(jax.random.fold_in(key, size), num_seeds)
        )
        agent = psrl(env)
        run = jax.jit(
            jax.vmap(
                lambda k, p, agent=agent, env=env: run_episodes(
                    k, agent, env, p, num_episodes
                )[1]
            )
        )
        metrics, seconds = timed(run, jax.random.split(key, num_seeds), params)
        found = np.asarray(metrics.episode_return) > 0.5
        first = np.where(found.any(1), found.argmax(1) + 1, -1)
        rows.append(
            {
                "size": size,
                "episodes_to_first_treasure": first.tolist(),
                "solved_fraction_last_10_percent": float(
                    found[:, -max(1, num_episodes // 10) :].mean()
                ),
                "seconds": seconds,
            }
        )
        print(
            f"[deepsea] N={size:3d} episodes to first treasure per seed "
            f"{first.tolist()} ({seconds:.1f} s)",
            flush=True,
        )
    return {
        "setting": {
            "agent": "PSRL, Dirichlet(1/|S|) transitions, Beta(1,1) rewards",
            "episodes": num_episodes,
            "seeds": num_seeds,
            "action_map": "bsuite: random per cell, drawn per seed",
            "never_found": -1,
        },
        "rows": rows,
    }


# Table 1 of Osband, Russo & Van Roy (2013): total regret over 10^4 steps, 20
# runs.
PSRL2013_PUBLISHED = {
    ("random_mdp", "tau_episodes"): {"PSRL": 1.04e4, "UCRL2": 5.92e4},
    ("random_mdp", "infinite_horizon"): {"PSRL": 7.30e3, "UCRL2": 1.13e5},
    ("riverswim", "tau_episodes"): {"PSRL": 6.88e1, "UCRL2": 1.26e3},
    ("riverswim", "infinite_horizon"): {"PSRL": 1.06e2, "UCRL2": 3.64e3},
}


def psrl2013_random_mdp_params(key, num_states: int = 10, num_actions: int = 5):
    """A random MDP drawn from the prior of Osband et al. (2013), as their
    MATLAB code does (``RunTau.m``, ``SetPriors.m``): ``P(. | s, a) ~
    Dirichlet(1/S)``; the mean reward from the Normal-Gamma prior (``lambda ~
    Gamma(1/2, rate 1/2)``, ``R ~ N(1, 1/lambda)``, i.e. mean 1, one
    pseudo-observation), paid deterministically; start in state 0."""
    key_p, key_precision, key_mean = fast_random.split(key, 3)
    concentration = jnp.full((num_states,), 1.0 / num_states)
    transitions = jax.random.dirichlet(
        key_p, concentration, (num_states, num_actions)
    ).astype(jnp.float32)
    precision = jax.random.gamma(key_precision, 0.5, (num_states, num_actions)) / 0.5
    rewards = 1.0 + jax.random.normal(key_mean, (num_states, num_actions)) / jnp.sqrt(
        precision
    )
    return TabularMDPParams(
        transitions=transitions,
        rewards=rewards.astype(jnp.float32),
        termination=jnp.zeros((num_states, num_actions), jnp.float32),
        initial_distribution=jax.nn.one_hot(0, num_states, dtype=jnp.float32),
    )


def psrl2013_section(key, num_seeds, num_steps) -> dict:
    """PSRL vs UCRL2 in the four settings of Osband et al. (2013, Table 1)."""
    tau = 20
    if num_steps % tau:
        raise ValueError(f"num_steps must be a multiple of tau = {tau}")
    num_episodes = num_steps // tau
    keys = jax.random.split(key, num_seeds)
    envs = {"random_mdp": TabularMDP(10, 5, tau), "riverswim": RiverSwim(6, tau)}
    out = {}
    for label, env in envs.items():
        if label == "random_mdp":
            params = jax.vmap(psrl2013_random_mdp_params)(
                jax.random.split(jax.random.fold_in(key, 1), num_seeds)
            )
        else:
            params = jax.tree.map(
                lambda leaf: jnp.broadcast_to(leaf, (num_seeds,) + leaf.shape),
                env.default_params,
            )
        settings = {
            "tau_episodes": {
                "PSRL": psrl(env, reward="normal_gamma"),
                "UCRL2": ucrl2(env, 0.05, criterion="finite_horizon"),
            },
            "infinite_horizon": {
                "PSRL": psrl(env, reward="normal_gamma", criterion="average_reward"),
                "UCRL2": ucrl2(env, 0.05),
            },
        }
        for setting, agents in settings.items():
            results = {}
            for name, agent in agents.items():
                if setting == "tau_episodes":

                    def one(k, p, agent=agent, env=env):
                        regret = run_episodes(
                            k, agent, env, p, num_episodes, model_error=False
                        )[1].regret
                        return regret, jnp.zeros((), jnp.int32)

                else:

                    def one(k, p, agent=agent, env=env):
                        metrics = run_continuing(k, agent, env, p, num_steps)[1]
                        return metrics.regret, metrics.episode_start.sum()

                (regret, episodes), seconds = timed(
                    jax.jit(jax.vmap(one)), keys, params
                )
                regret = np.asarray(regret, np.float64)
                cumulative = regret.cumsum(1)
                # At most 500 points per curve (every stride-th step or episode).
                stride = max(1, cumulative.shape[1] // 500)
                curve_points = np.arange(stride - 1, cumulative.shape[1], stride)
                results[name] = {
                    "total_regret": interval(cumulative[:, -1]),
                    "median_total_regret": float(np.median(cumulative[:, -1])),
                    "per_seed_total_regret": cumulative[:, -1].tolist(),
                    "curve_points": (curve_points + 1).tolist(),
                    "curve_cumulative_regret_mean": cumulative.mean(0)[
                        curve_points
                    ].tolist(),
                    "curve_cumulative_regret_median": np.median(cumulative, 0)[
                        curve_points
                    ].tolist(),
                    "episodes_mean": float(np.asarray(episodes).mean()),
                    "seconds": seconds,
                    "published": PSRL2013_PUBLISHED[(label, setting)][name],
                }
            psrl_total = np.asarray(results["PSRL"]["per_seed_total_regret"])
            ucrl2_total = np.asarray(results["UCRL2"]["per_seed_total_regret"])
            difference = interval(ucrl2_total - psrl_total)
            out[f"{label}/{setting}"] = {
                "agents": results,
                "ucrl2_over_psrl": float(ucrl2_total.mean() / psrl_total.mean()),
                "paired_difference_ucrl2_minus_psrl": difference,
                "psrl_below_ucrl2": bool(difference[0] - difference[1] > 0),
                "fraction_of_runs_psrl_below_ucrl2": float(
                    np.mean(psrl_total < ucrl2_total)
                ),
                # Two-sided sign test of "PSRL < UCRL2 per run": robust to the
                # heavy-tailed rewards of the random MDPs, where the means
                # are dominated by one or two instances.
                "sign_test_p_value": float(
                    stats.binomtest(
                        int(np.sum(psrl_total < ucrl2_total)), num_seeds
                    ).pvalue
                ),
            }
            for name, summary in results.items():
                mean, half = summary["total_regret"]
                print(
                    f"[psrl2013] {label:10s} {setting:16s} {name:5s} total regret "
                    f"{mean:10.1f} ± {half:8.1f}  (published "
                    f"{summary['published']:.3g}; {summary['seconds']:.1f} s)",
                    flush=True,
                )
    print_psrl2013_table(out, num_seeds, num_steps)
    return {
        "setting": {
            "steps": num_steps,
            "tau": tau,
            "seeds": num_seeds,
            "psrl_prior": "Dirichlet(1/S) transitions; Normal-Gamma rewards "
            "(mean 1, variance 1, one pseudo-observation)",
            "ucrl2": "delta = 0.05, Jaksch et al. (2010) radii",
            "average_reward_planning": "relative value iteration, "
            "sp(Tv - v) < 0.01 (PSRL) or < 1/sqrt(t_k) (UCRL2), <= 1000 backups",
            "regret_tau": "sum over episodes of the exact expected regret "
            "rho . (V* - V^pi_k) (the paper: M V*(s_1) - realised rewards)",
            "regret_infinite": "T g* - sum_t R(s_t, a_t) (as the paper)",
            "random_mdp": "P ~ Dirichlet(1/S), R ~ Normal-Gamma prior, start 0; "
            "one instance per seed, the same for both agents",
        },
        "cells": out,
    }


def print_psrl2013_table(cells: dict, num_seeds: int, num_steps: int) -> None:
    """The 2 x 4 table of Osband et al. (2013) with ours beside it."""
    columns = [
        ("random_mdp", "tau_episodes"),
        ("random_mdp", "infinite_horizon"),
        ("riverswim", "tau_episodes"),
        ("riverswim", "infinite_horizon"),
    ]
    print(
        f"\nTotal regret over {num_steps} steps, mean ± 95% t-interval over "
        f"{num_seeds} runs (published: Osband et al. 2013, Table 1)"
    )
    header = " | ".join(f"{a} {b}" for a, b in columns)
    print(f"| | {header} |")
    for name in ("PSRL", "UCRL2"):
        ours = []
        for label, setting in columns:
            summary = cells[f"{label}/{setting}"]["agents"][name]
            mean, half = summary["total_regret"]
            ours.append(f"{mean:.3g} ± {half:.2g} ({summary['published']:.3g})")
        print(f"| {name} | " + " | ".join(ours) + " |")
    ratios = [
        f"{cells[f'{label}/{setting}']['ucrl2_over_psrl']:.1f}x"
        for label, setting in columns
    ]
    print("| UCRL2 / PSRL (means) | " + " | ".join(ratios) + " |")
    for name in ("PSRL", "UCRL2"):
        medians = [
            f"{cells[f'{label}/{setting}']['agents'][name]['median_total_regret']:.3g}"
            for label, setting in columns
        ]
        print(f"| {name} median | " + " | ".join(medians) + " |")
    fractions = [
        f"{cells[f'{label}/{setting}']['fraction_of_runs_psrl_below_ucrl2']:.2f}"
        for label, setting in columns
    ]
    print("| runs with PSRL < UCRL2 | " + " | ".join(fractions) + " |")
    p_values = [
        f"{cells[f'{label}/{setting}']['sign_test_p_value']:.1e}"
        for label, setting in columns
    ]
    print("| sign test p | " + " | ".join(p_values) + " |", flush=True)


def speed_section(key, num_seeds, num_episodes, numpy_episodes) -> dict:
    env = FactoredMDP((2,) * 6, (2,) * 3, 10, 3)
    params = jax.vmap(lambda k: random_factored_mdp_params(k, env))(
        jax.random.split(key, num_seeds)
    )
    g0 = jax.vmap(lambda k, p: draw_known_parents(k, p, 2))(
        jax.random.split(jax.random.fold_in(key, 1), num_seeds), params.parents
    )

    def one(run_key, instance, known):
        agent = cpsrl(env, known, 3, reward=instance.rewards)
        # The NumPy peer computes the regret only: no l1 model error here.
        return run_episodes(
            run_key, agent, env, instance, num_episodes, model_error=False
        )[1].regret

    run = jax.jit(jax.vmap(one))
    keys = jax.random.split(jax.random.fold_in(key, 2), num_seeds)
    regrets, with_compile, cpu_with_compile = timed_cpu(run, keys, params, g0)
    second_keys = jax.random.split(jax.random.fold_in(key, 3), num_seeds)
    _, without_compile, cpu_without_compile = timed_cpu(run, second_keys, params, g0)
    jax_per_episode = without_compile / (num_seeds * num_episodes)
    jax_cpu_per_episode = cpu_without_compile / (num_seeds * num_episodes)
    print(
        f"[speed] JAX C-PSRL {num_seeds} seeds x {num_episodes} episodes: "
        f"{with_compile:.1f} s with compilation, {without_compile:.1f} s without; "
        f"{1e3 * jax_per_episode:.3f} ms per seed-episode",
        flush=True,
    )

    first = jax.tree.map(lambda x: np.asarray(x[0]), params)
    model = env.model(jax.tree.map(jnp.asarray, first))
    start, cpu_start = time.perf_counter(), time.process_time()
    numpy_regrets = run_numpy_cpsrl(
        (model.transitions, model.rewards, model.initial_distribution),
        np.asarray(g0[0]),
        3,
        env.input_sizes,
        env.state_sizes,
        env.horizon,
        numpy_episodes,
    )
    numpy_seconds = time.perf_counter() - start
    numpy_cpu_per_episode = (time.process_time() - cpu_start) / numpy_episodes
    numpy_per_episode = numpy_seconds / numpy_episodes
    numpy_total_estimate = numpy_per_episode * num_seeds * num_episodes
    out = {
        "setting": {
            "family": "paper random FMDP, dense reward, eta = 2, Z = 3",
            "seeds": num_seeds,
            "episodes": num_episodes,
            "numpy_episodes_timed": numpy_episodes,
        },
        "jax_seconds_with_compile": with_compile,
        "jax_seconds_without_compile": without_compile,
        "jax_seconds_per_seed_episode": jax_per_episode,
        "numpy_seconds_per_episode": numpy_per_episode,
        "numpy_seconds_for_all_seeds_and_episodes_estimated": numpy_total_estimate,
        "speedup_per_episode": numpy_per_episode / jax_per_episode,
        "jax_cpu_seconds_with_compile": cpu_with_compile,
        "jax_cpu_seconds_per_seed_episode": jax_cpu_per_episode,
        "numpy_cpu_seconds_per_episode": numpy_cpu_per_episode,
        "speedup_per_episode_cpu_time": numpy_cpu_per_episode / jax_cpu_per_episode,
        "speedup_including_compile": numpy_total_estimate / with_compile,
        "jax_mean_regret_first_episodes": float(
            np.asarray(regrets)[:, :numpy_episodes].mean()
        ),
        "numpy_mean_regret_first_episodes": float(numpy_regrets.mean()),
    }
    print(
        f"[speed] NumPy C-PSRL: {1e3 * numpy_per_episode:.2f} ms per episode "
        f"({numpy_episodes} episodes, 1 seed); ratio per episode "
        f"{out['speedup_per_episode']:.1f}x; estimated NumPy total "
        f"{numpy_total_estimate:.0f} s vs JAX {with_compile:.1f} s with compilation "
        f"({out['speedup_including_compile']:.1f}x)",
        flush=True,
    )
    print(
        f"[speed] CPU time per episode: JAX {1e3 * jax_cpu_per_episode:.3f} ms per "
        f"seed-episode, NumPy {1e3 * numpy_cpu_per_episode:.2f} ms; ratio "
        f"{out['speedup_per_episode_cpu_time']:.1f}x; JAX CPU time with "
        f"compilation {cpu_with_compile:.1f} s",
        flush=True,
    )
    return out


def plot(results: dict, out_dir: Path, suffix: str) -> list[str]:
    """Cumulative regret, l1 error and graph recovery figures (lazy matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for family in ("fmdp", "hard", "taxi"):
        if family not in results:
            continue
        agents = results[family]["agents"]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        for name, summary in agents.items():
            mean = np.asarray(summary["curve_cumulative_regret_mean"])
            half = np.asarray(summary["curve_cumulative_regret_ci"])
            episodes = np.arange(1, len(mean) + 1)
            axes[0].plot(episodes, mean, label=name)
            axes[0].fill_between(episodes, mean - half, mean + half, alpha=0.2)
            axes[1].plot(episodes, summary["curve_l1_error_mean"], label=name)
            if "curve_graph_equal" in summary and not name.startswith("PSRL"):
                axes[2].plot(episodes, summary["curve_graph_equal"], label=f"{name} =")
                axes[2].plot(
                    episodes,
                    summary["curve_graph_contains"],
                    linestyle="--",
                    label=f"{name} ⊇",
                )
        axes[0].set(xlabel="episode", ylabel="cumulative regret", title=family)
        axes[1].set(xlabel="episode", ylabel="l1 model error")
        axes[2].set(xlabel="episode", ylabel="P(sampled parents = / ⊇ true)")
        for ax in axes:
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"psrl_{family}{suffix}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    if "anchors" in results:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, (label, section) in zip(axes, results["anchors"].items(), strict=True):
            for name, summary in section["agents"].items():
                ax.plot(summary["curve_cumulative_regret_mean"], label=name)
            ax.set(xlabel="episode", ylabel="cumulative regret", title=label)
            ax.legend()
        fig.tight_layout()
        path = out_dir / f"psrl_anchors{suffix}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    if "psrl2013" in results:
        cells = results["psrl2013"]["cells"]
        fig, axes = plt.subplots(1, len(cells), figsize=(4 * len(cells), 3.6))
        for ax, (label, cell) in zip(axes, cells.items(), strict=True):
            for name, summary in cell["agents"].items():
                points = summary["curve_points"]
                ax.plot(points, summary["curve_cumulative_regret_mean"], label=name)
                ax.plot(
                    points,
                    summary["curve_cumulative_regret_median"],
                    linestyle="--",
                    color=ax.lines[-1].get_color(),
                    label=f"{name} (median)",
                )
            x_label = "episode" if label.endswith("tau_episodes") else "time step"
            ax.set(
                xlabel=x_label,
                ylabel="cumulative regret (mean, median)",
                title=label,
            )
            # Symmetric log: spans 10 to 10^5, and early totals can be < 0.
            ax.set_yscale("symlog", linthresh=10.0)
            ax.legend()
        fig.tight_layout()
        path = out_dir / f"psrl_2013{suffix}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    if "deepsea" in results:
        rows = results["deepsea"]["rows"]
        fig, ax = plt.subplots(figsize=(5, 4))
        for row in rows:
            firsts = [f for f in row["episodes_to_first_treasure"] if f > 0]
            ax.scatter([row["size"]] * len(firsts), firsts, color="C0", alpha=0.6)
        sizes = np.array([row["size"] for row in rows])
        ax.plot(sizes, 2.0**sizes + 100, "k--", label="2^N + 100 (dithering)")
        ax.set(
            xlabel="DeepSea size N",
            ylabel="episodes to first treasure",
            yscale="log",
            title="PSRL on DeepSea",
        )
        ax.legend()
        fig.tight_layout()
        path = out_dir / f"psrl_deepsea{suffix}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    return written


SECTIONS = ("fmdp", "hard", "taxi", "anchors", "deepsea", "speed", "psrl2013")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the paper's sizes")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {SECTIONS}",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--taxi-episodes", type=int, help="override the config")
    parser.add_argument("--taxi-seeds", type=int, help="override the config")
    parser.add_argument(
        "--taxi-agents", help="comma-separated subset of the Taxi agents' names"
    )
    args = parser.parse_args(argv)
    config = dict(FULL if args.full else FAST)
    if args.taxi_episodes:
        config["taxi_episodes"] = args.taxi_episodes
    if args.taxi_seeds:
        config["taxi_seeds"] = args.taxi_seeds
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")
    key = jax.random.key(args.seed)
    results: dict = {
        "machine": machine(),
        "config": dict(config, full=args.full, sections=sections),
    }
    print(f"machine: {results['machine']}", flush=True)
    start = time.perf_counter()
    if "fmdp" in sections:
        results["fmdp"] = factored_family(
            "fmdp",
            jax.random.fold_in(key, 0),
            config["seeds"],
            config["episodes"],
            3,
            "dense",
            "random",
            (0, 1, 2),
        )
    if "hard" in sections:
        results["hard"] = factored_family(
            "hard",
            jax.random.fold_in(key, 1),
            config["seeds"],
            config["episodes"],
            4,
            "sparse",
            "fixed",
            (0, 1, 2),
        )
    if "taxi" in sections:
        results["taxi"] = taxi_section(
            jax.random.fold_in(key, 2),
            config["taxi_seeds"],
            config["taxi_episodes"],
            args.taxi_agents.split(",") if args.taxi_agents else None,
        )
    if "anchors" in sections:
        results["anchors"] = anchors_section(
            jax.random.fold_in(key, 3), config["seeds"], config["anchor_episodes"]
        )
    if "deepsea" in sections:
        results["deepsea"] = deepsea_section(
            jax.random.fold_in(key, 4),
            config["deepsea_sizes"],
            config["deepsea_seeds"],
            config["deepsea_episodes"],
        )
    if "speed" in sections:
        results["speed"] = speed_section(
            jax.random.fold_in(key, 5),
            20,
            config["speed_episodes"],
            config["numpy_episodes"],
        )
    if "psrl2013" in sections:
        results["psrl2013"] = psrl2013_section(
            jax.random.fold_in(key, 6),
            config["psrl2013_seeds"],
            config["psrl2013_steps"],
        )
    results["total_seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_full" if args.full else ""
    if len(sections) < len(SECTIONS):
        suffix += "_" + "_".join(sections)
    if args.taxi_episodes or args.taxi_seeds or args.taxi_agents:
        suffix += f"_{config['taxi_seeds']}x{config['taxi_episodes']}"
    if args.taxi_agents:
        # "PSRL (alpha=1/|S|),C-PSRL (eta=2)" -> "_psrl-cpsrl": a run of a
        # subset never overwrites another subset's results.
        suffix += "_" + "-".join(
            name.split()[0].lower().replace("-", "")
            for name in args.taxi_agents.split(",")
        )
    path = args.out / f"psrl{suffix}.json"
    if not args.no_plots:
        results["plots"] = plot(results, args.out, suffix)
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path} ({results['total_seconds']:.0f} s)", flush=True)
    return results


if __name__ == "__main__":
    main()
