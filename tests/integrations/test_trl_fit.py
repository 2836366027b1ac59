"""TRL 1.16's own ``GRPOTrainer.train()`` through ``MoPPSGRPOTrainer`` on CPU.

The world and the recording are :mod:`trl_fit.run`: 64 prompts "a + b =", a
tiny random Qwen2 and a tokenizer built here, TRL's own generation
(transformers ``generate``), loss, optimizer, dataloader (accelerate's
``DataLoaderShard``), checkpointing and resume. Nothing of TRL, transformers
or accelerate is stubbed; the reward function is a seeded stand-in for a
policy with known per-prompt success rates (see :mod:`trl_fit.run`). The
trainer's adapter is observed (each ``select`` and each reward call recorded),
never changed.

Checked against independent references: the posterior equals a NumPy replay of
the rewards TRL computed; update ``j`` holds exactly the prompts of selection
``j`` (first in, first out) with the lag ``prefetch_lag`` predicts (1, and 0
for the last selection of a pass, after which the loader reads nothing); the
logged selection metrics are those of the trained selection; resuming from
TRL's checkpoints (mid-pass with a prefetched selection, at the end of a pass
with one, at a pass boundary) continues exactly as the uninterrupted run (same
selections, rewards, sampled completions, metrics and selector state), and a
checkpoint inside a generation is refused; two ``torchrun`` processes (gloo)
select identically and resume identically. The 40-step run's figures are
printed and written to ``$TRL_FIGURES_JSON`` when set.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("trl")

from trl_fit import run  # noqa: E402

from bayesrl.integrations.trl import prefetch_lag  # noqa: E402

NUM_PROMPTS = 64
STEPS = 40
SAVE_STEPS = 5
SELECTIONS_PER_PASS = NUM_PROMPTS // (run.MULTIPLIER * run.PROMPTS_PER_STEP)  # 4
UIDS = np.asarray(run.prompts(NUM_PROMPTS)["uid"])
RATES = np.asarray(run.prompts(NUM_PROMPTS)["rate"])


def positions(uids):
    return np.searchsorted(UIDS, np.asarray(uids))


def reward_steps(events, world_size=1):
    """Per update: (positions, rewards) of every row TRL scored, all ranks."""
    calls = [e for e in events if e["kind"] == "reward"]
    steps = []
    for index in range(0, len(calls), world_size):
        group = calls[index : index + world_size]
        uids = sum((call["uids"] for call in group), [])
        rewards = sum((call["rewards"] for call in group), [])
        steps.append((positions(uids), np.asarray(rewards)))
    return steps


def replay(steps):
    """Posterior after ``steps`` (independent NumPy update, prior 1, 1)."""
    alpha, beta = np.ones(NUM_PROMPTS), np.ones(NUM_PROMPTS)
    for rows, rewards in steps:
        for prompt in np.unique(rows):
            mine = rewards[rows == prompt]
            alpha[prompt] += np.sum(mine >= 1.0)
            beta[prompt] += np.sum(mine < 1.0)
    return alpha, beta


def schedule(events):
    """Selections in order, and for each update the selections made before it."""
    selections, made_before = [], []
    for event in events:
        if event["kind"] == "select":
            selections.append(event["uids"])
        else:
            made_before.append(len(selections))
    return selections, made_before


def check_fifo_and_replay(outcome, world_size=1, num_generations=run.NUM_GENERATIONS):
    """Update j holds selection j's prompts, G rows each; posterior == replay.
    Returns the per-update lags (selections made beyond the trained one)."""
    events = outcome["events"]
    selections, made_before = schedule(events)
    steps = reward_steps(events, world_size)
    made_before = made_before[::world_size]
    for j, (rows, _) in enumerate(steps):
        chosen, counts = np.unique(rows, return_counts=True)
        np.testing.assert_array_equal(chosen, np.sort(positions(selections[j])))
        assert np.all(counts == num_generations)
    alpha, beta = replay(steps)
    np.testing.assert_allclose(outcome["selector"]["alpha"], alpha, rtol=1e-6)
    np.testing.assert_allclose(outcome["selector"]["beta"], beta, rtol=1e-6)
    return [made - (j + 1) for j, made in enumerate(made_before)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    outcome = run.run(
        folder, max_steps=STEPS, save_strategy="steps", save_steps=SAVE_STEPS
    )
    return folder, outcome


def test_posterior_replays_trl_rewards_with_the_documented_lag(uninterrupted):
    _, outcome = uninterrupted
    lags = check_fifo_and_replay(outcome)
    assert len(lags) == STEPS
    last_of_pass = [(j + 1) % SELECTIONS_PER_PASS == 0 for j in range(STEPS)]
    assert lags == [0 if last else 1 for last in last_of_pass]
    assert max(lags) == prefetch_lag(1, 1) == 1
    logged = [row["mopps/selections_ahead"] for row in outcome["metrics"]]
    assert logged == lags


def test_logged_selection_metrics_describe_the_trained_batch(uninterrupted):
    _, outcome = uninterrupted
    selections, _ = schedule(outcome["events"])
    steps = reward_steps(outcome["events"])
    # Updates made before each selection, from the recorded event order.
    updates_before, done = [], 0
    for event in outcome["events"]:
        if event["kind"] == "select":
            updates_before.append(done)
        else:
            done += 1
    assert len(outcome["metrics"]) == STEPS
    for j, row in enumerate(outcome["metrics"]):
        alpha, beta = replay(steps[: updates_before[j]])
        means = (alpha / (alpha + beta))[positions(selections[j])]
        logged = [row[f"mopps/selected_mean_q{q}"] for q in (10, 50, 90)]
        np.testing.assert_allclose(
            logged, np.quantile(means, [0.1, 0.5, 0.9]), rtol=1e-5
        )
        rows, rewards = steps[j]
        rates = [rewards[rows == p].mean() for p in np.unique(rows)]
        if np.ptp(rates) > 0:  # Spearman is defined: it must be reported
            rho = row["mopps/rho_selected_mopps"]  # NaN is logged as None
            assert rho is not None and np.isfinite(rho), j


def test_figures_of_the_40_step_run(uninterrupted):
    _, outcome = uninterrupted
    steps = reward_steps(outcome["events"])
    selections, _ = schedule(outcome["events"])
    trained = [RATES[positions(uids)] for uids in selections[:STEPS]]
    distance = [np.mean(np.abs(rates - 0.5)) for rates in trained]
    first, second = np.mean(distance[: STEPS // 2]), np.mean(distance[STEPS // 2 :])
    alpha, beta = replay(steps)
    visited = np.unique(np.concatenate([rows for rows, _ in steps]))
    mean = np.asarray(outcome["selector"]["alpha"]) / (
        np.asarray(outcome["selector"]["alpha"])
        + np.asarray(outcome["selector"]["beta"])
    )
    correlation = np.corrcoef(mean[visited], RATES[visited])[0, 1]
    figures = {
        "trainer": "TRL 1.16.0 GRPOTrainer.train() via MoPPSGRPOTrainer, 1 process",
        "steps": STEPS,
        "prompts": NUM_PROMPTS,
        "posterior_equals_replay": bool(
            np.allclose(outcome["selector"]["alpha"], alpha, rtol=1e-6)
            and np.allclose(outcome["selector"]["beta"], beta, rtol=1e-6)
        ),
        "mean_abs_p_minus_half_first_half": round(float(first), 4),
        "mean_abs_p_minus_half_second_half": round(float(second), 4),
        "corr_posterior_mean_true_rate_visited": round(float(correlation), 4),
        "visited_prompts": int(visited.size),
        "max_lag": max(check_fifo_and_replay(outcome)),
    }
    print(json.dumps(figures, indent=1))
    if os.environ.get("TRL_FIGURES_JSON"):
        Path(os.environ["TRL_FIGURES_JSON"]).write_text(json.dumps(figures, indent=1))
    assert figures["posterior_equals_replay"]
    assert second < first
    assert correlation >= 0.8


def after_update(events, count):
    """The events that follow the ``count``-th update."""
    seen = 0
    for index, event in enumerate(events):
        seen += event["kind"] == "reward"
        if seen == count:
            return events[index + 1 :]
    raise AssertionError(f"fewer than {count} updates")


@pytest.mark.parametrize(
    "checkpoint,max_steps",
    [(15, STEPS), (5, 8), (20, 24)],
    ids=["end-of-pass-with-prefetch", "mid-pass", "pass-boundary"],
)
def test_resume_continues_exactly_as_uninterrupted(
    uninterrupted, tmp_path, checkpoint, max_steps
):
    folder, full = uninterrupted
    resumed = run.run(
        tmp_path, resume=str(folder / f"checkpoint-{checkpoint}"), max_steps=max_steps
    )
    expected = after_update(full["events"], checkpoint)
    expected = expected[: len(resumed["events"])]
    assert resumed["events"] == expected  # same selections, rewards, order
    assert [e["kind"] for e in resumed["events"]].count("reward") == (
        max_steps - checkpoint
    )
    assert resumed["metrics"] == full["metrics"][:max_steps]
    alpha, beta = replay(reward_steps(full["events"])[:max_steps])
    np.testing.assert_allclose(resumed["selector"]["alpha"], alpha, rtol=1e-6)
    np.testing.assert_allclose(resumed["selector"]["beta"], beta, rtol=1e-6)
    if max_steps == STEPS:
        assert resumed["selector"] == full["selector"]  # every array, exactly
        assert resumed["chunks_in_pass"] == full["chunks_in_pass"]


@pytest.mark.parametrize(
    "config,expected_lags",
    [
        (dict(num_iterations=2), [0, 0, 0, 0]),
        (dict(gradient_accumulation_steps=2, steps_per_generation=1), [2, 1, 1, 0]),
    ],
    ids=["num_iterations=2", "grad_accum=2"],
)
def test_lag_is_the_prefetch_lag(tmp_path, caplog, config, expected_lags):
    iterations = config.get("num_iterations", 1)
    accumulation = config.get("gradient_accumulation_steps", 1)
    max_steps = len(expected_lags) * iterations // accumulation
    outcome = run.run(
        tmp_path,
        max_steps=max_steps,
        save_strategy="steps",
        save_steps=1,
        **config,
    )
    lags = check_fifo_and_replay(outcome)
    assert lags == expected_lags
    per_selection = iterations * config.get("steps_per_generation", 1)
    assert (
        outcome["expected_lag"]
        == max(lags)
        == prefetch_lag(accumulation, per_selection)
    )
    # Checkpoints that end inside a generation (TRL would regenerate it) are
    # reported when saved and refused on resume: with num_iterations=2 the odd
    # ones.
    inside = [
        step
        for step in range(1, max_steps + 1)
        if step * accumulation % per_selection != 0
    ]
    warned = [r for r in caplog.records if "ends inside a generation" in r.message]
    assert len(warned) == len(inside)
    for step in inside[:1]:
        with pytest.raises(ValueError, match="ends inside a generation"):
            run.run(
                tmp_path / "resumed",
                resume=str(tmp_path / f"checkpoint-{step}"),
                max_steps=max_steps,
                **config,
            )


def torchrun(out, *arguments):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "trl_fit.run",
        str(out),
        *arguments,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).parent))
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_two_torchrun_processes_select_identically_and_resume(tmp_path):
    first, second = torchrun(tmp_path / "full", "--max-steps", "6", "--save-steps", "3")
    assert first["world_size"] == second["world_size"] == 2
    schedules = [schedule(rank["events"])[0] for rank in (first, second)]
    assert schedules[0] == schedules[1]
    assert first["selector"] == second["selector"]
    combined = {"events": _interleave(first, second), "selector": first["selector"]}
    lags = check_fifo_and_replay(combined, world_size=2)
    assert lags == [1, 1, 1, 0, 1, 1]

    checkpoint = tmp_path / "full" / "train" / "checkpoint-3"
    resumed = torchrun(
        tmp_path / "resumed", "--max-steps", "6", "--resume", str(checkpoint)
    )
    for rank, full in zip(resumed, (first, second), strict=True):
        assert rank["events"] == after_update(full["events"], 3)
        assert rank["selector"] == full["selector"]


def _interleave(first, second):
    """Both ranks' events as one stream: rank 0's selections, and per update
    rank 0's reward call followed by rank 1's (the gather order)."""
    calls = [
        [e for e in rank["events"] if e["kind"] == "reward"] for rank in (first, second)
    ]
    out, update = [], 0
    for event in first["events"]:
        if event["kind"] == "select":
            out.append(event)
        else:
            out.extend([calls[0][update], calls[1][update]])
            update += 1
    return out
