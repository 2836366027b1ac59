"""OpenRLHF 0.11.2's own PPO loop with MoPPS, on CPU, in both reward modes.

Each run goes through ``bayesrl.integrations.openrlhf.main`` (the documented
``python -m bayesrl.integrations.openrlhf`` command): OpenRLHF's
``train_ppo_ray`` parser and checks, its ``train()`` driver
(``get_max_steps()`` read after the trainer is built, models initialised with
it), the real ``PPOTrainer.__init__`` (``prepare_datasets`` on a local JSONL,
``PromptDataset``, ``SamplesGenerator``, ``RemoteExperienceMaker``) and
``PPOTrainer.fit()`` with its checkpoint/resume logic; in the model group, the
real ``PolicyModelActor`` (``openrlhf.models.Actor`` log-probs,
``ActorPPOTrainer.ppo_train`` with ``PolicyLoss``, its LR schedule from
``DeepspeedStrategy.prepare``), the real ``SingleTurnAgentExecutor`` calling a
rule reward function file (``--reward.remote_url``), the real group-norm
advantages. The model is a random 2-layer Qwen2 built from a config, the
tokenizer is built in the test; nothing is downloaded.

Stubbed (``tests/integrations/openrlhf_fit``): vLLM generation (scripted
answers with known per-prompt success rates), the reward model's forward
(the same rule on the decoded sequence), DeepSpeed (a one-process CPU engine:
AdamW, OpenRLHF's scheduler, gradient accumulation, DeepSpeed's checkpoint
layout), flash-attn (import only), process groups and NCCL weight sync (a
one-process gloo group; the engines are told the optimizer-step count), and
Ray actor placement (the trainer and the model actors run in the test
process on a local Ray).
"""

import json
import os

import numpy as np
import pytest

pytest.importorskip("openrlhf")
ray = pytest.importorskip("ray")
torch = pytest.importorskip("torch")

from openrlhf_fit import run, world  # noqa: E402
from openrlhf_fit.actors import Scenario, SimulatedCrash  # noqa: E402
from openrlhf_fit.stand_ins import MODEL_STATES  # noqa: E402

ROWS_PER_STEP = run.BATCH * run.SAMPLES
STEPS_PER_EPISODE = world.NUM_PROMPTS // (run.MULTIPLIER * run.BATCH)
DEFAULT_LR, MIN_LR_RATIO = 1e-6, 0.1  # OpenRLHF's --actor.adam.lr, --actor.min_lr_ratio


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(
        num_cpus=1,
        object_store_memory=100 * 1024**2,
        include_dashboard=False,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return run.make_world(tmp_path_factory.mktemp("openrlhf_world"))


def positions_of(dataset, prompts):
    return np.asarray([dataset.prompts.index(p) for p in prompts])


def reward_log_steps(paths, dataset, start=0):
    """The reward function's scores, ``ROWS_PER_STEP`` rows per step."""
    rows = world.read_reward_log(paths["reward_log"])[start:]
    assert len(rows) % ROWS_PER_STEP == 0
    return [
        (
            positions_of(dataset, [r["prompt"] for r in chunk]),
            np.asarray([r["score"] for r in chunk]),
        )
        for chunk in (
            rows[i : i + ROWS_PER_STEP] for i in range(0, len(rows), ROWS_PER_STEP)
        )
    ]


def assert_same_rows(left, right):
    """Two (positions, rewards) row sets are equal as multisets."""
    order_l = np.lexsort((left[1], left[0]))
    order_r = np.lexsort((right[1], right[0]))
    np.testing.assert_array_equal(left[0][order_l], right[0][order_r])
    np.testing.assert_array_equal(left[1][order_l], right[1][order_r])


def assert_each_update_is_its_selection(scenario, steps):
    """Update k holds exactly selection k's prompts, ``SAMPLES`` rows each,
    which are the prompts the policy trained on at step k; no lag."""
    recorder, policy = scenario.recorder, scenario.actors["CpuPolicyModelActor"]
    dataset = scenario.trainer.mopps_loader.dataset
    assert len(recorder.selections) == len(recorder.updates) == steps
    assert recorder.selections_at_update == list(range(1, steps + 1))
    trained = policy.trained_prompts[-steps:]
    for selection, (positions, _), prompts in zip(
        recorder.selections, recorder.updates, trained, strict=True
    ):
        expected = np.repeat(np.sort(selection), run.SAMPLES)
        np.testing.assert_array_equal(np.sort(positions), expected)
        np.testing.assert_array_equal(np.sort(positions_of(dataset, prompts)), expected)
    assert scenario.trainer.mopps_loader.metrics["max_lag"] == 0


def posterior(scenario):
    selector = scenario.trainer.mopps_loader.adapter.selector
    return np.asarray(selector.state.alpha), np.asarray(selector.state.beta)


def assert_lr_schedule_spans_the_run(scenario, steps):
    """The driver sized the actor's schedule to the optimizer steps run."""
    policy = scenario.actors["CpuPolicyModelActor"]
    optimizer_steps = steps * ROWS_PER_STEP // run.TRAIN_BATCH
    assert scenario.trainer.get_max_steps() == optimizer_steps
    assert policy.init_max_steps == optimizer_steps
    assert policy.engine.global_steps == optimizer_steps
    assert policy.scheduler.last_epoch == optimizer_steps
    last_lr = policy.scheduler.get_last_lr()[0]
    assert last_lr == pytest.approx(DEFAULT_LR * MIN_LR_RATIO, rel=1e-6)


def figures(scenario, steps):
    rates = world.rate_by_prompt()
    dataset = scenario.trainer.mopps_loader.dataset
    true_rate = np.asarray([rates[p] for p in dataset.prompts])
    distance = [np.abs(true_rate[s] - 0.5).mean() for s in scenario.recorder.selections]
    alpha, beta = posterior(scenario)
    visited = np.unique(np.concatenate([p for p, _ in scenario.recorder.updates]))
    mean = alpha / (alpha + beta)
    return {
        "steps": steps,
        "prompts": world.NUM_PROMPTS,
        "mean_abs_p_minus_half_first_half": float(np.mean(distance[: steps // 2])),
        "mean_abs_p_minus_half_second_half": float(np.mean(distance[steps // 2 :])),
        "correlation_posterior_mean_true_rate": float(
            np.corrcoef(mean[visited], true_rate[visited])[0, 1]
        ),
        "visited_prompts": int(visited.size),
    }


def test_forty_steps_with_a_reward_function(
    paths, tmp_path, monkeypatch, reference_posterior
):
    episodes = 10
    steps = episodes * STEPS_PER_EPISODE
    assert steps == 40
    start = len(world.read_reward_log(paths["reward_log"]))
    argv = run.ppo_argv(paths, tmp_path, episodes=episodes)
    scenario = run.run_ppo(argv, monkeypatch)

    assert_each_update_is_its_selection(scenario, steps)
    dataset = scenario.trainer.mopps_loader.dataset
    scored = reward_log_steps(paths, dataset, start)
    assert len(scored) == steps
    for update, step in zip(scenario.recorder.updates, scored, strict=True):
        assert_same_rows(update, step)
    alpha, beta = reference_posterior(world.NUM_PROMPTS, scored)
    np.testing.assert_allclose(posterior(scenario), (alpha, beta), rtol=1e-6)
    assert_lr_schedule_spans_the_run(scenario, steps)

    result = figures(scenario, steps)
    result["posterior_equals_replay"] = True
    result["max_lag"] = scenario.trainer.mopps_loader.metrics["max_lag"]
    out = os.environ.get("BAYESRL_FIGURES_DIR", str(tmp_path))
    with open(os.path.join(out, "openrlhf_figures.json"), "w") as handle:
        json.dump(result, handle, indent=2)
    print("openrlhf figures:", json.dumps(result))
    assert (
        result["mean_abs_p_minus_half_second_half"]
        < result["mean_abs_p_minus_half_first_half"]
    )
    assert result["correlation_posterior_mean_true_rate"] >= 0.8


def test_reward_model_mode(paths, tmp_path, monkeypatch, reference_posterior):
    episodes = 2
    steps = episodes * STEPS_PER_EPISODE
    start = len(world.read_reward_log(paths["reward_log"]))
    argv = run.ppo_argv(paths, tmp_path, episodes=episodes, reward_model=True)
    scenario = run.run_ppo(argv, monkeypatch)

    assert len(world.read_reward_log(paths["reward_log"])) == start  # no rule call
    assert_each_update_is_its_selection(scenario, steps)
    dataset = scenario.trainer.mopps_loader.dataset
    scored = scenario.actors["ScriptedRewardModelActor"].scored
    assert len(scored) == steps * ROWS_PER_STEP
    steps_rows = [
        (
            positions_of(dataset, [p for p, _ in chunk]),
            np.asarray([r for _, r in chunk]),
        )
        for chunk in (
            scored[i : i + ROWS_PER_STEP] for i in range(0, len(scored), ROWS_PER_STEP)
        )
    ]
    for update, step in zip(scenario.recorder.updates, steps_rows, strict=True):
        assert_same_rows(update, step)
    alpha, beta = reference_posterior(world.NUM_PROMPTS, steps_rows)
    np.testing.assert_allclose(posterior(scenario), (alpha, beta), rtol=1e-6)
    assert_lr_schedule_spans_the_run(scenario, steps)


@pytest.fixture(scope="module")
def uninterrupted(paths, tmp_path_factory):
    """Two episodes (8 steps) without interruption."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        run_dir = tmp_path_factory.mktemp("uninterrupted")
        return run.run_ppo(run.ppo_argv(paths, run_dir, episodes=2), monkeypatch)


@pytest.mark.parametrize("save_steps, crash_at", [(3, 5), (4, 6)])
def test_resume_from_openrlhf_checkpoint(
    paths, tmp_path, monkeypatch, uninterrupted, save_steps, crash_at
):
    """Crash after a checkpoint (mid-episode at step 3, at the episode
    boundary at step 4); ``--ckpt.load_enable`` continues exactly as the
    uninterrupted run: same selections, same feedback, same posterior."""
    save = ("--ckpt.save_steps", str(save_steps))
    crashed = Scenario(crash_at_fit=crash_at)
    with pytest.raises(SimulatedCrash):
        run.run_ppo(
            run.ppo_argv(paths, tmp_path, episodes=2, extra=save), monkeypatch, crashed
        )

    checkpoint = (
        tmp_path / "ckpt" / "_actor" / f"global_step{save_steps}" / MODEL_STATES
    )
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    loader_state = saved["data_loader_state_dict"]
    assert isinstance(loader_state["selector"]["alpha"], torch.Tensor)
    assert int(loader_state["selector"]["num_updates"]) == save_steps

    argv = run.ppo_argv(
        paths, tmp_path, episodes=2, extra=(*save, "--ckpt.load_enable")
    )
    resumed = run.run_ppo(argv, monkeypatch)
    before = uninterrupted.recorder
    after = resumed.recorder
    assert len(after.selections) == len(before.selections) - save_steps
    for mine, theirs in zip(
        after.selections, before.selections[save_steps:], strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)
    for mine, theirs in zip(after.updates, before.updates[save_steps:], strict=True):
        assert_same_rows(mine, theirs)
    np.testing.assert_array_equal(posterior(resumed)[0], posterior(uninterrupted)[0])
    np.testing.assert_array_equal(posterior(resumed)[1], posterior(uninterrupted)[1])
    policy = resumed.actors["CpuPolicyModelActor"]
    assert (
        policy.engine.global_steps
        == 2 * STEPS_PER_EPISODE * ROWS_PER_STEP // run.TRAIN_BATCH
    )
