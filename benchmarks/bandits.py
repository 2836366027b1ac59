"""The K-armed bandit benchmark: ``python -m benchmarks.bandits [--full]``.

Prints, and writes ``bandits.json`` and ``bandits_regret.png`` to a new folder
``benchmarks/runs/bandits-<date>-<time>/`` (untracked; printed at the start).
``--out DIR`` writes to ``DIR`` instead; ``--save-canonical`` refreshes the
committed results in ``benchmarks/results/``.

1. **Regret table**: mean cumulative pseudo-regret with 95% intervals over
   seeds for every K-armed agent on the standard instances (standard
   Bernoulli, Garivier-Cappe, Sutton-Barto, the variance-adaptive
   heteroscedastic instance, a piecewise-stationary one).
2. **Throughput** in bandit-steps/s (one ``act`` + one ``update`` of one run)
   of Bernoulli TS, Gaussian TS and UCB1 for S parallel runs x T rounds x K
   arms, each with its ratio to the vectorised NumPy reference of
   ``benchmarks/peers/numpy_bandits.py`` timed in the same process (best of
   ``--repeats``, default 3, after a compiling call; the two sides alternate),
   and to MABWiser when installed.
   Regret parity with the NumPy reference is read off the same runs.
   Bernoulli TS and UCB1 at 10^4 runs x K=10 are then timed again in a child
   process whose seeds are sharded over one XLA CPU device per core.
3. **Latency** of one fused update+select call through ``bayesrl.Bandit``
   (median and p99), next to the floor of any jitted JAX round trip measured
   in the same process, with JAX's default asynchronous CPU dispatch and in a
   child process with it turned off; and compile times.
4. **Lai-Robbins slope**: ``(R_10T - R_T) / ln 10`` over the same seeds,
   divided by ``C(mu)``; the NumPy TS reference band is about 0.8.

The default run is sized for about two minutes on 2 CPU cores: K = 100 uses
T = 200 rounds and S <= 10^3, and the slope is measured from 10^3 to 10^4
rounds. ``--full`` runs the issue's grid (T = 10^3 everywhere, S up to 10^4 at
K = 100, slope from 10^4 to 10^5), which takes much longer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import bayesrl
from bayesrl import bandits, beliefs, envs
from bayesrl.eval import bootstrap_interval, lai_robbins_constant, mean_interval
from benchmarks._common import (
    machine,
    machine_header,
    plot_seed_band,
    pyplot,
    save_figure,
)
from benchmarks.peers import numpy_bandits

RESULTS = Path(__file__).parent / "results"  # committed: --save-canonical
RUNS = Path(__file__).parent / "runs"  # untracked (.gitignore): the default
STANDARD_MEANS = np.linspace(0.2, 0.7, 10)


# -- 1. regret table ------------------------------------------------------------


def bernoulli_agents(num_arms: int) -> dict:
    return {
        "thompson (Beta(1,1))": bandits.thompson_sampling(
            beliefs.beta_bernoulli(num_arms)
        ),
        "bayes_ucb (Beta)": bandits.bayes_ucb(beliefs.beta_bernoulli(num_arms)),
        "kl_ucb": bandits.kl_ucb(num_arms),
        "ucb1": bandits.ucb1(num_arms),
        "epsilon_greedy (0.1)": bandits.epsilon_greedy(num_arms, 0.1),
        "uniform": bandits.uniform(num_arms),
    }


def gaussian_agents(num_arms: int) -> dict:
    return {
        "gaussian_thompson (sigma=1)": bandits.thompson_sampling(
            beliefs.gaussian(num_arms)
        ),
        "normal_gamma_thompson": bandits.thompson_sampling(
            beliefs.normal_gamma(num_arms)
        ),
        "bayes_ucb (Gaussian)": bandits.bayes_ucb(beliefs.gaussian(num_arms)),
        "epsilon_greedy (0.1)": bandits.epsilon_greedy(num_arms, 0.1),
        "uniform": bandits.uniform(num_arms),
    }


def cumulative_regret(agent, env, params, num_steps, num_seeds, key, batched=False):
    _, metrics = bayesrl.run_many(
        jax.random.key(key),
        agent,
        env,
        params,
        num_steps,
        num_seeds,
        batched_env_params=batched,
    )
    return np.asarray(metrics.regret, np.float64).cumsum(axis=1)


def regret_rows(instance, agents, env, params, num_steps, num_seeds, batched=False):
    rows, curves = [], {}
    for name, agent in agents.items():
        curve = cumulative_regret(agent, env, params, num_steps, num_seeds, 1, batched)
        mean, half = mean_interval(curve[:, -1])
        rows.append(
            dict(
                instance=instance,
                agent=name,
                horizon=num_steps,
                seeds=num_seeds,
                regret=mean,
                ci95=half,
            )
        )
        curves[name] = curve
        print(f"  {instance:28s} {name:30s} T={num_steps:6d}  {mean:9.2f} ± {half:.2f}")
    return rows, curves


def variance_adaptive_rows(num_steps, num_seeds):
    """TS with oracle per-arm sigma vs VarTS (Normal-Gamma) vs TS with
    sigma = max_k sigma_k, on instances drawn from the Normal-Gamma prior."""
    env = envs.GaussianBandit(10)
    keys = jax.random.split(jax.random.key(7), num_seeds)
    params = jax.vmap(envs.heteroscedastic_params)(keys)

    def runs(make_belief):
        def one(key, p):
            agent = bandits.thompson_sampling(make_belief(p))
            return bayesrl.run(key, agent, env, p, num_steps)[1].regret.sum()

        return np.asarray(
            jax.jit(jax.vmap(one))(
                jax.random.split(jax.random.key(8), num_seeds), params
            )
        )

    rows = []
    for name, make_belief in [
        (
            "gaussian_thompson (oracle sigma_k)",
            lambda p: beliefs.gaussian(10, noise_std=p.stds),
        ),
        ("normal_gamma_thompson (VarTS)", lambda p: beliefs.normal_gamma(10)),
        (
            "gaussian_thompson (sigma=max_k sigma_k)",
            lambda p: beliefs.gaussian(10, noise_std=jnp.max(p.stds)),
        ),
    ]:
        mean, half = mean_interval(runs(make_belief))
        rows.append(
            dict(
                instance="heteroscedastic (NG prior)",
                agent=name,
                horizon=num_steps,
                seeds=num_seeds,
                regret=mean,
                ci95=half,
            )
        )
        print(
            f"  {'heteroscedastic (NG prior)':28s} {name:30s} "
            f"T={num_steps:6d}  {mean:9.2f} ± {half:.2f}"
        )
    return rows


def regret_table(full: bool):
    print("\n== Regret: mean cumulative pseudo-regret, 95% intervals over seeds ==")
    rows, plots = [], {}
    seeds = 2000 if full else 200
    env = envs.BernoulliBandit(10)
    r, plots["standard"] = regret_rows(
        "standard K=10 Bernoulli",
        bernoulli_agents(10),
        env,
        env.default_params,
        1000,
        seeds,
    )
    rows += r
    gc_steps = 20_000 if full else 2000
    for label, means in [
        ("Garivier-Cappe 2 arms", [0.9, 0.8]),
        (
            "Garivier-Cappe low rate",
            [0.1, 0.05, 0.05, 0.05, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01],
        ),
    ]:
        env = envs.BernoulliBandit(len(means))
        params = env.default_params.replace(means=jnp.asarray(means))
        agents = {
            k: v for k, v in bernoulli_agents(len(means)).items() if k != "uniform"
        }
        rows += regret_rows(label, agents, env, params, gc_steps, seeds // 2)[0]
    env = envs.GaussianBandit(10)
    params = jax.vmap(envs.sutton_barto_params)(
        jax.random.split(jax.random.key(3), seeds)
    )
    rows += regret_rows(
        "Sutton-Barto testbed",
        gaussian_agents(10),
        env,
        params,
        1000,
        seeds,
        batched=True,
    )[0]
    rows += variance_adaptive_rows(1000 if not full else 10_000, seeds)
    env = envs.PiecewiseStationaryBernoulliBandit(10, num_pieces=2)
    rows += regret_rows(
        "piecewise (switch at t=500)",
        {
            "thompson": bandits.thompson_sampling(beliefs.beta_bernoulli(10)),
            "thompson discount=0.98": bandits.thompson_sampling(
                beliefs.beta_bernoulli(10, discount=0.98)
            ),
            "thompson window=200": bandits.thompson_sampling(
                beliefs.beta_bernoulli(10, window=200)
            ),
        },
        env,
        env.default_params,
        1000,
        seeds,
    )[0]
    return rows, plots


# -- 2. throughput --------------------------------------------------------------


def throughput_row(algorithm, num_seeds, num_arms, num_steps, repeats):
    means = np.linspace(0.2, 0.7, num_arms)
    if algorithm == "bernoulli_thompson":
        agent = bandits.thompson_sampling(beliefs.beta_bernoulli(num_arms))
        env = envs.BernoulliBandit(num_arms)
        params = env.default_params
        reference_args = (numpy_bandits.bernoulli_thompson, means)
    elif algorithm == "gaussian_thompson":
        agent = bandits.thompson_sampling(beliefs.gaussian(num_arms))
        env = envs.GaussianBandit(num_arms)
        params = env.default_params.replace(means=jnp.asarray(means))
        reference_args = (numpy_bandits.gaussian_thompson, means, 1.0)
    else:
        agent = bandits.ucb1(num_arms)
        env = envs.BernoulliBandit(num_arms)
        params = env.default_params
        reference_args = (numpy_bandits.ucb1, means)

    def reference(seed):
        function, *instance = reference_args
        return function(*instance, num_seeds, num_steps, seed)

    def ours(seed=0):
        # Like the NumPy reference, keep only each run's total regret.
        _, metrics = bayesrl.run_many(
            jax.random.key(seed),
            agent,
            env,
            params,
            num_steps,
            num_seeds,
            record_every=num_steps,
        )
        return np.asarray(metrics.regret[:, 0])

    start = time.perf_counter()
    ours()
    compile_and_run = time.perf_counter() - start
    # Timed runs also give the regrets compared for parity (different seeds).
    # Interleaved, so that a slow spell of this shared machine hits both sides.
    ours_times, numpy_times = [], []
    for seed in range(1, repeats + 1):
        start = time.perf_counter()
        our_regret = ours(seed)
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        numpy_regret = reference(seed)
        numpy_times.append(time.perf_counter() - start)
    ours_time, numpy_time = min(ours_times), min(numpy_times)
    steps = num_seeds * num_steps
    row = dict(
        algorithm=algorithm,
        num_seeds=num_seeds,
        num_arms=num_arms,
        num_steps=num_steps,
        bayesrl_steps_per_s=steps / ours_time,
        numpy_steps_per_s=steps / numpy_time,
        ratio_vs_numpy=numpy_time / ours_time,
        first_call_s=compile_and_run,
        regret_bayesrl=mean_interval(our_regret),
        regret_numpy=mean_interval(numpy_regret),
    )
    print(
        f"  {algorithm:20s} S={num_seeds:6d} K={num_arms:4d} T={num_steps:5d}  "
        f"bayesrl {row['bayesrl_steps_per_s'] / 1e6:7.3f} M/s  numpy "
        f"{row['numpy_steps_per_s'] / 1e6:7.3f} M/s  "
        f"ratio {row['ratio_vs_numpy']:6.2f}x  "
        f"regret {row['regret_bayesrl'][0]:.1f}±{row['regret_bayesrl'][1]:.1f} vs "
        f"{row['regret_numpy'][0]:.1f}±{row['regret_numpy'][1]:.1f}"
    )
    return row


def mabwiser_rows(num_steps=1000):
    """Per-step rate of MABWiser, one bandit at a time (its documented usage)."""
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:
        print("  MABWiser not installed (pip install '.[peers]'): skipped")
        return []
    rows = []
    means = STANDARD_MEANS
    rng = np.random.default_rng(0)
    for name, policy in [
        ("bernoulli_thompson", LearningPolicy.ThompsonSampling()),
        ("ucb1", LearningPolicy.UCB1(alpha=1.0)),
    ]:
        arms = list(range(means.size))
        mab = MAB(arms, policy, seed=0)
        mab.fit(arms, [float(rng.random() < m) for m in means])
        start = time.perf_counter()
        for _ in range(num_steps):
            arm = mab.predict()
            mab.partial_fit([arm], [float(rng.random() < means[arm])])
        rate = num_steps / (time.perf_counter() - start)
        rows.append(dict(algorithm=name, mabwiser_steps_per_s=rate))
        print(f"  MABWiser {name:20s} {rate:10.0f} steps/s (one bandit, K=10)")
    return rows


def throughput_table(full, repeats):
    print(
        "\n== Throughput: bandit-steps/s, ratio to vectorised NumPy in this process =="
    )
    rows = []
    for algorithm in ["bernoulli_thompson", "gaussian_thompson", "ucb1"]:
        for num_arms in (10, 100):
            for num_seeds in (100, 1000, 10_000):
                if num_arms == 100 and not full and num_seeds > 1000:
                    continue
                num_steps = 1000 if (full or num_arms == 10) else 200
                rows.append(
                    throughput_row(algorithm, num_seeds, num_arms, num_steps, repeats)
                )
    peers = mabwiser_rows()
    for peer in peers:
        best = max(
            r["bayesrl_steps_per_s"]
            for r in rows
            if r["algorithm"] == peer["algorithm"]
        )
        peer["ratio_best_bayesrl_vs_mabwiser"] = best / peer["mabwiser_steps_per_s"]
        print(
            f"  bayesrl {peer['algorithm']} best / MABWiser: "
            f"{peer['ratio_best_bayesrl_vs_mabwiser']:.0f}x"
        )
    return rows, peers


def sharded_throughput_rows(repeats):
    """Bernoulli TS and UCB1 at 10^4 runs x K=10 x T=10^3 with the seed axis
    sharded over one XLA CPU device per core (``run_many`` shards seeds over
    all devices), each against the NumPy reference timed in the same process.

    XLA fixes the number of host devices at start-up, so this runs in a child
    process with ``--xla_force_host_platform_device_count`` set to the number
    of cores. NumPy's reference still runs on one core (its elementwise
    operations are single-threaded). Skipped on one core or when JAX already
    sees several devices (a GPU, say).
    """
    cores = os.cpu_count() or 1
    if cores < 2 or jax.device_count() > 1 or jax.default_backend() != "cpu":
        return []
    print(
        f"\n== Throughput with the seeds sharded over {cores} CPU devices "
        f"(child process, XLA_FLAGS=--xla_force_host_platform_device_count={cores}) =="
    )
    flags = os.environ.get("XLA_FLAGS", "")
    env = dict(
        os.environ,
        XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={cores}".strip(),
    )
    child = subprocess.run(
        [sys.executable, "-c", _SHARDED_CHILD.format(repeats=repeats)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    *printed, last = child.stdout.rstrip().splitlines()
    print("\n".join(printed))
    rows = json.loads(last)
    for row in rows:
        row["num_cpu_devices"] = cores
    return rows


_SHARDED_CHILD = (
    "import json, jax; "
    "from benchmarks.bandits import throughput_row; "
    "rows = [throughput_row(a, 10_000, 10, 1000, {repeats}) "
    "for a in ('bernoulli_thompson', 'ucb1')]; "
    "print(f'  ({{jax.device_count()}} devices)'); "
    "print(json.dumps(rows))"
)


# -- 3. latency ------------------------------------------------------------------


def _median_us(call, num_calls):
    times = np.empty(num_calls)
    for i in range(num_calls):
        begin = time.perf_counter()
        call(i)
        times[i] = time.perf_counter() - begin
    return float(np.median(times) * 1e6), float(np.percentile(times, 99) * 1e6)


def _serving_loop_us(bandit, num_calls):
    """Median and p99 (us) of ``bandit.update_and_select([arm], [reward])`` in a
    serving loop: one Bernoulli(0.5) reward for the previously chosen arm per
    call (after one untimed call)."""
    rewards = (np.random.default_rng(0).random(num_calls) < 0.5).tolist()
    rewards = [float(r) for r in rewards]
    last = [bandit.update_and_select([0], [1.0])]

    def facade_call(i):
        last[0] = bandit.update_and_select([last[0]], [rewards[i]])

    return _median_us(facade_call, num_calls)


def measure_latency(num_calls=3000):
    """Median and p99 of one fused update+select through ``bayesrl.Bandit``
    (K=10 Bernoulli TS, one Bernoulli reward per call, the previous arm), and in
    the same process the floor of any such call: a jitted function that adds 1
    to a ``uint32`` buffer of the facade's size, takes a NumPy feedback array
    and is read back on the host, the least a JAX round trip costs here."""
    bandit = bayesrl.Bandit(
        bandits.thompson_sampling(beliefs.beta_bernoulli(10)), seed=0
    )
    start = time.perf_counter()
    bandit.update_and_select([0], [1.0])
    compile_s = time.perf_counter() - start
    median_us, p99_us = _serving_loop_us(bandit, num_calls)

    round_trip = jax.jit(lambda words, feedback: words + 1)
    buffer = [jnp.zeros_like(bandit._words)]
    feedback = np.zeros((3, 1), np.float32)

    def floor_call(i):
        buffer[0] = round_trip(buffer[0], feedback)
        int(np.asarray(buffer[0])[0])

    floor_call(0)
    floor_us, _ = _median_us(floor_call, num_calls)
    return dict(
        median_us=median_us,
        p99_us=p99_us,
        compile_s=compile_s,
        jax_round_trip_floor_us=floor_us,
        async_dispatch=bool(jax.config.values["jax_cpu_enable_async_dispatch"]),
    )


def measure_numpy_latency(num_calls=3000):
    """Median and p99 of the same call (K=10 Bernoulli TS, one Bernoulli reward,
    the previous arm) through ``bayesrl.Bandit(..., backend="numpy")`` (a
    ``bayesrl.NumpyBandit``), which runs the agent's conjugate update and its
    Beta draws in NumPy on the host."""
    bandit = bayesrl.Bandit(
        bandits.thompson_sampling(beliefs.beta_bernoulli(10)), seed=0, backend="numpy"
    )
    median_us, p99_us = _serving_loop_us(bandit, num_calls)
    return dict(median_us=median_us, p99_us=p99_us)


def latency():
    """The latency rows: ``bayesrl.Bandit`` in this process (JAX's default
    asynchronous CPU dispatch) and in a child process that turns it off before
    its first computation (``jax.config.update("jax_cpu_enable_async_dispatch",
    False)``), the process-wide setting a latency-bound server can choose; and
    ``backend="numpy"``, the host-side NumPy facade."""
    print("\n== Latency: one fused update+select (K=10 Bernoulli TS) ==")
    rows = {"default": measure_latency()}
    child = subprocess.run(
        [sys.executable, "-c", _LATENCY_CHILD],
        capture_output=True,
        text=True,
        check=True,
    )
    rows["async_dispatch_off"] = json.loads(child.stdout.strip().splitlines()[-1])
    for name, row in rows.items():
        print(
            f"  Bandit, jax, {name:<19} median {row['median_us']:6.1f} us  p99 "
            f"{row['p99_us']:6.1f} us  (JAX round-trip floor "
            f"{row['jax_round_trip_floor_us']:.1f} us; first call incl. compile "
            f"{row['compile_s']:.2f} s)"
        )
    numpy_row = measure_numpy_latency()
    print(
        f"  Bandit, numpy{'':<20} median {numpy_row['median_us']:6.1f} us  p99 "
        f"{numpy_row['p99_us']:6.1f} us  (no JAX call; NumPy's PCG64 draws)"
    )
    return {
        **rows["default"],
        "async_dispatch_off": rows["async_dispatch_off"],
        "numpy_bandit": numpy_row,
    }


_LATENCY_CHILD = (
    "import json, jax; "
    "jax.config.update('jax_cpu_enable_async_dispatch', False); "
    "from benchmarks.bandits import measure_latency; "
    "print(json.dumps(measure_latency()))"
)


# -- 4. Lai-Robbins slope ----------------------------------------------------------


def slope(full):
    low, high = (10_000, 100_000) if full else (1000, 10_000)
    seeds = 200
    print(
        f"\n== Lai-Robbins slope: (R_{high} - R_{low}) / ln 10 / C(mu), "
        f"{seeds} seeds =="
    )
    constant = lai_robbins_constant(STANDARD_MEANS)
    env = envs.BernoulliBandit(10)
    rows = []
    for name, agent in [
        ("thompson (Beta(1,1))", bandits.thompson_sampling(beliefs.beta_bernoulli(10))),
        ("kl_ucb", bandits.kl_ucb(10)),
    ]:
        curve = cumulative_regret(agent, env, env.default_params, high, seeds, 11)
        slopes = (curve[:, high - 1] - curve[:, low - 1]) / np.log(10)
        value, lo, hi = bootstrap_interval(slopes / constant)
        rows.append(
            dict(
                agent=name,
                low=low,
                high=high,
                constant=constant,
                slope_over_constant=value,
                ci95=(lo, hi),
            )
        )
        print(
            f"  {name:22s} slope/C = {value:.2f}  [{lo:.2f}, {hi:.2f}]  "
            f"(C = {constant:.2f}; NumPy TS reference ~0.8)"
        )
    return rows


def plot(curves, path):
    plt = pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in curves.items():
        plot_seed_band(ax, curve, name)
    ax.set_xscale("log")
    ax.set_xlabel("round t")
    ax.set_ylabel("cumulative pseudo-regret")
    ax.set_title("Standard Bernoulli instance, K=10 (95% intervals over seeds)")
    ax.legend(fontsize=8)
    return save_figure(plt, fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full grid (longer)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed repeats (best of)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--out", type=Path, help="results folder (default: a new benchmarks/runs/...)"
    )
    where.add_argument(
        "--save-canonical",
        action="store_true",
        help=f"overwrite the committed results in {RESULTS}",
    )
    parser.add_argument("--skip-regret", action="store_true", help="throughput only")
    args = parser.parse_args(argv)
    if args.save_canonical:
        args.out = RESULTS
    elif args.out is None:
        args.out = RUNS / time.strftime("bandits-%Y%m%d-%H%M%S")
    print(f"results will be written to {args.out}/", flush=True)
    start = time.perf_counter()
    results = dict(machine=machine(), mode="full" if args.full else "default")
    print(machine_header(results["machine"]))
    curves = {}
    if not args.skip_regret:
        results["regret"], plots = regret_table(args.full)
        curves = plots["standard"]
    results["throughput"], results["peers"] = throughput_table(args.full, args.repeats)
    results["throughput_sharded"] = sharded_throughput_rows(args.repeats)
    results["latency"] = latency()
    results["lai_robbins_slope"] = slope(args.full)
    results["wall_time_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "bandits.json"
    json_path.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {json_path}")
    if curves:
        png = plot(curves, args.out / "bandits_regret.png")
        if png:
            print(f"wrote {png}")
    print(f"total wall time {results['wall_time_s']:.0f} s")


if __name__ == "__main__":
    main()
