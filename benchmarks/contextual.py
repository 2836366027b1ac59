"""The contextual bandit benchmark: ``python -m benchmarks.contextual [--full]``.

Prints and writes (``benchmarks/results/contextual.json`` and
``contextual_regret.png``):

1. **Regret tables**: mean cumulative regret with 95% intervals over seeds for
   every linear agent (LinTS with known and unknown noise, LinUCB, linear
   Bayes-UCB, linear epsilon-greedy, uniform) on the linear job
   (d = K = 10, Gaussian rewards), its logistic-reward variant, and
   classification data sets bundled with scikit-learn.
2. **Wheel bandit** (Riquelme et al. 2018) for delta in {0.5, 0.7, 0.9, 0.95,
   0.99}: cumulative regret normalised by uniform's (Showdown style; < 1 beats
   uniform), all deltas in one compiled call per agent. The Showdown's linear
   agent setting is used: intercept feature, NIG prior with lambda = 0.25
   (prior_scale 2) and a0 = b0 = 6.
3. **Throughput** of LinTS at d = K = 10 for 10, 100 and 1000 parallel runs,
   with its ratio to the vectorised NumPy LinTS of
   ``benchmarks/peers/numpy_linear_thompson.py`` timed in the same process, and
   regret parity read off the same runs (same instance, 95% intervals);
   MABWiser's LinTS (one bandit at a time, its documented use) when installed.
4. **Sparse TS vs LinTS** at d in {100, 1000}, s = 5, and **IRGP-UCB vs
   GP-UCB vs GP-TS** (simple and cumulative regret) on GP sample paths and
   Bayesian-optimisation functions: ``benchmarks/contextual_structured.py``,
   also runnable alone.

The default run is sized for about three minutes on 2 CPU cores (most of it is
compilation): T = 500 for the regret tables, the wine and iris data sets only,
T = 500 rounds for the throughput rows. ``--full`` uses T = 1000 (2000 for the
wheel), more seeds and all four data sets. Each section is one function
returning a JSON-able dict and one line of ``main``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import bayesrl
from bayesrl import bandits, envs
from bayesrl.eval import mean_interval
from benchmarks._common import (
    best_of,
    machine,
    machine_header,
    plot_seed_band,
    pyplot,
    save_figure,
)
from benchmarks.contextual_structured import gp_section, sparse_section
from benchmarks.peers import numpy_linear_thompson

RESULTS = Path(__file__).parent / "results"
WHEEL_DELTAS = (0.5, 0.7, 0.9, 0.95, 0.99)
THROUGHPUT_NOISE_STD = 0.5  # the linear job's reward noise (the linear job)


def linear_agents(num_arms: int, dim: int, noise_std: float) -> dict:
    """Every linear agent; the known-noise ones are told ``noise_std``."""
    return {
        f"linear_ts (sigma={noise_std})": bandits.linear_thompson_sampling(
            num_arms, dim, noise_std=noise_std
        ),
        "linear_ts (NIG)": bandits.linear_thompson_sampling(num_arms, dim),
        "lin_ucb (alpha=1)": bandits.lin_ucb(num_arms, dim, 1.0),
        f"linear_bayes_ucb (sigma={noise_std})": bandits.linear_bayes_ucb(
            num_arms, dim, noise_std=noise_std
        ),
        "linear_epsilon_greedy (0.1)": bandits.linear_epsilon_greedy(
            num_arms, dim, 0.1
        ),
        "uniform": bandits.uniform(num_arms),
    }


def linear_job(reward: str = "gaussian"):
    """The linear job: d = K = 10, theta_k ~ N(0, I/d), x ~ N(0, I),
    sigma = 0.5 (logistic: Bernoulli of mean sigmoid(theta . x))."""
    env = envs.LinearContextualBandit(10, 10, reward=reward)
    theta = jax.random.normal(jax.random.key(2026), (10, 10)) / np.sqrt(10)
    params = env.default_params.replace(
        theta=theta, noise_std=jnp.asarray(THROUGHPUT_NOISE_STD, jnp.float32)
    )
    return env, params


def cumulative_regret(agent, env, params, num_steps, num_seeds, seed, **kwargs):
    _, metrics = bayesrl.run_many(
        jax.random.key(seed), agent, env, params, num_steps, num_seeds, **kwargs
    )
    regret = np.asarray(metrics.regret, np.float64)
    return regret.sum(axis=1), np.cumsum(regret, axis=1)


def regret_rows(instance, agents, env, params, num_steps, num_seeds):
    print(f"\n-- {instance}: T={num_steps}, {num_seeds} seeds")
    rows, curves = [], {}
    for i, (name, agent) in enumerate(agents.items()):
        start = time.perf_counter()
        totals, curve = cumulative_regret(agent, env, params, num_steps, num_seeds, i)
        mean, half = mean_interval(totals)
        rows.append(
            dict(
                instance=instance,
                agent=name,
                num_steps=num_steps,
                num_seeds=num_seeds,
                regret_mean=mean,
                regret_95_half_width=half,
                wall_s=time.perf_counter() - start,
            )
        )
        curves[name] = curve
        print(f"  {name:36s} {mean:9.1f} ± {half:6.1f}")
    return rows, curves


def regret_section(full: bool) -> tuple[dict, dict]:
    """Regret tables on the linear, logistic and data-set bandits."""
    print("\n== 1. Cumulative regret (mean ± 95% half-width over seeds) ==")
    num_steps, num_seeds = (1000, 100) if full else (500, 32)
    rows, plots = [], {}
    for reward in ("gaussian", "logistic"):
        env, params = linear_job(reward)
        new_rows, curves = regret_rows(
            f"linear job ({reward})",
            linear_agents(10, 10, THROUGHPUT_NOISE_STD),
            env,
            params,
            num_steps,
            num_seeds,
        )
        rows += new_rows
        plots[f"linear ({reward})"] = curves
    datasets = envs.classification.SKLEARN_DATASETS if full else ("wine", "iris")
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("  scikit-learn not installed (pip install '.[datasets]'): skipped")
        datasets = ()
    for name in datasets:
        env, params = envs.sklearn_classification_bandit(name, intercept=True)
        new_rows, _ = regret_rows(
            f"{name} (K={env.num_arms}, d={env.dim} incl. intercept)",
            linear_agents(env.num_arms, env.dim, 0.5),
            env,
            params,
            num_steps,
            num_seeds,
        )
        rows += new_rows
    return dict(rows=rows), plots


def wheel_section(full: bool) -> dict:
    """Wheel bandit regret normalised by uniform, every delta in one call."""
    num_steps, num_seeds = (2000, 50) if full else (1000, 16)
    print(
        "\n== 2. Wheel bandit: cumulative regret / uniform's (Showdown style), "
        f"T={num_steps}, {num_seeds} seeds per delta =="
    )
    env = envs.WheelBandit(intercept=True)
    base = env.default_params
    deltas = np.repeat(np.asarray(WHEEL_DELTAS, np.float32), num_seeds)
    params = jax.tree.map(
        lambda leaf: jnp.broadcast_to(leaf, deltas.shape), base
    ).replace(delta=jnp.asarray(deltas))
    num_arms, dim = env.num_arms, env.dim
    agents = {
        "linear_ts (NIG, Showdown prior)": bandits.linear_thompson_sampling(
            num_arms, dim, prior_scale=2.0
        ),
        # The Showdown's start: 2 round-robin pulls per arm before the rule.
        "linear_ts (NIG, Showdown prior, 2 pulls/arm)": bandits.round_robin_warmup(
            bandits.linear_thompson_sampling(num_arms, dim, prior_scale=2.0),
            num_arms,
            pulls_per_arm=2,
        ),
        "linear_ts (sigma=1)": bandits.linear_thompson_sampling(
            num_arms, dim, noise_std=1.0
        ),
        "lin_ucb (alpha=1)": bandits.lin_ucb(num_arms, dim, 1.0),
        "linear_bayes_ucb (NIG)": bandits.linear_bayes_ucb(
            num_arms, dim, prior_scale=2.0
        ),
        "linear_epsilon_greedy (0.1)": bandits.linear_epsilon_greedy(
            num_arms, dim, 0.1
        ),
        "uniform": bandits.uniform(num_arms),
    }
    totals = {}
    for i, (name, agent) in enumerate(agents.items()):
        regret, _ = cumulative_regret(
            agent, env, params, num_steps, deltas.size, i, batched_env_params=True
        )
        totals[name] = regret.reshape(len(WHEEL_DELTAS), num_seeds)
    uniform = totals["uniform"].mean(axis=1)
    print("  " + " " * 46 + "".join(f"  delta={d:<5}" for d in WHEEL_DELTAS))
    rows = []
    for name, regret in totals.items():
        normalised = [
            mean_interval(r / u) for r, u in zip(regret, uniform, strict=True)
        ]
        rows.append(
            dict(
                agent=name,
                deltas=list(WHEEL_DELTAS),
                normalised_regret=[m for m, _ in normalised],
                normalised_95_half_width=[h for _, h in normalised],
                regret_mean=[float(r.mean()) for r in regret],
            )
        )
        print(f"  {name:46s}" + "".join(f"  {m:5.3f}±{h:5.3f}" for m, h in normalised))
    linear_ts = rows[0]
    beats = [
        m + h < 1.0
        for m, h in zip(
            linear_ts["normalised_regret"],
            linear_ts["normalised_95_half_width"],
            strict=True,
        )
    ]
    print(
        "  figure: linear_ts (NIG) beats uniform (upper 95% bound < 1) at every "
        f"delta: {all(beats)} ({dict(zip(WHEEL_DELTAS, beats, strict=True))})"
    )
    # Where it breaks down: the first delta at which it no longer removes at
    # least half of uniform's regret (normalised regret above 0.5).
    broken = [
        d
        for d, m in zip(WHEEL_DELTAS, linear_ts["normalised_regret"], strict=True)
        if m > 0.5
    ]
    breakdown = broken[0] if broken else None
    print(
        "  breakdown (normalised regret > 0.5 from delta = "
        f"{breakdown}): the informative outer ring has probability 1 - delta^2"
    )
    return dict(
        num_steps=num_steps,
        num_seeds_per_delta=num_seeds,
        rows=rows,
        linear_ts_beats_uniform_at_every_delta=bool(all(beats)),
        linear_ts_breakdown_delta=breakdown,
    )


def mabwiser_linear_ts(theta, num_steps: int, seed: int = 0):
    """MABWiser's LinTS on the linear job, one bandit, one predict and one
    partial_fit per round. ``LinTS(alpha=sigma, l2_lambda=sigma^2)`` draws from
    ``N(A^{-1} X'r, sigma^2 A^{-1})``, ``A = sigma^2 I + X'X``: exactly our
    known-noise posterior with ``noise_std=sigma, prior_scale=1``."""
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:
        return None
    rng = np.random.default_rng(seed)
    num_arms, dim = theta.shape
    arms = list(range(num_arms))
    sigma = THROUGHPUT_NOISE_STD
    mab = MAB(arms, LearningPolicy.LinTS(alpha=sigma, l2_lambda=sigma**2), seed=seed)
    # MABWiser needs a first fit: one round per arm.
    warm = rng.standard_normal((num_arms, dim))
    warm_rewards = np.sum(warm * theta, axis=1) + sigma * rng.standard_normal(num_arms)
    mab.fit(arms, list(warm_rewards), warm)
    regret = 0.0
    start = time.perf_counter()
    for _ in range(num_steps):
        context = rng.standard_normal((1, dim))
        arm = int(mab.predict(context))
        means = context[0] @ theta.T
        regret += means.max() - means[arm]
        reward = means[arm] + sigma * rng.standard_normal()
        mab.partial_fit([arm], [reward], context)
    return num_steps / (time.perf_counter() - start), regret


def throughput_section(full: bool, repeats: int = 1) -> dict:
    """LinTS bandit-steps/s against vectorised NumPy (same process), parity."""
    num_steps = 1000 if full else 500
    print(
        "\n== 3. LinTS throughput, d = K = 10, T="
        f"{num_steps}: bandit-steps/s and ratio to vectorised NumPy =="
    )
    env, params = linear_job("gaussian")
    theta = np.asarray(params.theta, np.float64)
    agent = bandits.linear_thompson_sampling(10, 10, noise_std=THROUGHPUT_NOISE_STD)
    rows = []
    for num_seeds in (10, 100, 1000):

        def ours(seed, num_seeds=num_seeds):
            totals, _ = cumulative_regret(
                agent, env, params, num_steps, num_seeds, seed + 1
            )
            return totals

        def reference(seed, num_seeds=num_seeds):
            return numpy_linear_thompson.run(
                theta,
                THROUGHPUT_NOISE_STD,
                num_steps,
                num_seeds,
                seed + 1,
                noise_std=THROUGHPUT_NOISE_STD,
            ).sum(axis=1)

        start = time.perf_counter()
        ours(-1)
        first_call = time.perf_counter() - start
        ours_time, our_regret = best_of(ours, repeats)
        numpy_time, numpy_regret = best_of(reference, repeats)
        steps = num_seeds * num_steps
        row = dict(
            num_seeds=num_seeds,
            num_steps=num_steps,
            bayesrl_steps_per_s=steps / ours_time,
            numpy_steps_per_s=steps / numpy_time,
            ratio_vs_numpy=numpy_time / ours_time,
            first_call_s=first_call,
            regret_bayesrl=mean_interval(our_regret),
            regret_numpy=mean_interval(numpy_regret),
        )
        rows.append(row)
        print(
            f"  S={num_seeds:5d}  bayesrl {row['bayesrl_steps_per_s'] / 1e6:7.3f} M/s"
            f"  numpy {row['numpy_steps_per_s'] / 1e6:7.3f} M/s  ratio "
            f"{row['ratio_vs_numpy']:6.2f}x  regret "
            f"{row['regret_bayesrl'][0]:.1f}±{row['regret_bayesrl'][1]:.1f} vs numpy "
            f"{row['regret_numpy'][0]:.1f}±{row['regret_numpy'][1]:.1f}"
        )
    last = rows[-1]
    ours_mean = last["regret_bayesrl"][0]
    ref_mean, ref_half = last["regret_numpy"]
    parity = abs(ours_mean - ref_mean) <= ref_half
    print(
        f"  figure: ratio at 10^3 runs {last['ratio_vs_numpy']:.2f}x (target >= 1.0x); "
        f"LinTS regret {ours_mean:.1f} inside NumPy's 95% interval "
        f"[{ref_mean - ref_half:.1f}, {ref_mean + ref_half:.1f}]: {parity}"
    )
    out = dict(rows=rows, regret_inside_numpy_interval=bool(parity))
    mab_steps = 200 if full else 100
    measured = mabwiser_linear_ts(theta, mab_steps)
    if measured is None:
        print("  MABWiser not installed (pip install '.[peers]'): skipped")
    else:
        rate, regret = measured
        ratio = last["bayesrl_steps_per_s"] / rate
        out["mabwiser"] = dict(
            steps_per_s=rate,
            num_steps=mab_steps,
            regret_one_run=regret,
            ratio_bayesrl_at_1000_runs=ratio,
        )
        print(
            f"  MABWiser LinTS (one bandit, {mab_steps} rounds): {rate:8.0f} steps/s"
            f" -> figure: bayesrl at 10^3 runs is {ratio:.0f}x (target >= 50x)"
        )
    return out


def plot(curves: dict, path: Path):
    plt = pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5))
    for ax, (instance, by_agent) in zip(
        np.atleast_1d(axes), curves.items(), strict=True
    ):
        for name, curve in by_agent.items():
            plot_seed_band(ax, curve, name)
        ax.set_xlabel("round t")
        ax.set_ylabel("cumulative regret")
        ax.set_title(f"{instance} (95% intervals over seeds)")
        ax.legend(fontsize=7)
    return save_figure(plt, fig, path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="longer runs, all data")
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = dict(machine=machine(), mode="full" if args.full else "default")
    print(machine_header(results["machine"]))
    results["regret"], curves = regret_section(args.full)
    results["wheel"] = wheel_section(args.full)
    results["throughput"] = throughput_section(args.full, args.repeats)
    results["sparse"] = sparse_section(args.full)
    results["gp"] = gp_section(args.full)
    results["wall_time_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_full" if args.full else ""
    json_path = args.out / f"contextual{suffix}.json"
    json_path.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {json_path}")
    png = plot(curves, args.out / f"contextual_regret{suffix}.png")
    if png:
        print(f"wrote {png}")
    print(f"total wall time {results['wall_time_s']:.0f} s")


if __name__ == "__main__":
    main()
