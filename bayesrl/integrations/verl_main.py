"""MoPPS prompt selection on verl >= 0.8 (tested against verl 0.9.1).

verl 0.8 removed the curriculum-sampler interface (``data.sampler.class_path``
and its ``update(batch)`` call) that :mod:`bayesrl.integrations.verl` uses on
verl 0.7.1. This module runs verl's own PPO entry point with a trainer that
selects each step's prompts with MoPPS and feeds the step's rewards back::

    python -m bayesrl.integrations.verl_main \\
        <the overrides you pass to python -m verl.trainer.main_ppo> \\
        +mopps.candidate_multiplier=8 +mopps.target=0.5

What runs is verl's: Hydra composes ``verl/trainer/config/ppo_trainer.yaml``
with the overrides (``--config-path``/``--config-name`` work as with verl),
``run_ppo`` starts Ray and verl's ``TaskRunner`` (``main_ppo_v0`` on 0.9, the
``RayPPOTrainer`` one), which builds the datasets, worker groups and reward
loop as usual; only ``RayPPOTrainer`` is replaced by
:class:`MoPPSRayPPOTrainer`, which passes :class:`MoPPSSampler` as
``train_sampler``. Two defaults differ from ``main_ppo`` (later overrides
still win): ``trainer.use_v1=false`` (the v1 trainer of 0.9 builds its own
sampler and keeps batches in TransferQueue; it is refused) and
``data.dataloader_num_workers=0`` (workers prefetch selections before the
rewards of the current step arrive; any other value is refused).

Selection (Qu et al. 2025, "Can Prompt Difficulty be Online Predicted for
Accelerating RL Finetuning of Reasoning Models?", arXiv:2507.04632): per step
``B = data.gen_batch_size or data.train_batch_size`` prompts, chosen among
``B_hat = candidate_multiplier * B`` candidates of an epoch permutation as the
``B`` whose Thompson draw ``gamma_i ~ Beta(a_i, b_i)`` is closest to
``target``. One loader epoch is ``floor(N / B_hat)`` steps: scale
``trainer.total_epochs`` by ``B_hat / B`` or set
``trainer.total_training_steps``.

Feedback: verl's ``fit`` sets ``token_level_scores`` (the reward on the last
response token) after the reward in every reward mode (streamed by the reward
loop, or a colocated reward model), and the first trainer method that gets
the full batch afterwards is ``_update_critic`` (with a critic) or
``_update_actor``; MoPPS is fed there, once per step, from one row per
response: ``extra_info.index`` (verl's ``_get_gen_batch`` moves the
``index`` column out of the batch; ``extra_info`` stays) and
``token_level_scores.sum(-1)`` or the column named by ``mopps.reward_key``.
The next step's prompts are selected after that, so the lag is 0. MoPPS
metrics are logged as ``mopps/*`` with that update's trainer metrics.

Checkpointing: the update runs before verl's ``_save_checkpoint`` of the same
step, so ``global_step_k`` holds the posterior after step ``k``. The selector
is written next to verl's files as ``mopps_sampler.npz`` (no pickle) and
restored from it on resume; verl's ``data.pt`` holds the loader position
(the selections made in the current epoch). verl 0.9 does not restore
``data.pt`` at an epoch boundary; the next epoch then starts fresh, as in an
uninterrupted run.

Refused, with a ``ValueError`` before Ray starts: ``trainer.use_v1=true``,
``data.dataloader_num_workers > 0``, ``trainer.critic_warmup > 0`` without a
critic (those steps skip the actor update, where MoPPS is fed), a custom
``train_sampler``; ``data.shuffle`` has no effect (MoPPS draws its own
candidate permutations). Unknown prompt ids, non-finite scores or a batch
without ``extra_info.index`` stop the step with a ``ValueError``, the
selector unchanged.

Options under ``mopps``: ``seed`` (default ``data.seed`` or 0),
``reward_key`` (default: ``token_level_scores``) and every keyword of
:func:`bayesrl.prompts.mopps` (``candidate_multiplier``, ``target``,
``discount``, ``evidence``, ``success_threshold``, ...).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sized
from typing import Any

try:
    import verl
except ImportError as error:  # pragma: no cover - exercised without verl
    raise ImportError(
        "bayesrl.integrations.verl_main needs verl >= 0.8: pip install "
        "'bayesrl[verl09]' then pip install --no-deps verl==0.9.1"
    ) from error


from packaging.version import Version  # noqa: E402

if Version(verl.__version__) < Version("0.8"):
    raise ImportError(
        f"bayesrl.integrations.verl_main needs verl >= 0.8, found {verl.__version__}; "
        "on verl 0.7 use the curriculum sampler bayesrl.integrations.verl "
        "(data.sampler.class_path=pkg://bayesrl.integrations.verl)"
    )


def _legacy_runner_module():
    """verl's module whose ``TaskRunner`` builds a ``RayPPOTrainer``."""
    for name in ("verl.trainer.main_ppo_v0", "verl.trainer.main_ppo"):
        with contextlib.suppress(ModuleNotFoundError):
            module = importlib.import_module(name)
            if hasattr(module, "TaskRunner") and hasattr(module, "RayPPOTrainer"):
                return module
    raise ImportError(
        f"verl {verl.__version__} has no TaskRunner building RayPPOTrainer "
        "(verl.trainer.main_ppo_v0); bayesrl.integrations.verl_main supports "
        "the RayPPOTrainer loop of verl 0.8 and 0.9"
    )


_RUNNER_MODULE = _legacy_runner_module()

from torch.utils.data import Sampler, SequentialSampler  # noqa: E402
from torchdata.stateful_dataloader.sampler import RandomSampler  # noqa: E402
from verl.trainer.ppo.ray_trainer import RayPPOTrainer  # noqa: E402
from verl.trainer.ppo.utils import need_critic  # noqa: E402

from bayesrl.integrations._common import (  # noqa: E402
    EpochSelections,
    flat_metrics,
    load_state,
    save_state,
)
from bayesrl.integrations._verl_feedback import (  # noqa: E402
    batch_prompt_ids,
    batch_rewards,
    selector_from_config,
)

__all__ = [
    "MoPPSRayPPOTrainer",
    "MoPPSSampler",
    "MoPPSTaskRunner",
    "SAMPLER_STATE_FILE",
    "main",
    "run",
]

SAMPLER_STATE_FILE = "mopps_sampler.npz"
# verl 0.9's main_ppo defaults to the v1 trainer; 0.8 has no such switch.
DEFAULT_OVERRIDES = ("data.dataloader_num_workers=0",) + (
    ("trainer.use_v1=false",) if _RUNNER_MODULE.__name__.endswith("_v0") else ()
)


class MoPPSSampler(Sampler[int]):
    """Dataset positions chosen by MoPPS, ``B`` per step (see the module docstring).

    Args:
        dataset: verl's training dataset (``RLHFDataset``).
        config: the whole trainer config; reads ``data`` and ``mopps``.
    """

    def __init__(self, dataset: Sized, config: Any):
        self.adapter, self.reward_key = selector_from_config(
            dataset, config.data, config.get("mopps", None)
        )

    def __len__(self) -> int:
        return self.adapter.batch_size * self.adapter.steps_per_epoch

    def __iter__(self) -> Iterator[int]:
        # StatefulDataLoader checkpoints this iterator's position in the epoch.
        return EpochSelections(self.adapter)

    def update(self, batch: Any) -> dict[str, float]:
        """Feed back a step's responses (one ``DataProto`` row each, any order)."""
        ids = batch_prompt_ids(batch)
        rewards = batch_rewards(batch, self.reward_key)
        self.adapter.update_from_ids(ids, rewards)
        return flat_metrics(self.adapter.metrics)


class MoPPSRayPPOTrainer(RayPPOTrainer):
    """verl's ``RayPPOTrainer`` with MoPPS prompt selection.

    Takes verl's constructor arguments; ``train_dataset`` is required and the
    ``train_sampler`` verl's ``TaskRunner`` passes (its sequential or random
    default) is replaced by :class:`MoPPSSampler`.
    """

    def _create_dataloader(self, train_dataset, val_dataset, collate_fn, train_sampler):
        if train_dataset is None:
            raise ValueError(
                "MoPPSRayPPOTrainer needs train_dataset (verl's TaskRunner passes it)"
            )
        if train_sampler is not None and type(train_sampler) not in (
            SequentialSampler,
            RandomSampler,
        ):
            raise ValueError(
                f"MoPPSRayPPOTrainer selects prompts itself; got a custom "
                f"train_sampler {type(train_sampler).__name__}"
            )
        _check_trainer_config(self.config)
        self.mopps_sampler = MoPPSSampler(train_dataset, self.config)
        self._mopps_fed_step = None
        super()._create_dataloader(
            train_dataset, val_dataset, collate_fn, self.mopps_sampler
        )

    def _feed_mopps(self, batch) -> dict[str, float]:
        """Update MoPPS from the step's batch, once per step; its metrics."""
        if self._mopps_fed_step == self.global_steps:
            return {}
        metrics = self.mopps_sampler.update(batch)
        self._mopps_fed_step = self.global_steps
        return {f"mopps/{name}": value for name, value in metrics.items()}

    def _update_critic(self, batch):
        metrics = self._feed_mopps(batch)
        output = super()._update_critic(batch)
        output.meta_info.setdefault("metrics", {}).update(metrics)
        return output

    def _update_actor(self, batch):
        metrics = self._feed_mopps(batch)
        output = super()._update_actor(batch)
        output.meta_info.setdefault("metrics", {}).update(metrics)
        return output

    def _save_checkpoint(self):
        folder = os.path.join(
            self.config.trainer.default_local_dir, f"global_step_{self.global_steps}"
        )
        os.makedirs(folder, exist_ok=True)
        save_state(
            os.path.join(folder, SAMPLER_STATE_FILE),
            self.mopps_sampler.adapter.state_dict(),
        )
        super()._save_checkpoint()

    def _load_checkpoint(self):
        result = super()._load_checkpoint()
        if self.global_steps:
            path = os.path.join(self._resumed_folder(), SAMPLER_STATE_FILE)
            if not os.path.exists(path):
                raise ValueError(
                    f"resuming step {self.global_steps} but {path} does not exist: the "
                    "checkpoint was not written by MoPPSRayPPOTrainer"
                )
            self.mopps_sampler.adapter.load_state_dict(load_state(path))
        return result

    def _resumed_folder(self) -> str:
        trainer = self.config.trainer
        if trainer.resume_mode == "resume_path":
            return os.path.abspath(trainer.resume_from_path)
        return os.path.abspath(
            os.path.join(trainer.default_local_dir, f"global_step_{self.global_steps}")
        )


def _check_trainer_config(config) -> None:
    """Refuse settings under which a step's feedback would not precede the
    next selection or would be skipped."""
    workers = config.data.get("dataloader_num_workers", 0)
    if workers:
        raise ValueError(
            f"data.dataloader_num_workers={workers}: MoPPS needs 0 (worker processes "
            "prefetch the next selections before this step's rewards arrive)"
        )
    warmup = config.trainer.get("critic_warmup", 0)
    if warmup and not need_critic(config):
        raise ValueError(
            f"trainer.critic_warmup={warmup} without a critic skips the actor update "
            "of those steps, where MoPPS is fed; set trainer.critic_warmup=0"
        )


_LegacyTaskRunner = getattr(
    _RUNNER_MODULE.TaskRunner, "__ray_actor_class__", _RUNNER_MODULE.TaskRunner
)


class MoPPSTaskRunner(_LegacyTaskRunner):
    """verl's ``TaskRunner`` building :class:`MoPPSRayPPOTrainer` (a plain
    class; ``run`` wraps it with ``ray.remote``)."""

    trainer_class = MoPPSRayPPOTrainer

    def __init__(self):
        # Ray pickles the actor's constructor by value when it cannot import
        # it by name, as with verl's (its module holds the ``ray.remote``
        # wrapper): the copy's ``super()`` would then refer to a copy of
        # verl's class, not to this class's base. This one imports by name.
        super().__init__()

    def run(self, config):
        with _trainer_class_in(_RUNNER_MODULE, self.trainer_class):
            return super().run(config)


@contextlib.contextmanager
def _trainer_class_in(module, trainer_class):
    """Let ``module``'s ``TaskRunner.run`` build ``trainer_class``."""
    original = module.RayPPOTrainer
    module.RayPPOTrainer = trainer_class
    try:
        yield
    finally:
        module.RayPPOTrainer = original


def run(config, task_runner_class: type = MoPPSTaskRunner) -> None:
    """Check ``config`` and run verl's ``run_ppo`` with ``task_runner_class``."""
    import ray
    from verl.trainer.main_ppo import run_ppo

    if config.trainer.get("use_v1", False):
        raise ValueError(
            "trainer.use_v1=true: MoPPS runs verl's RayPPOTrainer loop; the v1 "
            "trainer is not supported (drop the override)"
        )
    _check_trainer_config(config)
    with contextlib.suppress(ImportError):  # verl 0.9: NPU detection
        from verl.utils.device import auto_set_device

        auto_set_device(config)
    run_ppo(config, task_runner_class=ray.remote(task_runner_class))


def main(
    argv: list[str] | None = None, task_runner_class: type = MoPPSTaskRunner
) -> None:
    """Command line: Hydra composes verl's ``ppo_trainer`` with
    ``DEFAULT_OVERRIDES`` then ``argv`` (default ``sys.argv[1:]``), and
    :func:`run` trains."""
    import hydra

    def train(config) -> None:
        run(config, task_runner_class)

    args = list(sys.argv[1:] if argv is None else argv)
    saved = sys.argv
    sys.argv = [saved[0], *DEFAULT_OVERRIDES, *args]
    try:
        hydra.main(
            config_path="pkg://verl.trainer.config",
            config_name="ppo_trainer",
            version_base=None,
        )(train)()
    finally:
        sys.argv = saved


if __name__ == "__main__":
    main()
