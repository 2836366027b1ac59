"""One OpenRLHF PPO run on CPU through ``bayesrl.integrations.openrlhf.main``.

:func:`run_ppo` calls the entry point users run
(``python -m bayesrl.integrations.openrlhf --mopps.* ... <train_ppo_ray
arguments>``): OpenRLHF's own ``train_ppo_ray`` parser, argument checks and
``train()`` driver run, which builds the strategy, the engines and model
groups, the MoPPS ``PPOTrainer``, reads ``get_max_steps()``, initialises the
models with it and calls ``fit()``. Replaced (see :mod:`openrlhf_fit.actors`):
``create_vllm_engines`` (scripted engines), ``RayActorGroup._initiate_actors``
(in-process CPU actors), and the trainer actor, which runs in this process.
The trainer's MoPPS adapter is observed, not changed: every selection and
every update it receives are recorded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch.distributed as dist

from . import stand_ins, world

stand_ins.install()

import openrlhf.trainer.ray as openrlhf_ray  # noqa: E402
import openrlhf.trainer.ray.launcher as launcher  # noqa: E402

from bayesrl.integrations.openrlhf import main  # noqa: E402

from .actors import (  # noqa: E402
    InProcessActor,
    Scenario,
    local_actor_group,
    scripted_vllm_engines,
)

BATCH = 4
SAMPLES = 8
MULTIPLIER = 4  # B_hat = 16: 4 selections per candidate epoch of 64 prompts
TRAIN_BATCH = 16
MICRO_BATCH = 8


def make_world(tmp: Path) -> dict[str, Path]:
    """Model folder, prompts file and reward function under ``tmp``."""
    paths = {"model": tmp / "model", "data": tmp / "prompts.jsonl"}
    paths["reward_log"] = tmp / "reward_log.jsonl"
    world.build_model_dir(paths["model"])
    world.write_dataset(paths["data"])
    paths["reward_func"] = world.write_reward_func(
        tmp / "reward_func.py", paths["reward_log"]
    )
    return paths


def ppo_argv(
    paths,
    run_dir: Path,
    *,
    episodes: int,
    reward_model: bool = False,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """``--mopps.*`` options plus ``train_ppo_ray`` arguments for a tiny run."""
    reward = (
        ["--reward.model_name_or_path", str(paths["model"])]
        if reward_model
        else ["--reward.remote_url", str(paths["reward_func"])]
    )
    numbers = {
        "--mopps.candidate_multiplier": MULTIPLIER,
        "--rollout.batch_size": BATCH,
        "--rollout.n_samples_per_prompt": SAMPLES,
        "--rollout.micro_batch_size": MICRO_BATCH,
        "--rollout.max_new_tokens": 6,
        "--data.max_len": 24,
        "--train.batch_size": TRAIN_BATCH,
        "--train.micro_batch_size": MICRO_BATCH,
        "--train.num_episodes": episodes,
        "--train.seed": 7,
        "--algo.kl.init_coef": 0,
        "--vllm.num_engines": 1,
    }
    for group in ("actor", "reward"):
        numbers[f"--{group}.num_nodes"] = 1
        numbers[f"--{group}.num_gpus_per_node"] = 1
    argv = [token for pair in numbers.items() for token in map(str, pair)]
    return (
        argv
        + reward
        + [
            "--actor.model_name_or_path",
            str(paths["model"]),
            "--data.prompt_dataset",
            str(paths["data"]),
            "--data.input_key",
            "input",
            "--data.label_key",
            "label",
            "--algo.advantage.estimator",
            "group_norm",
            "--ds.attn_implementation",
            "eager",
            "--ckpt.path",
            str(run_dir / "ckpt"),
            "--ckpt.output_dir",
            str(run_dir / "out"),
            *extra,
        ]
    )


class Recorder:
    """Every selection and update the trainer's MoPPS adapter makes."""

    def __init__(self):
        self.selections: list[np.ndarray] = []
        self.updates: list[tuple[np.ndarray, np.ndarray]] = []
        self.selections_at_update: list[int] = []

    def watch(self, adapter) -> None:
        select, update = adapter.select, adapter.update_from_ids

        def recorded_select():
            positions = select()
            self.selections.append(positions.copy())
            return positions

        def recorded_update(ids, rewards, allow_unscored=False):
            info = update(ids, rewards, allow_unscored)
            positions = adapter.id_map.positions(ids)
            self.updates.append((positions, np.asarray(rewards, dtype=float)))
            self.selections_at_update.append(len(self.selections))
            return info

        adapter.select, adapter.update_from_ids = recorded_select, recorded_update


def trainer_actor(scenario: Scenario, recorder: Recorder):
    """``as_actor`` for :func:`main`: the trainer runs in this process."""

    def as_actor(trainer_class):
        def remote(*args, **kwargs):
            trainer = trainer_class(*args, **kwargs)
            recorder.watch(trainer.mopps_loader.adapter)
            scenario.trainer = trainer
            return InProcessActor(trainer)

        return type("InProcessTrainer", (), {"remote": staticmethod(remote)})

    return as_actor


def run_ppo(argv: list[str], monkeypatch, scenario: Scenario | None = None):
    """Run ``main(argv)``; return the scenario, with the adapter's record as
    ``scenario.recorder`` (set before the run: a
    :class:`~openrlhf_fit.actors.SimulatedCrash` propagates)."""
    scenario = scenario or Scenario()
    recorder = scenario.recorder = Recorder()
    stand_ins.patch_single_cpu_process(monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(launcher, "RayActorGroup", local_actor_group(scenario))
        patch.setattr(
            openrlhf_ray, "create_vllm_engines", scripted_vllm_engines(scenario)
        )
        try:
            main(argv, as_actor=trainer_actor(scenario, recorder))
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
    return scenario
