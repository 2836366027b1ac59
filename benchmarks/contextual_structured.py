"""Structured bandits: ``python -m benchmarks.contextual_structured [--full]``.

Prints and writes ``benchmarks/results/contextual_structured.json`` (and
``contextual_structured.png`` when matplotlib is installed):

1. **Sparse section** (:func:`sparse_section`): sparse linear TS (spike-and-slab
   VI, Laplace slab and the closed-form Gaussian slab) against linear TS
   (Normal-Inverse-Gamma, unknown noise) and uniform play on
   :class:`bayesrl.envs.SparseLinearBandit` with K = 5 arms, s = 5 non-zeros
   per arm, noise std 1, T = 1000 rounds, d in {100, 1000}: cumulative regret
   with 95% intervals over seeds, and the ratio sparse / linear with a 95%
   interval from the paired per-seed differences (the issue's figure: at most
   0.5 at d = 1000).
2. **GP section** (:func:`gp_section`): IRGP-UCB against GP-UCB (Srinivas
   beta), GP-TS and uniform play on GP sample paths (one path per seed, drawn
   from the agents' prior: Bayesian regret) and on the negated Branin,
   Hartmann-6 and Ackley functions over finite candidate sets (inputs scaled
   to the unit cube, values standardised; fixed kernel hyper-parameters):
   simple regret ``f* - max_{t' <= t} f(x_t')`` and cumulative regret at T, with
   95% intervals over seeds.
3. **GP layouts section** (:func:`gp_layout_section`, alone with
   ``--section gp_layouts``): the GP belief's dense layout (a) against the
   observation-buffer layout (b) at N in {1024, 4096}, T = 200: bytes per run
   (computed, not allocated), memory of 1-1000 parallel runs against this
   machine's, seconds per decision of IRGP-UCB and GP-TS and the ratios
   (b) / (a) measured in the same process.

The default run uses few seeds (4 at d = 100, 2 at d = 1000; 8 seeds, T = 100
and about 200-230 candidates for the GP section); linear TS at d = 1000
dominates its wall time. ``--full`` uses 20 seeds for the sparse section and
32 seeds, T = 300 and about 400 candidates for the GP section.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import jax
import numpy as np

import bayesrl
from bayesrl import bandits, envs
from bayesrl.eval import mean_interval
from benchmarks._common import machine, machine_header, plot_band, pyplot, save_figure

RESULTS = Path(__file__).parent / "results"
SPARSE_NUM_ARMS = 5
SPARSITY = 5
SPARSE_HORIZON = 1000
GP_NOISE_STD = 0.1
GP_LENGTHSCALE = 0.2
CURVE_EVERY = 20  # rounds between stored points of the cumulative-regret curves


def _regret(agent, env, params, num_steps, num_seeds, key, batched=False):
    _, metrics = bayesrl.run_many(
        jax.random.key(key),
        agent,
        env,
        params,
        num_steps,
        num_seeds,
        batched_env_params=batched,
    )
    return np.asarray(metrics.regret, np.float64)


def _ratio_interval(numerator, denominator):
    """Ratio of means with a 95% delta-method interval from paired seeds."""
    ratio = numerator.mean() / denominator.mean()
    linearised = (numerator - ratio * denominator) / denominator.mean()
    _, half = mean_interval(linearised)
    return float(ratio), float(half)


def sparse_section(full: bool) -> dict:
    """Sparse TS vs linear TS vs uniform at d in {100, 1000}; JSON-able rows."""
    seeds = {100: 20, 1000: 20} if full else {100: 4, 1000: 2}
    rows = []
    for dim, num_seeds in seeds.items():
        env = envs.SparseLinearBandit(SPARSE_NUM_ARMS, dim, SPARSITY)
        params = env.default_params
        agents = {
            "sparse_thompson_sampling": bandits.sparse_thompson_sampling(
                SPARSE_NUM_ARMS, dim, capacity=SPARSE_HORIZON
            ),
            "sparse_thompson_sampling_gaussian_slab": (
                bandits.sparse_thompson_sampling(
                    SPARSE_NUM_ARMS, dim, capacity=SPARSE_HORIZON, slab="gaussian"
                )
            ),
            "linear_thompson_sampling": bandits.linear_thompson_sampling(
                SPARSE_NUM_ARMS, dim
            ),
            "uniform": bandits.uniform(SPARSE_NUM_ARMS),
        }
        totals = {}
        for name, agent in agents.items():
            start = time.perf_counter()
            regret = _regret(agent, env, params, SPARSE_HORIZON, num_seeds, key=1)
            seconds = time.perf_counter() - start
            cumulative = regret.cumsum(axis=1)
            totals[name] = cumulative[:, -1]
            mean, half = mean_interval(cumulative[:, -1])
            every = np.arange(CURVE_EVERY - 1, SPARSE_HORIZON, CURVE_EVERY)
            rows.append(
                dict(
                    dim=dim,
                    agent=name,
                    horizon=SPARSE_HORIZON,
                    seeds=num_seeds,
                    regret=mean,
                    ci95=half,
                    wall_time_s=seconds,
                    curve_t=(every + 1).tolist(),
                    curve_mean=cumulative[:, every].mean(axis=0).tolist(),
                    curve_ci95=[mean_interval(c)[1] for c in cumulative[:, every].T],
                )
            )
            print(
                f"  d={dim:5d} {name:38s} T={SPARSE_HORIZON}  "
                f"{mean:8.1f} ± {half:6.1f}   ({seconds:.0f} s incl. compile)"
            )
        for sparse_name, label in (
            ("sparse_thompson_sampling", "sparse"),
            ("sparse_thompson_sampling_gaussian_slab", "sparse (Gaussian slab)"),
        ):
            ratio, half = _ratio_interval(
                totals[sparse_name], totals["linear_thompson_sampling"]
            )
            rows.append(
                dict(
                    dim=dim,
                    agent=f"ratio {label} / linear",
                    regret=ratio,
                    ci95=half,
                    seeds=num_seeds,
                    target="<= 0.5 at d = 1000",
                )
            )
            print(f"  d={dim:5d} {label} / linear TS ratio  {ratio:.3f} ± {half:.3f}")
    return dict(
        setting=dict(
            num_arms=SPARSE_NUM_ARMS,
            sparsity=SPARSITY,
            noise_std=1.0,
            horizon=SPARSE_HORIZON,
            env="SparseLinearBandit default_params (per-arm supports, unit-norm"
            " rows, x ~ N(0, I))",
        ),
        rows=rows,
    )


def _unit_cube(candidates: np.ndarray) -> np.ndarray:
    low, high = candidates.min(axis=0), candidates.max(axis=0)
    return (candidates - low) / (high - low)


def _standardised(params):
    values = params.values
    return params.replace(values=(values - values.mean()) / values.std())


def gp_instances(full: bool) -> dict:
    """``name -> (candidates in [0, 1]^D, params or None for GP paths,
    lengthscale)``. The lengthscale is fixed per instance (no fitting): 0.2 on
    the 2-D unit square, 0.5 for Hartmann-6 (random points of the 6-D cube are
    about 1 apart, so 0.2 would make them nearly independent)."""
    per_axis = 21 if full else 15  # odd: the Ackley grid contains its optimum
    branin_points, branin = envs.branin_instance(per_axis, noise_std=GP_NOISE_STD)
    hartmann_points, hartmann = envs.hartmann6_instance(
        400 if full else 200, noise_std=GP_NOISE_STD
    )
    ackley_points, ackley = envs.ackley_instance(2, per_axis, noise_std=GP_NOISE_STD)
    axis = np.linspace(0.0, 1.0, per_axis)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    return {
        "gp_sample_paths_2d": (grid, None, GP_LENGTHSCALE),
        "branin": (_unit_cube(branin_points), _standardised(branin), GP_LENGTHSCALE),
        "hartmann6": (_unit_cube(hartmann_points), _standardised(hartmann), 0.5),
        "ackley_2d": (_unit_cube(ackley_points), _standardised(ackley), GP_LENGTHSCALE),
    }


def gp_section(full: bool) -> dict:
    """IRGP-UCB vs GP-UCB vs GP-TS vs uniform; simple and cumulative regret."""
    num_steps, num_seeds = (300, 32) if full else (100, 8)
    rows = []
    for instance, (candidates, params, lengthscale) in gp_instances(full).items():
        kwargs = dict(lengthscale=lengthscale, noise_std=GP_NOISE_STD)
        num_candidates = candidates.shape[0]
        env = envs.CandidateSetBandit(num_candidates)
        batched = params is None
        if batched:
            keys = jax.random.split(jax.random.key(7), num_seeds)
            params = jax.vmap(
                lambda k, c=candidates, kw=kwargs: envs.gp_sample_path_params(
                    k, c, **kw
                )
            )(keys)
        agents = {
            "irgp_ucb": bandits.irgp_ucb(candidates, **kwargs),
            "gp_ucb": bandits.gp_ucb(candidates, **kwargs),
            "gp_thompson_sampling": bandits.gp_thompson_sampling(candidates, **kwargs),
            "uniform": bandits.uniform(num_candidates),
        }
        for name, agent in agents.items():
            start = time.perf_counter()
            regret = _regret(agent, env, params, num_steps, num_seeds, 2, batched)
            seconds = time.perf_counter() - start
            cumulative, half_cumulative = mean_interval(regret.sum(axis=1))
            simple, half_simple = mean_interval(regret.min(axis=1))
            rows.append(
                dict(
                    instance=instance,
                    num_candidates=num_candidates,
                    lengthscale=lengthscale,
                    agent=name,
                    horizon=num_steps,
                    seeds=num_seeds,
                    cumulative_regret=cumulative,
                    cumulative_ci95=half_cumulative,
                    simple_regret=simple,
                    simple_ci95=half_simple,
                    wall_time_s=seconds,
                )
            )
            print(
                f"  {instance:20s} N={num_candidates:4d} {name:22s} T={num_steps}"
                f"  cumulative {cumulative:7.2f} ± {half_cumulative:5.2f}"
                f"  simple {simple:6.3f} ± {half_simple:5.3f}  ({seconds:.0f} s)"
            )
    return dict(
        setting=dict(
            kernel="rbf",
            lengthscale="0.2 (2-D instances), 0.5 (Hartmann-6)",
            signal_std=1.0,
            noise_std=GP_NOISE_STD,
            irgp_ucb="beta_t = 2 log(N/2) + 2 Exp(1)",
            gp_ucb="beta_t = 2 log(N t^2 pi^2 / (6 * 0.1))",
        ),
        rows=rows,
    )


LAYOUT_SIZES = (1024, 4096)  # candidates: 32 x 32 and 64 x 64 grids of [0, 1]^2
LAYOUT_HORIZON = 200  # T, and the buffer capacity of layout (b)
LAYOUT_SEEDS = (1, 100, 1000)  # parallel runs for the memory columns
# Steps timed per (agent, layout, N); layout (a) GP-TS pays an O(N^3) Cholesky
# per decision, so it is timed over fewer steps (its per-step cost does not
# depend on t, nor does (b)'s: every shape is fixed at the capacity).
LAYOUT_TIMED_STEPS = dict(a_gp_thompson_sampling=5)


def _host_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _tree_bytes(shapes) -> int:
    return sum(
        int(np.prod(leaf.shape)) * leaf.dtype.itemsize
        for leaf in jax.tree.leaves(shapes)
    )


def _grid(points_per_axis: int) -> np.ndarray:
    axis = np.linspace(0.0, 1.0, points_per_axis)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


def _seconds_per_step(agent, env, params, num_steps) -> float:
    """Wall time of one ``run`` step (act + update), compilation excluded: the
    second of two identical calls."""
    timed = []
    for _ in range(2):
        start = time.perf_counter()
        state, metrics = bayesrl.run(jax.random.key(3), agent, env, params, num_steps)
        jax.block_until_ready((state, metrics))
        timed.append(time.perf_counter() - start)
    return timed[-1] / num_steps


def gp_layout_section(full: bool) -> dict:
    """GP layouts (a) dense posterior vs (b) observation buffer, N in
    {1024, 4096}, T = 200: state bytes per run (from ``jax.eval_shape``,
    nothing allocated), shared bytes, the memory of 1, 100 and 1000 parallel
    runs and whether it fits in this machine's memory, and seconds per
    decision (act + update, one run) of IRGP-UCB and GP-TS, with the ratio
    (b) / (a) measured in the same process."""
    del full  # one setting: the sizes are the point
    host_memory = _host_memory_bytes()
    rows = []
    for num_candidates in LAYOUT_SIZES:
        candidates = _grid(int(round(num_candidates**0.5)))
        env = envs.CandidateSetBandit(num_candidates)
        values = jax.random.normal(jax.random.key(4), (num_candidates,))
        params = env.default_params.replace(values=values)
        for name in ("irgp_ucb", "gp_thompson_sampling"):
            factory = getattr(bandits, name)
            per_layout = {}
            for layout, capacity in (("a", None), ("b", LAYOUT_HORIZON)):
                agent = factory(
                    candidates,
                    lengthscale=GP_LENGTHSCALE,
                    noise_std=GP_NOISE_STD,
                    max_observations=capacity,
                )
                state_bytes = _tree_bytes(jax.eval_shape(agent.init, jax.random.key(0)))
                # Shared by every run: (a) closes over the prior covariance,
                # (b) over the candidates, plus the prior Cholesky for GP-TS.
                shared = 4 * num_candidates * candidates.shape[1]
                if layout == "a" or name == "gp_thompson_sampling":
                    shared += 4 * num_candidates**2
                steps = LAYOUT_TIMED_STEPS.get(f"{layout}_{name}", LAYOUT_HORIZON)
                seconds = _seconds_per_step(agent, env, params, steps)
                per_layout[layout] = dict(
                    bytes_per_run=state_bytes,
                    shared_bytes=shared,
                    seconds_per_decision=seconds,
                    timed_steps=steps,
                )
            for layout, row in per_layout.items():
                row.update(
                    num_candidates=num_candidates,
                    horizon=LAYOUT_HORIZON,
                    agent=name,
                    layout=layout,
                    bytes_for_seeds={
                        str(seeds): seeds * row["bytes_per_run"] + row["shared_bytes"]
                        for seeds in LAYOUT_SEEDS
                    },
                    fits_in_host_memory={
                        str(seeds): seeds * row["bytes_per_run"] + row["shared_bytes"]
                        <= host_memory
                        for seeds in LAYOUT_SEEDS
                    },
                    time_ratio_b_over_a=per_layout["b"]["seconds_per_decision"]
                    / per_layout["a"]["seconds_per_decision"],
                    memory_ratio_b_over_a=per_layout["b"]["bytes_per_run"]
                    / per_layout["a"]["bytes_per_run"],
                )
                rows.append(row)
                gigabytes = "  ".join(
                    f"{seeds} runs {b / 1e9:7.3f} GB"
                    + ("" if row["fits_in_host_memory"][seeds] else " (no fit)")
                    for seeds, b in row["bytes_for_seeds"].items()
                )
                print(
                    f"  N={num_candidates:5d} {name:21s} ({layout})"
                    f"  {row['bytes_per_run'] / 1e6:8.2f} MB/run  {gigabytes}"
                    f"  {1e3 * row['seconds_per_decision']:8.2f} ms/decision"
                    f"  (b)/(a): time {row['time_ratio_b_over_a']:.3f}"
                    f" memory {row['memory_ratio_b_over_a']:.3f}"
                )
    return dict(
        setting=dict(
            candidates="2-D grids of [0, 1]^2, N = 1024 and 4096",
            horizon=LAYOUT_HORIZON,
            kernel="rbf",
            lengthscale=GP_LENGTHSCALE,
            noise_std=GP_NOISE_STD,
            dtype="float32",
            timing="one run, seconds per step (act + update), second of two calls",
            host_memory_bytes=host_memory,
        ),
        rows=rows,
    )


def plot(sparse_rows: list, path: Path):
    plt = pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in sparse_rows:
        if "curve_t" not in row:
            continue
        t = np.asarray(row["curve_t"])
        mean, half = np.asarray(row["curve_mean"]), np.asarray(row["curve_ci95"])
        plot_band(ax, t, mean, half, f"{row['agent']}, d={row['dim']}")
    ax.set_xlabel("round t")
    ax.set_ylabel("cumulative regret")
    ax.set_title("Sparse linear bandit, K=5, s=5 (95% intervals over seeds)")
    ax.legend(fontsize=7)
    return save_figure(plt, fig, path)


SECTIONS = ("sparse", "gp", "gp_layouts")
SECTION_FUNCTIONS = dict(
    sparse=(
        "sparse linear TS vs linear TS (cumulative regret, 95% intervals):",
        sparse_section,
    ),
    gp=("GP bandits (cumulative and simple regret, 95% intervals):", gp_section),
    gp_layouts=(
        "GP layouts (a) dense vs (b) observation buffer (memory, time):",
        gp_layout_section,
    ),
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="more seeds and rounds")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--section", choices=SECTIONS, default=None, help="run one section only"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = dict(machine=machine(), mode="full" if args.full else "default")
    print(machine_header(results["machine"]))
    sections = SECTIONS if args.section is None else (args.section,)
    for section in sections:
        title, function = SECTION_FUNCTIONS[section]
        print(title)
        results[section] = function(args.full)
    results["wall_time_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = ("_full" if args.full else "") + (
        "" if args.section is None else f"_{args.section}"
    )
    json_path = args.out / f"contextual_structured{suffix}.json"
    json_path.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {json_path}")
    if "sparse" in results:
        png = plot(
            results["sparse"]["rows"], args.out / f"contextual_structured{suffix}.png"
        )
        if png:
            print(f"wrote {png}")
    print(f"total wall time {results['wall_time_s']:.0f} s")


if __name__ == "__main__":
    main()
