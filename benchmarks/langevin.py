"""Langevin Monte Carlo benchmarks: ``python -m benchmarks.langevin [--full]``.

Prints, and saves as JSON (with the machine) and plots under
``benchmarks/results/``:

1. ``law``: SGLD and diagonally preconditioned Langevin on a Gaussian
   linear-regression loss against the exact discrete-time law
   ``(2 beta)^{-1} Lambda^{-1} (I - eta Lambda)^{-1}`` (errors in Monte Carlo
   standard errors), and the 4/3 inflation over the Gibbs variance.
2. ``nchain``: the N-chain table of the LMCDQN papers (Adam LMCDQN, DQN with
   ε-greedy, and Adam LMCDQN with the Langevin noise off; with ``--methods``
   also ULMCDQN, FG-LMCDQN and FG-ULMCDQN and their noise-off ablations) next
   to the published numbers. Score per run: mean greedy test return over the
   last 10 epochs; interval: 2.093 * std(ddof=0) / sqrt(seeds) (the papers'
   95% CI).
   ``policy``: the same runs with ``record_params=True``, and for each seed
   and epoch the state where the greedy test episode turns back (N-chain and
   the greedy policy are deterministic), with the Q-values at ``s_2``.
3. ``lsvi``: episodes to first success vs size on tabular N-chain and DeepSea
   for LMC-LSVI (diagonal preconditioner), exact Gaussian sampling (RLSVI) and
   ε-greedy LSVI.
4. ``throughput``: env steps per second of 20 vmapped Adam LMCDQN seeds over one
   seed run alone (same process, compiled first), and the floor of that ratio
   and of the full table's time: the minibatch gathers and TD-loss gradients
   alone, timed on 20 seeds.
5. ``ts``: LMC-TS vs exact linear Thompson sampling regret, plus Feel-Good
   LMC-TS on the same linear instance, and on a logistic bandit LMC-TS with the
   logistic loss vs LMC-TS with the squared loss, exact linear TS (a
   misspecified Gaussian model) and uniform play.
6. ``bsuite``: the bsuite DeepSea protocol (bad episodes, learning time,
   ``solved``, score over the sizes run) for LMC-LSVI, RLSVI and ε-greedy LSVI.
   The budget per size is ``min(cap, 2^N + 100)`` episodes, not bsuite's
   10,000: a learning time must be ``< 2^N + 100`` to count, so episodes past
   ``2^N + 100`` cannot change ``solved``; where the cap binds, "unsolved"
   means "not solved within the cap". Default: N in {10, 12}, cap 400, 3
   seeds; ``--full``: N in {10, 14, 18, 22, 26, 30}, cap 3000, 4 seeds;
   ``--bsuite-sizes`` and ``--bsuite-cap`` override them.

The default is a fast configuration (small sizes, few seeds and epochs) whose
numbers are *not* the paper protocol; ``--full`` runs the protocol (N in {25,
50, 75, 100}, 20 seeds, 100 epochs; DeepSea up to size 30). ``--sections``,
``--nchain-sizes``, ``--seeds`` and ``--epochs`` select a part (the default
runs every section but ``bsuite``). ``--set KEY=VALUE`` overrides a config
entry of every N-chain method (one cell of a hyper-parameter grid), and
``--nchain-key`` changes the N-chain seeds (a scouting run on other seeds).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl import run, run_many
from bayesrl.bandits import linear_thompson_sampling
from bayesrl.envs import DeepSea, LinearContextualBandit, NChain
from bayesrl.eval import (
    BSUITE_DEEP_SEA_EPISODES,
    deep_sea_bad_episodes,
    deep_sea_learning_time,
    deep_sea_solved,
)
from bayesrl.langevin import (
    DQNBatch,
    adam_lmcdqn,
    dqn_loss,
    gaussian_law,
    lmc_lsvi,
    lmc_ts,
    preconditioned_langevin,
    sgld,
)
from benchmarks._common import machine, pyplot

RESULTS = Path(__file__).parent / "results"

# nchain_best() in panxulab/LSVI-ASE plot_nchain.py: mean (95% CI half-width).
PUBLISHED = {
    "adam_lmcdqn": {
        25: (8.55, 1.34),
        50: (7.31, 1.80),
        75: (6.08, 2.17),
        100: (6.04, 1.80),
    },
    "dqn": {25: (9.40, 0.92), 50: (5.52, 2.07), 75: (5.19, 0.77), 100: (5.05, 0.40)},
    "ulmcdqn": {
        25: (9.63, 0.27),
        50: (9.73, 0.25),
        75: (7.90, 1.84),
        100: (8.02, 1.46),
    },
    "fg_lmcdqn": {
        25: (9.50, 0.54),
        50: (8.75, 1.44),
        75: (8.46, 1.09),
        100: (8.07, 0.99),
    },
    "fg_ulmcdqn": {
        25: (10.00, 0.00),
        50: (9.85, 0.29),
        75: (9.80, 0.31),
        100: (9.80, 0.40),
    },
}

NCHAIN_METHODS = {
    "adam_lmcdqn": {},
    "adam_lmcdqn_noise_off": {"noise_multiplier": 0.0},
    # DQN baseline: optax Adam, epsilon 1 -> 0.01 over the first 10% of steps.
    "dqn": {"optimizer": "adam", "epsilon_start": 1.0, "epsilon_end": 0.01},
}
# The RLC 2024 follow-up variants (not in the default --methods): one cell of
# the papers' grid each, not tuned: friction gamma = 1 (same stationary drift
# per step as the aSGLD cell), Feel-Good weight eta_fg = 0.1 (middle of the
# grid), sigma_n = 1e-5 (the cell their committed results were run with).
_ULMC = {"optimizer": "adam_underdamped_langevin", "friction": 1.0}
_FEEL_GOOD = {"feel_good_weight": 0.1}
_VARIANT_NOISE = {"noise_scale": 1e-5}
for _name, _config in {
    "ulmcdqn": _ULMC,
    "fg_lmcdqn": _FEEL_GOOD,
    "fg_ulmcdqn": {**_ULMC, **_FEEL_GOOD},
}.items():
    NCHAIN_METHODS[_name] = {**_config, **_VARIANT_NOISE}
    NCHAIN_METHODS[f"{_name}_noise_off"] = {
        **_config,
        **_VARIANT_NOISE,
        "noise_multiplier": 0.0,
    }
DEFAULT_NCHAIN_METHODS = "adam_lmcdqn,adam_lmcdqn_noise_off,dqn"

EXACT_RLSVI = dict(
    preconditioner="full",
    step_size_scale=0.5,
    num_inner_steps=1,
    exact_discretisation=True,
)
LSVI_AGENTS = {
    "lmc_lsvi": {},
    "rlsvi": EXACT_RLSVI,
    "epsilon_greedy_lsvi": {**EXACT_RLSVI, "noise_multiplier": 0.0, "epsilon": 0.1},
}


# ---------------------------------------------------------------- 1. exact law
def law_section(num_chains: int, num_steps: int) -> dict:
    x = np.array(
        [
            [1.0, 0.2, 0.0],
            [0.3, 1.1, -0.4],
            [0.0, -0.5, 0.9],
            [0.7, 0.1, 0.3],
            [0.2, 0.4, 0.6],
        ]
    )
    y = np.array([1.0, -0.5, 0.3, 0.8, 0.1])
    precision = jnp.asarray(x.T @ x + np.eye(3), jnp.float32)
    shift = jnp.asarray(x.T @ y, jnp.float32)
    w_hat = jnp.linalg.solve(precision, shift)
    beta = 2.0
    out = {}
    diag_precond = 1.0 / jnp.diagonal(precision)
    root = jnp.sqrt(diag_precond)
    cases = {
        "sgld": (sgld, 0.25 / float(jnp.linalg.eigvalsh(precision)[-1]), None),
        "preconditioned_diagonal": (
            preconditioned_langevin,
            0.25 / float(jnp.linalg.eigvalsh(root[:, None] * precision * root)[-1]),
            diag_precond,
        ),
    }
    for name, (factory, eta, precond) in cases.items():
        transform = factory(eta, 1.0 / beta)
        extra = {} if precond is None else {"preconditioner": precond}

        def chain(key, transform=transform, extra=extra):
            def body(carry, k):
                w, s = carry
                updates, s = transform.update(
                    2.0 * (precision @ w - shift), s, key=k, **extra
                )
                return (w + updates, s), None

            init = (w_hat, transform.init(w_hat))
            return jax.lax.scan(body, init, jax.random.split(key, num_steps))[0][0]

        keys = jax.random.split(jax.random.key(0), num_chains)
        samples = np.asarray(jax.jit(jax.vmap(chain))(keys), np.float64)
        p_matrix = None if precond is None else jnp.diag(precond)
        mean, cov = gaussian_law(
            w_hat, precision, w_hat, eta, beta, num_steps, p_matrix
        )
        mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
        n = num_chains
        mean_z = (samples.mean(0) - mean) / np.sqrt(np.diag(cov) / n)
        cov_se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
        cov_z = (np.cov(samples, rowvar=False) - cov) / cov_se
        gibbs = np.linalg.inv(np.asarray(precision, np.float64)) / (2 * beta)
        top = np.linalg.eigh(np.asarray(precision, np.float64))[1][:, -1]
        out[name] = {
            "step_size": eta,
            "inverse_temperature": beta,
            "num_chains": num_chains,
            "num_steps": num_steps,
            "max_abs_mean_error_in_se": float(np.abs(mean_z).max()),
            "max_abs_cov_error_in_se": float(np.abs(cov_z).max()),
            "max_rel_cov_error": float(
                np.abs(np.cov(samples, rowvar=False) - cov).max() / np.abs(cov).max()
            ),
            "top_eigvec_variance_over_gibbs": float(
                np.var(samples @ top) / (top @ gibbs @ top)
            ),
            "exact_law_top_eigvec_variance_over_gibbs": float(
                (top @ cov @ top) / (top @ gibbs @ top)
            ),
        }
    print(
        "\n== 1. Exact discrete-time law on a Gaussian linear-regression loss "
        "(d=3, beta=2)"
    )
    print(
        f"{'sampler':26s} {'eta':>8s} {'max|mean err|/SE':>17s} "
        f"{'max|cov err|/SE':>16s} {'rel cov err':>12s} {'var/Gibbs (top)':>16s} "
        f"{'exact':>7s}"
    )
    for name, r in out.items():
        print(
            f"{name:26s} {r['step_size']:8.4f} {r['max_abs_mean_error_in_se']:17.2f} "
            f"{r['max_abs_cov_error_in_se']:16.2f} {r['max_rel_cov_error']:12.4f} "
            f"{r['top_eigvec_variance_over_gibbs']:16.4f} "
            f"{r['exact_law_top_eigvec_variance_over_gibbs']:7.4f}"
        )
    return out


# -------------------------------------------------------------- 2. N-chain table
def _mean_or_none(values) -> float | None:
    values = np.asarray(values)
    return None if np.all(np.isnan(values)) else float(np.nanmean(values))


def _train_nchain(n, method, num_seeds, num_epochs, overrides, base_key, **extra):
    """Train ``num_seeds`` vmapped seeds of one N-chain method.

    Returns ``(config, base_key, train, metrics, seconds including compile)``;
    seed ``i`` uses ``jax.random.split(jax.random.key(base_key), num_seeds)[i]``
    with ``base_key = N`` unless given. ``extra`` entries (``record_params``)
    go to ``adam_lmcdqn`` without entering the recorded config.
    """
    env = NChain(n)
    config = dict(NCHAIN_METHODS[method])
    if method == "dqn":
        config["epsilon_decay_steps"] = max(1, num_epochs * 1000 // 10)
    config.update(overrides or {})
    train = adam_lmcdqn(
        env, env.default_params, num_epochs=num_epochs, **config, **extra
    )
    key = n if base_key is None else base_key
    keys = jax.random.split(jax.random.key(key), num_seeds)
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(jax.jit(jax.vmap(train))(keys))
    return config, key, train, metrics, time.perf_counter() - start


def nchain_section(
    sizes, num_seeds, num_epochs, methods, overrides=None, base_key=None
) -> dict:
    """The N-chain rows.

    ``overrides`` (``--set``) replace config entries of every method, e.g. a
    cell of the papers' grid; ``base_key`` (``--nchain-key``) replaces the
    default base key ``N``, so that a scouting run can use other seeds than the
    run it selects a cell for.
    """
    overrides = overrides or {}
    out = {}
    print(
        "\n== 2. N-chain: mean greedy test return over the last "
        f"{min(10, num_epochs)} of "
        f"{num_epochs} epochs, {num_seeds} seeds, 95% CI = 2.093 se (ddof=0)"
        + (f"; config overrides {overrides}" if overrides else "")
    )
    print(
        f"{'N':>4s} {'method':24s} {'ours':>16s} {'published':>16s} "
        f"{'solved runs':>12s} {'seconds':>8s}"
    )
    for n in sizes:
        for method in methods:
            config, key, _, metrics, seconds = _train_nchain(
                n, method, num_seeds, num_epochs, overrides, base_key
            )
            returns = np.asarray(metrics.eval_return)
            scores = returns[:, -min(10, num_epochs) :].mean(axis=1)
            mean = float(scores.mean())
            ci = float(2.093 * scores.std() / np.sqrt(num_seeds))
            published = PUBLISHED.get(method, {}).get(n)
            out[f"{method}/{n}"] = {
                "n": n,
                "method": method,
                "config": config,
                "mean": mean,
                "ci95": ci,
                "scores": scores.tolist(),
                "eval_return_mean_curve": returns.mean(0).tolist(),
                # None for the "adam" optimizer (no Langevin noise).
                "noise_to_drift": _mean_or_none(metrics.noise_to_drift),
                "num_nonfinite": int(np.asarray(metrics.num_nonfinite)[:, -1].sum()),
                "published": published,
                "seconds_including_compile": seconds,
                "num_seeds": num_seeds,
                "num_epochs": num_epochs,
                "base_key": key,
            }
            pub = f"{published[0]:.2f} ± {published[1]:.2f}" if published else "-"
            solved = int((scores > 9.9).sum())
            print(
                f"{n:4d} {method:24s} {mean:7.2f} ± {ci:5.2f} {pub:>16s} "
                f"{solved:>7d}/{num_seeds:<4d} {seconds:8.1f}",
                flush=True,
            )
    return out


def _greedy_turns(train, n: int, params) -> tuple[np.ndarray, np.ndarray]:
    """Where each recorded network's greedy policy turns back on the chain.

    ``params`` leaves have leading axes ``[seeds, epochs]``. N-chain is
    deterministic, so the greedy test episode from ``s_2`` (index 1) walks
    right until the first state whose greedy action is left (``argmax`` breaks
    ties towards action 0, left, as in the test episodes). Returns ``turn``
    ``[seeds, epochs]``, that state's index, or ``n`` when the walk reaches
    ``s_N`` and presses right there (return 10), and ``q_start`` ``[seeds,
    epochs, 2]``, the Q-values at ``s_2``.
    """
    env = NChain(n)
    observations = jax.vmap(env.observation)(jnp.arange(n))
    per_state = jax.vmap(train.q_values, in_axes=(None, 0))
    q = np.asarray(
        jax.jit(jax.vmap(jax.vmap(per_state, (0, None)), (0, None)))(
            params, observations
        )
    )  # [seeds, epochs, states, actions]
    goes_left = np.argmax(q, axis=-1) == 0
    goes_left[..., 0] = False  # s_1 is never on the walk from s_2
    turn = np.where(goes_left.any(-1), np.argmax(goes_left, axis=-1), n)
    return turn, q[:, :, 1]


def policy_section(sizes, num_seeds, num_epochs, methods, overrides, base_key) -> dict:
    """Where the greedy policy of each test episode turns back.

    The same runs as the N-chain rows (same seeds and config), trained with
    ``record_params=True``; for each seed and epoch the walk of
    :func:`_greedy_turns` says whether the greedy policy reaches the far end
    and, if not, at which state it turns back (the Langevin reproduction page;
    at N = 100 a run that has found the far end loses it at ``s_2``).
    """
    out = {}
    window = min(10, num_epochs)
    print(
        f"\n== 2d. N-chain: where the greedy policy turns back ({num_seeds} seeds, "
        f"{num_epochs} epochs; 'last' = the last {window} epochs, 'lost' = "
        "epochs after a run's first success that fail)"
    )
    print(
        f"{'N':>4s} {'method':24s} {'score':>6s} {'solved (last)':>14s} {'flips':>6s} "
        f"{'lost':>5s}  turn state of the lost epochs: s_2 | s_3-s_11 | "
        "s_12-s_N/2 | rest"
    )
    for n in sizes:
        for method in methods:
            config, key, train, metrics, seconds = _train_nchain(
                n,
                method,
                num_seeds,
                num_epochs,
                overrides,
                base_key,
                record_params=True,
            )
            turn, q_start = _greedy_turns(train, n, metrics.params)
            returns = np.asarray(metrics.eval_return)
            solved = turn == n
            mismatches = int((solved != (returns > 9.9)).sum())
            last = solved[:, -window:]
            flips = int((last[:, 1:] != last[:, :-1]).sum())
            ever = np.maximum.accumulate(solved, axis=1)
            lost = ever & ~solved
            lost_turns = turn[lost] + 1  # 1-based state names: s_{index + 1}
            first_ten = (lost_turns >= 3) & (lost_turns <= min(11, n // 2))
            bins = [
                int((lost_turns == 2).sum()),
                int(first_ten.sum()),
                int(((lost_turns >= 12) & (lost_turns <= n // 2)).sum()),
                int((lost_turns > n // 2).sum()),
            ]
            margin = q_start[..., 1] - q_start[..., 0]
            scores = returns[:, -window:].mean(axis=1)
            score = float(scores.mean())
            out[f"{method}/{n}"] = {
                "n": n,
                "method": method,
                "config": config,
                "base_key": key,
                "num_seeds": num_seeds,
                "num_epochs": num_epochs,
                "turn_state_index": turn.tolist(),
                "q_s2_right_minus_left": margin.tolist(),
                "mean_score": score,
                "ci95": float(2.093 * scores.std() / np.sqrt(num_seeds)),
                "scores": scores.tolist(),
                "solved_fraction_last": float(last.mean()),
                "flips_last": flips,
                "lost_epochs": int(lost.sum()),
                "lost_turn_bins": dict(
                    zip(["s_2", "s_3-s_11", "s_12-s_N/2", "rest"], bins, strict=True)
                ),
                "median_q_s2_margin_solved": _median_or_none(margin[solved]),
                "median_q_s2_margin_lost": _median_or_none(margin[lost]),
                "walk_vs_eval_return_mismatches": mismatches,
                "seconds_including_compile": seconds,
            }
            print(
                f"{n:4d} {method:24s} {score:6.2f} {last.mean():14.2f} {flips:6d} "
                f"{int(lost.sum()):5d}  {bins[0]} | {bins[1]} | {bins[2]} | {bins[3]}"
                + (f"  (walk != eval return: {mismatches})" if mismatches else ""),
                flush=True,
            )
    return out


def _median_or_none(values) -> float | None:
    values = np.asarray(values)
    return float(np.median(values)) if values.size else None


# ------------------------------------------------------- 3. LSVI deep exploration
def _first_successes(agent, env, params_fn, num_episodes, num_seeds, threshold):
    num_steps = num_episodes * env.horizon

    def one(key):
        key_params, key_run = jax.random.split(key)
        return run(key_run, agent, env, params_fn(key_params), num_steps)[1].reward

    keys = jax.random.split(jax.random.key(1), num_seeds)
    rewards = jax.jit(lambda k: jax.lax.map(one, k))(keys)
    returns = np.asarray(rewards).reshape(num_seeds, num_episodes, env.horizon).sum(-1)
    firsts = []
    for r in returns:
        hits = np.flatnonzero(r >= threshold)
        firsts.append(int(hits[0]) + 1 if hits.size else None)
    return firsts


def lsvi_section(nchain_sizes, deepsea_sizes, num_seeds, episodes_fn) -> dict:
    out = {}
    print(
        f"\n== 3. Tabular exploration: episodes to first success ({num_seeds} seeds; "
        "median over seeds, '-' = never within the budget)"
    )
    print(
        f"{'env':>8s} {'size':>4s} {'budget':>7s} "
        + " ".join(f"{a:>22s}" for a in LSVI_AGENTS)
    )
    settings = [("nchain", n) for n in nchain_sizes] + [
        ("deepsea", n) for n in deepsea_sizes
    ]
    for env_name, size in settings:
        num_episodes = episodes_fn(env_name, size)
        if env_name == "nchain":
            env = NChain(size)
            common = dict(num_states=size, state_fn=NChain.state_index)
            params_fn = lambda key, env=env: env.default_params  # noqa: E731
            threshold = 9.99
        else:
            env = DeepSea(size, randomize_actions=True)
            common = dict(
                num_states=size * size,
                state_fn=lambda obs: obs,
                value_bounds=(-0.01, 1.0),
            )
            params_fn = env.sample_params  # one random action map per seed
            threshold = 0.5
        row = {}
        for name, kwargs in LSVI_AGENTS.items():
            agent = lmc_lsvi(
                2, env.horizon, max_episodes=num_episodes, **common, **kwargs
            )
            start = time.perf_counter()
            firsts = _first_successes(
                agent, env, params_fn, num_episodes, num_seeds, threshold
            )
            found = [f for f in firsts if f is not None]
            row[name] = {
                "first_success": firsts,
                "num_found": len(found),
                "median": float(np.median(found)) if len(found) == num_seeds else None,
                "seconds": time.perf_counter() - start,
            }
        out[f"{env_name}/{size}"] = {
            "env": env_name,
            "size": size,
            "budget": num_episodes,
            **row,
        }
        cells = []
        for name in LSVI_AGENTS:
            r = row[name]
            med = "-" if r["median"] is None else f"{r['median']:.0f}"
            cells.append(f"{med:>12s} ({r['num_found']:>2d}/{num_seeds:<2d} found)")
        print(
            f"{env_name:>8s} {size:4d} {num_episodes:7d} "
            + " ".join(f"{c:>22s}" for c in cells),
            flush=True,
        )
    return out


# ------------------------------------------------------------------ 4. throughput
def _gradient_floor_program(env, train, num_seeds, num_steps, capacity=10_000):
    """The work every vmapped DQN gradient step does, and nothing else.

    Per step and seed: draw 32 buffer indices, gather the minibatch rows (the
    obs and next-obs rows of a ``[capacity, obs_dim]`` buffer, actions,
    rewards, done flags), and take the gradient of the 1-step TD loss through
    the online and target networks (:func:`~bayesrl.langevin.dqn_loss`, the
    same network and loss as ``train``), followed by a plain gradient step. No
    Langevin noise, no Adam moments, no non-finite check, no target sync, no
    environment, no test episodes. Its time on ``num_seeds`` seeds bounds the
    20-seed Adam LMCDQN epoch from below, for any program built from the same
    XLA batched dots and gathers.

    Returns ``(program, args)``; ``jax.jit(program)(*args)`` runs ``num_steps``
    steps on every seed.
    """
    tiny = adam_lmcdqn(env, env.default_params, num_epochs=1, steps_per_epoch=10)
    keys = jax.random.split(jax.random.key(11), num_seeds)
    # One network per seed, as a 10-env-step run of train leaves it.
    params = jax.vmap(lambda key: tiny(key)[0].params)(keys)
    (obs_dim,) = env.observation_space(env.default_params).shape
    num_actions = env.action_space(env.default_params).n
    key_obs, key_action = jax.random.split(jax.random.key(12))
    depth = jax.random.randint(key_obs, (num_seeds, capacity, 1), 0, obs_dim + 1)
    obs = (jnp.arange(obs_dim) < depth).astype(jnp.float32)  # thermometer rows
    next_obs = jnp.roll(obs, 1, axis=1)
    action = jax.random.randint(key_action, (num_seeds, capacity), 0, num_actions)
    reward = jnp.where(depth[..., 0] == obs_dim, 1.0, 1e-3)
    done = (depth[..., 0] == 0).astype(jnp.float32)

    def one_seed(params, obs, next_obs, action, reward, done, key):
        target_params = params

        def step(params, key):  # the protocol's batch 32 and discount 0.99
            rows = fast_random.randint(key, (32,), 0, capacity)
            batch = DQNBatch(
                obs=obs[rows],
                action=action[rows],
                returns=reward[rows],
                next_obs=next_obs[rows],
                bootstrap=0.99 * (1.0 - done[rows]),
                first_obs=None,
            )
            grads = jax.grad(dqn_loss, argnums=1)(
                train.q_values, params, target_params, batch, double_q=False
            )
            return jax.tree.map(lambda p, g: p - 1e-2 * g, params, grads), None

        return jax.lax.scan(step, params, fast_random.split(key, num_steps))[0]

    step_keys = jax.random.split(jax.random.key(13), num_seeds)
    return jax.vmap(one_seed), (params, obs, next_obs, action, reward, done, step_keys)


def _seconds(fn, *args) -> float:
    """Wall seconds of one call of a compiled ``fn``, results ready."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def _table_floor_seconds(sizes, num_seeds: int, num_epochs: int = 100) -> dict:
    """Seconds the floor takes for every cell of the full N-chain table.

    Every method of the table (``DEFAULT_NCHAIN_METHODS``) takes 4000 gradient
    steps per epoch on every seed, so a cell of ``num_epochs`` epochs cannot take
    less than ``num_epochs`` times one epoch of :func:`_gradient_floor_program`
    at its ``N`` (timed once after compilation).
    """
    num_methods = len(DEFAULT_NCHAIN_METHODS.split(","))
    per_epoch = {}
    for n in sizes:
        env = NChain(n)
        train = adam_lmcdqn(env, env.default_params)
        floor, args = _gradient_floor_program(env, train, num_seeds, 4000)
        floor = jax.jit(floor)
        jax.block_until_ready(floor(*args))  # compile
        per_epoch[n] = _seconds(floor, *args)
    total = num_methods * num_epochs * sum(per_epoch.values())
    return {"floor_seconds_per_epoch": per_epoch, "table_floor_seconds": total}


def throughput_section(num_epochs: int, num_seeds: int = 20, table_sizes=()) -> dict:
    """Env steps per second of ``num_seeds`` vmapped seeds over one seed alone.

    Also times :func:`_gradient_floor_program` on ``num_seeds`` seeds for the
    same number of gradient steps (4000 per epoch), in the same process: the
    vmapped run cannot take less than that floor, so ``num_seeds * (one-seed
    time) / (floor time)`` caps the ratio that these primitives can reach.
    With ``table_sizes``, also the floor of the whole N-chain table over those
    sizes (:func:`_table_floor_seconds`).
    """
    env = NChain(25)
    train = adam_lmcdqn(env, env.default_params, num_epochs=num_epochs)
    steps_per_run = num_epochs * 1000 + 32
    single = jax.jit(train)
    batched = jax.jit(jax.vmap(train))
    floor, floor_args = _gradient_floor_program(
        env, train, num_seeds, num_epochs * 4000
    )
    floor = jax.jit(floor)
    keys = jax.random.split(jax.random.key(5), num_seeds)
    jax.block_until_ready(single(keys[0]))
    jax.block_until_ready(batched(keys))
    jax.block_until_ready(floor(*floor_args))
    one_seconds = _seconds(single, keys[1])
    many_seconds = _seconds(batched, keys)
    floor_seconds = _seconds(floor, *floor_args)
    one_rate = steps_per_run / one_seconds
    many_rate = num_seeds * steps_per_run / many_seconds
    out = {
        "num_epochs": num_epochs,
        "num_seeds": num_seeds,
        "one_seed_seconds": one_seconds,
        "vmapped_seconds": many_seconds,
        "floor_seconds": floor_seconds,
        "one_seed_env_steps_per_s": one_rate,
        "vmapped_env_steps_per_s": many_rate,
        "ratio": many_rate / one_rate,
        "ratio_cap": num_seeds * one_seconds / floor_seconds,
    }
    print(
        f"\n== 4. Throughput (Adam LMCDQN, N=25, {num_epochs} epochs after compilation)"
    )
    print(
        f"one seed: {one_rate:9.0f} env steps/s "
        f"(40 noisy gradient steps per 10 env steps), {one_seconds:.2f} s"
    )
    print(
        f"{num_seeds} vmapped seeds: {many_rate:9.0f} env steps/s, "
        f"{many_seconds:.2f} s  -> ratio {out['ratio']:.2f}x (target >= 8x)"
    )
    print(
        f"floor, {num_seeds} seeds x {num_epochs * 4000} gradient steps of gathers "
        f"and TD-loss gradients only: {floor_seconds:.2f} s  -> the ratio can be "
        f"at most {out['ratio_cap']:.2f}x"
    )
    if table_sizes:
        out.update(_table_floor_seconds(table_sizes, num_seeds))
        per_epoch = ", ".join(
            f"N={n}: {t:.2f} s" for n, t in out["floor_seconds_per_epoch"].items()
        )
        print(
            f"floor of one {num_seeds}-seed epoch ({per_epoch}) -> the floor "
            f"alone, over every cell of the full N-chain table, takes "
            f"{out['table_floor_seconds'] / 60:.1f} min (target <= 30 min)"
        )
    return out


# ------------------------------------------------------------------------ 5. LMC-TS
# Feel-Good LMC-TS (Zhang 2022): one untuned cell, lambda_fg = 0.1 and the cap
# b = 1 (about the largest mean reward: theta_a is a unit vector, x ~ N(0, I)).
FEEL_GOOD = (0.1, 1.0)
# Logistic instance: theta_a on the sphere of radius 3 (the unit sphere makes
# sigmoid(theta_a . x) nearly flat).
LOGISTIC_THETA_SCALE = 3.0


def _regret_row(name, agent, env, params, num_steps, num_seeds, seed, out):
    start = time.perf_counter()
    _, metrics = run_many(
        jax.random.key(seed), agent, env, params, num_steps, num_seeds
    )
    regret = np.asarray(metrics.regret).sum(1)
    se = float(regret.std(ddof=1) / np.sqrt(num_seeds))
    out[name] = {
        "mean_regret": float(regret.mean()),
        "se": se,
        "regrets": regret.tolist(),
        "seconds": time.perf_counter() - start,
    }
    print(f"{name:22s} regret {regret.mean():8.2f} ± {2 * se:6.2f} (2 se)", flush=True)


def _uniform_regret(params, dim, num_steps, link=lambda z: z):
    contexts = jax.random.normal(jax.random.key(9), (20_000, dim))
    means = link(contexts @ params.theta.T)
    return num_steps * float(jnp.mean(means.max(1) - means.mean(1)))


def ts_section(num_arms, dim, num_steps, num_seeds) -> dict:
    beta = 50.0
    env = LinearContextualBandit(num_arms, dim)
    params = env.sample_params(jax.random.key(3))
    exact_linear_ts = linear_thompson_sampling(
        # The Gibbs law N(V^-1 b, V^-1 / (2 beta)), V = X'X + I, that LMC-TS
        # targets: unit noise and prior, posterior inflation nu = (2 beta)^-1/2.
        num_arms,
        dim,
        noise_std=1.0,
        prior_scale=1.0,
        inflation=(2.0 * beta) ** -0.5,
    )
    agents = {
        "lmc_ts": lmc_ts(num_arms, dim, inverse_temperature=beta, num_inner_steps=25),
        "exact_linear_ts": exact_linear_ts,
        "lmc_ts_feel_good": lmc_ts(
            num_arms,
            dim,
            inverse_temperature=beta,
            num_inner_steps=25,
            feel_good=FEEL_GOOD,
            capacity=num_steps,
        ),
    }
    uniform = _uniform_regret(params, dim, num_steps)
    out = {
        "uniform_expected_regret": uniform,
        "num_arms": num_arms,
        "dim": dim,
        "num_steps": num_steps,
        "num_seeds": num_seeds,
        "inverse_temperature": beta,
        "feel_good": list(FEEL_GOOD),
    }
    print(
        "\n== 5. LMC-TS vs exact linear TS (nu^2 = 1/(2 beta)), "
        f"{num_arms} arms, d={dim}, "
        f"T={num_steps}, {num_seeds} seeds; Feel-Good (lambda_fg, b) = {FEEL_GOOD}"
    )
    for i, (name, agent) in enumerate(agents.items()):
        _regret_row(name, agent, env, params, num_steps, num_seeds, 10 + i, out)
    print(f"{'uniform':22s} regret {uniform:8.2f}")

    # Logistic bandit: Bernoulli rewards of mean sigmoid(theta_a . x).
    logistic_env = LinearContextualBandit(num_arms, dim, reward="logistic")
    logistic_params = params.replace(theta=LOGISTIC_THETA_SCALE * params.theta)
    logistic = {
        # beta = 1 with ridge 1: exp(-L) is the exact Bayesian posterior of the
        # logistic model under a N(0, I / 2) prior (what Laplace TS approximates).
        "lmc_ts_logistic": lmc_ts(
            num_arms,
            dim,
            inverse_temperature=1.0,
            num_inner_steps=25,
            loss="logistic",
            capacity=num_steps,
        ),
        # The same loss at the squared rows' temperature (beta = 50): separates
        # the loss from the temperature.
        "lmc_ts_logistic_beta50": lmc_ts(
            num_arms,
            dim,
            inverse_temperature=beta,
            num_inner_steps=25,
            loss="logistic",
            capacity=num_steps,
        ),
        "lmc_ts_squared": agents["lmc_ts"],
        "exact_linear_ts": exact_linear_ts,
    }
    logistic_uniform = _uniform_regret(logistic_params, dim, num_steps, jax.nn.sigmoid)
    out["logistic"] = {
        "uniform_expected_regret": logistic_uniform,
        "theta_scale": LOGISTIC_THETA_SCALE,
    }
    print(
        f"\n   logistic bandit (|theta_a| = {LOGISTIC_THETA_SCALE:g}), same sizes: "
        "LMC-TS logistic loss (beta = 1 and 50) vs squared loss and linear TS "
        "(beta = 50)"
    )
    for i, (name, agent) in enumerate(logistic.items()):
        _regret_row(
            name,
            agent,
            logistic_env,
            logistic_params,
            num_steps,
            num_seeds,
            20 + i,
            out["logistic"],
        )
    print(f"{'uniform':22s} regret {logistic_uniform:8.2f}")
    return out


# ------------------------------------------------------------ 6. bsuite DeepSea
def _deep_sea_bad_episodes(agent, env, num_episodes, num_seeds):
    """``bool[seeds, episodes]`` bsuite bad-episode flags (one map per seed)."""
    size = env.size

    def one(key):
        key_params, key_run = jax.random.split(key)
        params = env.sample_params(key_params)
        actions = run(key_run, agent, env, params, num_episodes * size)[1].action
        return deep_sea_bad_episodes(
            actions.reshape(num_episodes, size), params.action_mapping
        )

    keys = jax.random.split(jax.random.key(1), num_seeds)
    return np.asarray(jax.jit(lambda k: jax.lax.map(one, k))(keys))


def bsuite_section(sizes, num_seeds, episode_cap) -> dict:
    out = {"episode_cap": episode_cap, "num_seeds": num_seeds, "sizes": list(sizes)}
    print(
        f"\n== 6. bsuite DeepSea ({num_seeds} seeds, one action map each): learning "
        "time = first logged episode with bad/episode < 0.9 (median over seeds, "
        "'-' = not reached), solved = learning time < 2^N + 100"
    )
    print(
        f"budget per size min({episode_cap}, 2^N + 100) episodes (bsuite: 10,000; "
        "'*' = the cap binds: unsolved only means not solved within the cap)"
    )
    print(f"{'N':>4s} {'budget':>7s} " + " ".join(f"{a:>24s}" for a in LSVI_AGENTS))
    solved_by_agent = {name: [] for name in LSVI_AGENTS}
    for size in sizes:
        decisive = min(BSUITE_DEEP_SEA_EPISODES, 2**size + 100)
        num_episodes = min(episode_cap, decisive)
        env = DeepSea(size, randomize_actions=True)
        row = {"budget": num_episodes, "cap_binds": num_episodes < decisive}
        cells = []
        for name, kwargs in LSVI_AGENTS.items():
            agent = lmc_lsvi(
                2,
                size,
                max_episodes=num_episodes,
                num_states=size * size,
                state_fn=lambda obs: obs,
                value_bounds=(-0.01, 1.0),
                **kwargs,
            )
            start = time.perf_counter()
            bad = _deep_sea_bad_episodes(agent, env, num_episodes, num_seeds)
            times = {
                threshold: [deep_sea_learning_time(b, threshold=threshold) for b in bad]
                for threshold in (0.9, 0.8)
            }
            solved = [deep_sea_solved(size, t) for t in times[0.9]]
            solved_by_agent[name].append(solved)
            reached = [t for t in times[0.9] if t is not None]
            median = float(np.median(reached)) if len(reached) == num_seeds else None
            row[name] = {
                "learning_time": times[0.9],
                "learning_time_threshold_0.8": times[0.8],
                "solved": solved,
                "solved_threshold_0.8": [deep_sea_solved(size, t) for t in times[0.8]],
                "bad_fraction": float(bad.mean()),
                "median_learning_time": median,
                "seconds": time.perf_counter() - start,
            }
            med = "-" if median is None else f"{median:.0f}"
            cells.append(f"{med:>10s} ({sum(solved):>2d}/{num_seeds:<2d} solved)")
        out[str(size)] = row
        star = "*" if row["cap_binds"] else " "
        print(
            f"{size:4d} {num_episodes:6d}{star} "
            + " ".join(f"{c:>24s}" for c in cells),
            flush=True,
        )
    out["score"] = {}
    for name, solved in solved_by_agent.items():
        per_seed = np.mean(np.array(solved, float), axis=0)  # over sizes
        out["score"][name] = {
            "per_seed": per_seed.tolist(),
            "mean": float(per_seed.mean()),
        }
    print(
        f"score (fraction of the {len(sizes)} sizes run solved, mean over seeds; "
        "bsuite's sweep has 21 sizes, 10..50): "
        + ", ".join(f"{n} {v['mean']:.2f}" for n, v in out["score"].items())
    )
    return out


def plots(results: dict, suffix: str) -> list[str]:
    plt = pyplot()
    if plt is None:
        return []
    saved = []
    if "nchain" in results:
        fig, ax = plt.subplots(figsize=(6, 4))
        for key, r in results["nchain"].items():
            ax.plot(
                np.arange(1, len(r["eval_return_mean_curve"]) + 1),
                r["eval_return_mean_curve"],
                label=key,
            )
        ax.set_xlabel("epoch (1000 env steps)")
        ax.set_ylabel("mean greedy test return")
        ax.legend(fontsize=7)
        path = RESULTS / f"langevin_nchain{suffix}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        saved.append(str(path))
    if "lsvi" in results:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for ax, env_name in zip(axes, ("nchain", "deepsea"), strict=True):
            for agent in LSVI_AGENTS:
                sizes, medians = [], []
                for r in results["lsvi"].values():
                    if r["env"] == env_name and r[agent]["median"] is not None:
                        sizes.append(r["size"])
                        medians.append(r[agent]["median"])
                ax.plot(sizes, medians, "o-", label=agent)
            ax.set_title(env_name)
            ax.set_xlabel("size")
            ax.set_ylabel("episodes to first success (median)")
            ax.set_yscale("log")
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = RESULTS / f"langevin_lsvi{suffix}.png"
        fig.savefig(path, dpi=120)
        saved.append(str(path))
    return saved


def _parse_overrides(items: list[str]) -> dict:
    """``["step_size=1e-3", "optimizer='adam'"]`` -> a config dict.

    Values are Python literals; a bare word that is not one is kept as a string.
    """
    overrides = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            overrides[name] = text
    return overrides


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the paper protocol")
    parser.add_argument(
        "--sections",
        default="law,nchain,lsvi,throughput,ts",
        help="comma-separated among law,nchain,policy,lsvi,throughput,ts,bsuite",
    )
    parser.add_argument("--nchain-sizes", default=None, help="e.g. 25,50")
    parser.add_argument(
        "--methods",
        default=DEFAULT_NCHAIN_METHODS,
        help=f"comma-separated, among {','.join(NCHAIN_METHODS)}",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an adam_lmcdqn config entry of every N-chain method "
        "(repeatable), e.g. --set step_size=1e-3 --set bias_factor=0.1",
    )
    parser.add_argument(
        "--nchain-key",
        type=int,
        default=None,
        help="base PRNG key of the N-chain seeds (default: N)",
    )
    parser.add_argument(
        "--bsuite-sizes", default=None, help="DeepSea sizes of --sections bsuite"
    )
    parser.add_argument(
        "--bsuite-cap", type=int, default=None, help="episode cap of the bsuite section"
    )
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--tag", default="", help="suffix of the result files")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    full = args.full
    seeds = args.seeds or (20 if full else 4)
    epochs = args.epochs or (100 if full else 10)
    sizes = [
        int(s)
        for s in (args.nchain_sizes or ("25,50,75,100" if full else "25")).split(",")
    ]
    start = time.perf_counter()
    results: dict = {
        "machine": machine(),
        "full": full,
        "command": "python -m benchmarks.langevin " + " ".join(argv),
    }
    if "law" in sections:
        results["law"] = law_section(20_000 if not full else 100_000, 300)
    # The N-chain runs: the table, and the walk of each test episode.
    nchain_runs = (
        sizes,
        seeds,
        epochs,
        args.methods.split(","),
        _parse_overrides(args.set),
        args.nchain_key,
    )
    if "nchain" in sections:
        results["nchain"] = nchain_section(*nchain_runs)
    if "policy" in sections:
        results["policy"] = policy_section(*nchain_runs)
    if "lsvi" in sections:
        if full:
            lsvi_sizes = ([10, 20, 30, 40], [5, 10, 15, 20, 25, 30])
            # Budgets: 1000 episodes on N-chain, max(200, 1.5 N^2) on DeepSea
            # (polynomial; epsilon-greedy needs ~2^N).
            episodes = lambda env, n: (  # noqa: E731
                1000 if env == "nchain" else max(200, 3 * n * n // 2)
            )
        else:
            lsvi_sizes = ([10, 20], [5, 10])
            episodes = lambda env, n: 300  # noqa: E731
        results["lsvi"] = lsvi_section(
            *lsvi_sizes, num_seeds=5 if full else 3, episodes_fn=episodes
        )
    if "throughput" in sections:
        results["throughput"] = throughput_section(
            5 if full else 1, table_sizes=(25, 50, 75, 100) if full else ()
        )
    if "ts" in sections:
        results["ts"] = ts_section(*((50, 20, 2000, 8) if full else (5, 5, 500, 8)))
    if "bsuite" in sections:
        # --full: every other bsuite sweep size up to 30, cap 3000 episodes.
        default_sizes = "10,14,18,22,26,30" if full else "10,12"
        results["bsuite"] = bsuite_section(
            [int(n) for n in (args.bsuite_sizes or default_sizes).split(",")],
            args.seeds or (4 if full else 3),
            args.bsuite_cap or (3000 if full else 400),
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = ("_full" if full else "") + (f"_{args.tag}" if args.tag else "")
    results["plots"] = plots(results, suffix)
    results["wall_seconds"] = time.perf_counter() - start
    path = RESULTS / f"langevin{suffix}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"\nresults: {path} ({results['wall_seconds']:.0f} s in all)")
    return results


if __name__ == "__main__":
    main()
