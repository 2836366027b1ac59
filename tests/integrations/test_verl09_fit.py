"""MoPPS on verl 0.9.1: ``bayesrl.integrations.verl_main`` driving verl's own
``RayPPOTrainer.fit()`` on CPU.

Real: the entry point ``verl_main.main`` (Hydra composition of verl's
``ppo_trainer.yaml`` with command-line overrides, its config checks, verl's
``run_ppo`` and ``TaskRunner`` as a Ray actor), ``RLHFDataset``,
``StatefulDataLoader``, ``MoPPSRayPPOTrainer`` (= verl's ``RayPPOTrainer``:
``init_workers``, ``fit``, ``_get_gen_batch``, the batch ``union``,
``_balance_batch``, GRPO ``compute_advantage``, ``_save_checkpoint`` and
``resume_mode=resume_path``), ``RayWorkerGroup`` dispatch,
``LLMServerManager``/``LLMServerClient`` with verl's load balancer,
``CheckpointEngineManager``, the agent loop (``AgentLoopManager``,
``AgentLoopWorker``, single-turn loop, ``_postprocess``) and the default
reward path (``RewardLoopManager``, ``RewardLoopWorker``, naive reward
manager, ``default_compute_score`` with the ``openai/gsm8k`` rule, streamed
from the agent loop since no reward model is configured). The model is a
random 2-layer Qwen2 with a byte-level BPE tokenizer trained in the test.

Stubbed (they need a GPU), see ``verl09/scripted.py``: the actor worker's
forward/backward (``compute_log_prob`` returns zeros, ``update_actor`` trains
nothing and records the batch it got), the LLM engine (a rollout replica whose
server answers "a + b =" with "#### a+b" with a known probability per prompt,
else "#### a+b+1"), and GPU bundles in Ray's resource pools.

Ray runs real actors (6 processes) on 2 CPUs, not local mode: verl's agent
loop, reward loop and load balancer are async actors that call each other,
which local mode does not run (and Ray deprecated it).

The scores the trainer computed are read from what verl passed to
``update_actor`` (``token_level_scores``), independently of the MoPPS
feedback, and replayed through a NumPy port of MoPPS's update.
"""

import json

import numpy as np
import pytest

verl = pytest.importorskip("verl")
if tuple(int(p) for p in verl.__version__.split(".")[:2]) < (0, 8):
    pytest.skip("verl >= 0.8 runs through verl_main", allow_module_level=True)
pytest.importorskip("verl.trainer.main_ppo_v0")

from verl09 import harness  # noqa: E402
from verl09.scripted import parse_prompt, success_rate  # noqa: E402

from bayesrl.prompts import PromptSelector  # noqa: E402

NUM_PROMPTS = 64
BATCH = 8
RESPONSES = 8
MULTIPLIER = 4  # B_hat = 32: 2 steps per loader epoch
STEPS_PER_EPOCH = NUM_PROMPTS // (MULTIPLIER * BATCH)
STEPS = 40
SEED = 11
DISCOUNT = 0.9
MOPPS = {"candidate_multiplier": MULTIPLIER, "seed": SEED, "discount": DISCOUNT}
RESUME_STEPS = (37, 38)  # mid-epoch (data.pt restored) and an epoch boundary


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("verl09")
    pairs = harness.addition_pairs(NUM_PROMPTS)
    return {
        "root": root,
        "model": harness.build_model_dir(root / "model"),
        "data": harness.write_dataset(root / "train.jsonl", pairs),
        "row_of_id": {harness.prompt_id(r): r for r in range(NUM_PROMPTS)},
        "rate": np.asarray([success_rate(a, b) for a, b in pairs]),
    }


def run_args(world, run_dir, extra=()):
    return harness.overrides(
        run_dir,
        world["model"],
        world["data"],
        batch=BATCH,
        responses=RESPONSES,
        steps=STEPS,
        save_freq=1,
        mopps=MOPPS,
        extra=extra,
    )


@pytest.fixture(scope="module")
def full_run(world):
    run_dir = world["root"] / "full"
    return run_dir, harness.train(run_dir, run_args(world, run_dir))


@pytest.fixture(scope="module")
def resumed_runs(world, full_run):
    full_dir, _ = full_run
    runs = {}
    for step in RESUME_STEPS:
        run_dir = world["root"] / f"resumed_{step}"
        resume = full_dir / "checkpoints" / f"global_step_{step}"
        extra = [
            "trainer.resume_mode=resume_path",
            f"trainer.resume_from_path={resume}",
        ]
        runs[step] = (run_dir, harness.train(run_dir, run_args(world, run_dir, extra)))
    return runs


def replay_steps(world, updates):
    """(positions, rewards) per step, from what verl gave the actor."""
    rows = world["row_of_id"]
    return [
        (np.asarray([rows[i] for i in u["ids"]]), np.asarray(u["scores"]))
        for u in updates
    ]


def test_scores_are_verl_default_gsm8k_rule_on_the_generated_text(world, full_run):
    _, updates = full_run
    assert len(updates) == STEPS
    pairs = harness.addition_pairs(NUM_PROMPTS)
    for update in updates:
        assert len(update["ids"]) == BATCH * RESPONSES
        for prompt_id, prompt, response, truth, score in zip(
            update["ids"],
            update["prompts"],
            update["responses"],
            update["ground_truths"],
            update["scores"],
            strict=True,
        ):
            a, b = pairs[world["row_of_id"][prompt_id]]
            assert parse_prompt(prompt) == (a, b) and truth == str(a + b)
            assert score == (1.0 if response == f"#### {a + b}" else 0.0)
            assert response in (f"#### {a + b}", f"#### {a + b + 1}")


def test_posterior_equals_replay_of_verl_scores_at_every_checkpoint(
    world, full_run, reference_posterior
):
    run_dir, updates = full_run
    steps = replay_steps(world, updates)
    for step in (1, STEPS_PER_EPOCH, 17, STEPS):
        # global_step_k is written after step k's feedback: it holds k updates.
        alpha, beta = harness.saved_posterior(run_dir, step)
        ref_alpha, ref_beta = reference_posterior(
            NUM_PROMPTS, steps[:step], discount=DISCOUNT
        )
        np.testing.assert_allclose(alpha, ref_alpha, rtol=1e-5, err_msg=f"step {step}")
        np.testing.assert_allclose(beta, ref_beta, rtol=1e-5, err_msg=f"step {step}")


def test_each_update_holds_the_selection_made_after_the_previous_feedback(
    world, full_run
):
    _, updates = full_run
    core = PromptSelector(
        NUM_PROMPTS,
        BATCH,
        seed=SEED,
        candidate_multiplier=MULTIPLIER,
        discount=DISCOUNT,
    )
    for step, (positions, rewards) in enumerate(replay_steps(world, updates), 1):
        chosen = np.sort(core.select())
        unique, inverse, counts = np.unique(
            positions, return_inverse=True, return_counts=True
        )
        np.testing.assert_array_equal(chosen, unique, err_msg=f"step {step}")
        assert np.all(counts == RESPONSES)
        core.update(unique, np.bincount(inverse, weights=rewards >= 1.0), counts * 1.0)
    for epoch in range(STEPS // STEPS_PER_EPOCH):
        block = updates[epoch * STEPS_PER_EPOCH : (epoch + 1) * STEPS_PER_EPOCH]
        ids = set().union(*(set(u["ids"]) for u in block))
        assert len(ids) == BATCH * STEPS_PER_EPOCH  # no prompt twice in an epoch


@pytest.mark.parametrize("resume_step", RESUME_STEPS)
def test_resume_from_verl_checkpoint_continues_as_uninterrupted(
    full_run, resumed_runs, resume_step
):
    full_dir, full_updates = full_run
    run_dir, updates = resumed_runs[resume_step]
    assert len(updates) == STEPS - resume_step
    for step, (resumed, full) in enumerate(
        zip(updates, full_updates[resume_step:], strict=True), resume_step + 1
    ):
        assert sorted(zip(resumed["ids"], resumed["scores"], strict=True)) == sorted(
            zip(full["ids"], full["scores"], strict=True)
        ), f"step {step}"
    final = f"checkpoints/global_step_{STEPS}/mopps_sampler.npz"
    with np.load(full_dir / final) as full, np.load(run_dir / final) as resumed:
        assert set(full.files) == set(resumed.files)
        for name in full.files:
            np.testing.assert_array_equal(resumed[name], full[name], err_msg=name)


def test_figures_40_steps_64_prompts(world, full_run, reference_posterior, tmp_path):
    run_dir, updates = full_run
    steps = replay_steps(world, updates)
    alpha, beta = harness.saved_posterior(run_dir, STEPS)
    ref_alpha, ref_beta = reference_posterior(NUM_PROMPTS, steps, discount=DISCOUNT)
    gap = max(np.abs(alpha - ref_alpha).max(), np.abs(beta - ref_beta).max())
    rate = world["rate"]
    distance = [np.abs(rate[np.unique(p)] - 0.5).mean() for p, _ in steps]
    half = STEPS // 2
    visited = np.unique(np.concatenate([p for p, _ in steps]))
    mean = alpha / (alpha + beta)
    correlation = float(np.corrcoef(mean[visited], rate[visited])[0, 1])
    figures = {
        "steps": STEPS,
        "prompts": NUM_PROMPTS,
        "posterior_replay_max_abs_diff": float(gap),
        "mean_abs_p_minus_half_first_half": float(np.mean(distance[:half])),
        "mean_abs_p_minus_half_second_half": float(np.mean(distance[half:])),
        "visited_prompts": int(visited.size),
        "corr_posterior_mean_true_rate": correlation,
    }
    (tmp_path / "verl09_figures.json").write_text(json.dumps(figures, indent=1))
    print("verl 0.9.1 figures:", json.dumps(figures))
    assert gap < 1e-5
    assert (
        figures["mean_abs_p_minus_half_second_half"]
        < figures["mean_abs_p_minus_half_first_half"]
    )
    assert correlation >= 0.8
