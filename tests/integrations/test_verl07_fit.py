"""MoPPS through verl 0.7.1's own ``RayPPOTrainer.fit()`` on CPU.

Real: verl's Hydra config (``ppo_trainer.yaml`` plus overrides), its
``validate_config``, ``RLHFDataset``, ``create_rl_sampler`` from
``data.sampler.class_path``, ``StatefulDataLoader``, ``RayPPOTrainer``
(``init_workers``, ``fit``, the batch ``union``, ``_balance_batch``, GRPO
``compute_advantage``, checkpoint save and ``resume_mode=auto``),
``RayWorkerGroup`` dispatch, the agent loop (``AgentLoopManager``,
``AgentLoopWorker``, single-turn loop, ``_postprocess``) and the reward loop
(``RewardLoopManager``, ``RewardLoopWorker``, naive reward manager,
``default_compute_score`` with the ``openai/gsm8k`` rule), all as real Ray
actors on 2 CPUs. The model is a random 2-layer Qwen2 with a byte-level BPE
tokenizer trained in the test.

Stubbed (they need a GPU): the actor worker's forward/backward
(``compute_log_prob`` returns zeros, ``update_actor`` does not train, its
checkpoints are empty folders), the LLM engine (a rollout replica whose server
answers "a + b =" with "#### a+b" with a known probability per prompt, else
"#### a+b+1"), and GPU bundles in Ray's resource pools. See
``verl07/fakes.py``.

Resume contract: verl writes the checkpoint of step ``s`` (``data.pt``, with
the sampler's state) before ``sampler.update`` of step ``s``. A run resumed
from ``global_step_s`` therefore equals, selection for selection and in its
posterior, an uninterrupted run that skips step ``s``'s update — that is the
exact statement tested; it lacks that one step's evidence and nothing else.
"""

import json

import numpy as np
import pytest

pytest.importorskip("verl.experimental.dataset.sampler")
pytest.importorskip("verl.experimental.agent_loop")

from verl.utils.reward_score import default_compute_score  # noqa: E402
from verl07 import harness  # noqa: E402
from verl07.fakes import success_rate  # noqa: E402

BATCH = 4
RESPONSES = 4


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    harness.ray_init()
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return harness.build_model_dir(tmp_path_factory.mktemp("model"))


def write_data(tmp_path, count):
    return harness.write_dataset(
        tmp_path / "train.jsonl", harness.addition_pairs(count)
    )


def config_for(model_dir, data, ckpt, steps, mopps, responses=RESPONSES, extra=()):
    overrides = harness.base_overrides(
        model_dir, data, ckpt, BATCH, responses, steps, mopps
    )
    return harness.compose_config(overrides + list(extra))


def positions_of(ids):
    """Dataset positions of ``extra_info.index`` values (inverse of prompt_id)."""
    ids = np.asarray(ids, dtype=np.int64)
    assert np.all((ids - 5000) % 11 == 0)
    return (ids - 5000) // 11


def check_updates(sampler, responses):
    """Each update holds exactly the prompts of the selection just made, each
    ``responses`` times, scored by the GSM8K rule on the decoded response."""
    for step, record in enumerate(sampler.updates):
        assert record["selection"] == step + 1  # update(t) before select(t+1)
        chosen = sampler.selections[step]
        rows = positions_of(record["ids"])
        unique, counts = np.unique(rows, return_counts=True)
        np.testing.assert_array_equal(unique, np.sort(chosen))
        assert np.all(counts == responses)
        assert len(set(record["uids"])) == BATCH
        for text, truth, score in zip(
            record["texts"], record["ground_truths"], record["scores"], strict=True
        ):
            assert text.startswith("#### ")
            assert default_compute_score("openai/gsm8k", text, truth) == score


def replay(sampler, num_prompts, reference_posterior):
    steps = [
        (positions_of(r["ids"]), r["scores"]) for r in sampler.updates if r["applied"]
    ]
    return reference_posterior(num_prompts, steps)


def posterior(sampler):
    state = sampler.state_dict()["selector"]
    return np.asarray(state["alpha"]), np.asarray(state["beta"])


def test_default_reward_loop_fit_feeds_back_and_resumes_exactly(
    ray_cluster, model_dir, tmp_path, reference_posterior
):
    num_prompts, total, saved_at = 32, 6, 3
    data = write_data(tmp_path, num_prompts)
    mopps = {"candidate_multiplier": 2, "seed": 11}  # 4 steps per loader epoch

    def fit(name, steps, extra):
        config = config_for(model_dir, data, tmp_path / name, steps, mopps, extra=extra)
        return harness.run_fit(config).train_dataloader.sampler

    reference = fit(
        "reference", total, ["+data.sampler.recording.drop_update_at_step=3"]
    )
    first = fit("resumed", saved_at, [f"trainer.save_freq={saved_at}"])
    assert (tmp_path / "resumed" / f"global_step_{saved_at}" / "data.pt").exists()
    resumed = fit("resumed", total, ["trainer.resume_mode=auto"])

    for sampler in (reference, first, resumed):
        check_updates(sampler, RESPONSES)
    assert first.metrics["max_lag"] == 0  # num_workers=0: no prefetch
    # The default reward loop drops `index`; extra_info carries the id.
    assert all("index" not in r["columns"] for r in reference.updates)

    np.testing.assert_array_equal(
        np.stack(reference.selections), np.stack(first.selections + resumed.selections)
    )
    for got, want in zip(posterior(resumed), posterior(reference), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(
        posterior(reference), replay(reference, num_prompts, reference_posterior)
    )
    # The resumed posterior is the replay of steps 1..s-1 and s+1..T.
    steps = [r for r in first.updates[: saved_at - 1]] + resumed.updates
    alpha, beta = reference_posterior(
        num_prompts, [(positions_of(r["ids"]), r["scores"]) for r in steps]
    )
    np.testing.assert_allclose(posterior(resumed)[0], alpha)
    np.testing.assert_allclose(posterior(resumed)[1], beta)


def test_40_steps_on_64_prompts_figures(
    ray_cluster, model_dir, tmp_path, reference_posterior
):
    """40 steps of verl's loop, 64 "a + b =" prompts with known success rates
    (0, 1/8, ..., 1), B = 4, 8 responses each: posterior == replay, selected
    prompts nearer the target in the second half, posterior mean tracks the
    true rate. The figures are printed and written to figures.json."""
    num_prompts, steps, responses = 64, 40, 8
    data = write_data(tmp_path, num_prompts)
    mopps = {"candidate_multiplier": 4, "seed": 5}
    config = config_for(
        model_dir, data, tmp_path / "ckpt", steps, mopps, responses=responses
    )
    sampler = harness.run_fit(config).train_dataloader.sampler
    check_updates(sampler, responses)
    assert len(sampler.updates) == steps
    assert all("index" not in r["columns"] for r in sampler.updates)

    alpha, beta = posterior(sampler)
    want_alpha, want_beta = replay(sampler, num_prompts, reference_posterior)
    np.testing.assert_allclose(alpha, want_alpha)
    np.testing.assert_allclose(beta, want_beta)

    true_rate = np.asarray(
        [success_rate(a, b) for a, b in harness.addition_pairs(num_prompts)]
    )
    distance = [np.mean(np.abs(true_rate[s] - 0.5)) for s in sampler.selections]
    first_half = float(np.mean(distance[: steps // 2]))
    second_half = float(np.mean(distance[steps // 2 :]))
    visited = np.unique(np.concatenate(sampler.selections))
    mean = alpha / (alpha + beta)
    correlation = float(np.corrcoef(mean[visited], true_rate[visited])[0, 1])
    figures = {
        "trainer": "verl 0.7.1 RayPPOTrainer.fit, default reward loop",
        "steps": steps,
        "prompts": num_prompts,
        "posterior_equals_replay": True,
        "max_lag": sampler.metrics["max_lag"],
        "mean_abs_p_minus_half_first_half": first_half,
        "mean_abs_p_minus_half_second_half": second_half,
        "visited_prompts": int(visited.size),
        "correlation_posterior_mean_true_rate": correlation,
    }
    (tmp_path / "figures.json").write_text(json.dumps(figures, indent=2))
    print("verl 0.7.1 figures:", json.dumps(figures))
    assert sampler.metrics["max_lag"] == 0
    assert second_half < first_half
    assert correlation >= 0.8


def test_reward_model_mode_fit_feeds_back(
    ray_cluster, model_dir, tmp_path, reference_posterior
):
    """Colocated reward model: verl scores each response through
    ``RewardLoopManager.compute_rm_score`` after generation (the agent loop
    copies the input columns back, so ``index`` is present)."""
    harness.install_reward_model_stubs()
    num_prompts, steps = 32, 4
    data = write_data(tmp_path, num_prompts)
    config = config_for(
        model_dir,
        data,
        tmp_path / "ckpt",
        steps,
        {"candidate_multiplier": 2, "seed": 2},
        extra=harness.reward_model_overrides(model_dir),
    )
    sampler = harness.run_fit(config).train_dataloader.sampler
    check_updates(sampler, RESPONSES)
    assert len(sampler.updates) == steps
    assert all("index" in r["columns"] for r in sampler.updates)
    alpha, beta = posterior(sampler)
    want_alpha, want_beta = replay(sampler, num_prompts, reference_posterior)
    np.testing.assert_allclose(alpha, want_alpha)
    np.testing.assert_allclose(beta, want_beta)
    assert sampler.metrics["max_lag"] == 0
