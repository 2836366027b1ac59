"""MoPPS prompt selection for TRL's GRPO trainer (TRL 1.16).

Swap the trainer class; everything else stays::

    from bayesrl.integrations.trl import MoPPSGRPOTrainer

    trainer = MoPPSGRPOTrainer(
        model=model, reward_funcs=reward_fn, args=GRPOConfig(...),
        train_dataset=dataset, mopps_options={"candidate_multiplier": 8},
    )

Prompt choice. ``GRPOTrainer._get_train_sampler`` returns TRL's
``RepeatSampler``; this class returns :class:`MoPPSRepeatSampler`, which keeps
its index pattern exactly — per generation a chunk of
``B = generation_batch_size // num_generations`` prompts, each index emitted
``num_generations`` times in a row, the whole chunk emitted
``num_iterations * steps_per_generation`` times — but the chunk is MoPPS's
selection (Qu et al. 2025, arXiv:2507.04632): ``B_hat = candidate_multiplier *
B`` candidates from an epoch permutation, ``gamma_i ~ Beta(a_i, b_i)``, the
``B`` with the smallest ``(gamma_i - target)^2``. One pass of the sampler (one
trainer epoch) is ``floor(N / B_hat)`` chunks. Every process iterates its own
sampler with the same seed and receives the same gathered feedback, so the
streams are identical on every rank with no communication.

Feedback. ``_calculate_rewards`` (TRL's reward hook) returns the rewards of
every completion of every process (``gather``ed); the override gathers the
matching prompt ids with ``accelerate.utils.gather_object`` (same rank order)
and, in training mode only, updates the posterior with the completion reward
``r = sum_k w_k r_k`` over the reward functions (NaN-aware, TRL's
``sum_then_normalize`` rule) or one reward function (``success_reward_func``).
The success rule is the selector's (``evidence``, ``success_threshold``;
default ``r >= 1``). A completion no reward function scored (NaN) is left out
and counted (``mopps/num_unscored``); an infinite reward or an id outside the
dataset stops training with a ``ValueError``, the selector untouched.

Lag. The trainer pulls the ``gradient_accumulation_steps`` batches of an
optimizer step at once and accelerate's dataloader reads one batch further to
detect the end, so the chunk after the trained one may be selected before the
trained chunk's rewards arrive: :func:`prefetch_lag` selections (1 with TRL's
defaults ``steps_per_generation = gradient_accumulation_steps``,
``num_iterations = 1``; 0 when a chunk spans more batches than are read
ahead). Updates are attributed to the oldest selection still awaiting
feedback, so every ``mopps/*`` metric describes the batch that was trained;
``mopps/selections_ahead`` (per update) and ``mopps/max_lag`` report the
measured lag.
``dataloader_num_workers > 0`` is refused: worker prefetching would select
``num_workers * prefetch_factor`` more batches before any of their feedback,
and GRPO's loader only indexes the dataset, so workers bring no speed.

Ids. Prompts are keyed by a stable integer column (``prompt_id_column``); by
default a ``prompt_id`` column holding the dataset position is added. Requires
a map-style ``datasets.Dataset`` and ``remove_unused_columns=False`` (TRL's
default) so the column reaches the reward hook.

Checkpoints. Each checkpoint folder gets ``mopps_selector.npz`` (posterior,
key, counters and the selections awaiting feedback) and
``mopps_sampler.json`` (chunks of the current pass already selected);
``resume_from_checkpoint`` restores both. transformers then skips the part of
the interrupted pass already trained (``ignore_data_skip`` is forced to
False; the sampler emits placeholders for it, read by nothing), the sampler
re-emits the selections that were prefetched but not trained, and the pass
continues: the run proceeds with the same selections, posterior, sampled
completions and RNG states as an uninterrupted one. This needs a checkpoint
that ends a generation (every checkpoint with TRL's defaults); resuming from
one inside a generation, which TRL would regenerate, raises ``ValueError``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

try:
    import torch
    import trl
    from accelerate.utils import gather_object
    from torch.utils.data import Sampler
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
    from trl import GRPOTrainer
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "bayesrl.integrations.trl needs TRL: pip install 'bayesrl[trl]'"
    ) from error

from bayesrl.integrations._common import (
    PromptIdMap,
    SelectorAdapter,
    flat_metrics,
    load_state,
    save_state,
)

__all__ = [
    "MoPPSGRPOTrainer",
    "MoPPSRepeatSampler",
    "SAMPLER_FILE",
    "STATE_FILE",
    "SUPPORTED_TRL",
    "check_trl_version",
    "prefetch_lag",
]

logger = logging.getLogger("bayesrl.integrations")

#: File holding the selector state inside each checkpoint folder.
STATE_FILE = "mopps_selector.npz"
#: File holding the sampler's progress through its pass.
SAMPLER_FILE = "mopps_sampler.json"
#: TRL release series whose private hooks this module overrides.
SUPPORTED_TRL = "1.16"


def check_trl_version(version: str) -> None:
    """Raise ``ImportError`` unless ``version`` is in :data:`SUPPORTED_TRL`."""
    if version.split("+")[0].split(".")[:2] != SUPPORTED_TRL.split("."):
        raise ImportError(
            f"bayesrl.integrations.trl supports TRL {SUPPORTED_TRL}.x, found "
            f"trl {version}: it overrides GRPOTrainer's private hooks "
            "(_get_train_sampler, _calculate_rewards, _save_checkpoint); "
            "pip install 'bayesrl[trl]' installs the tested version"
        )


check_trl_version(trl.__version__)


def prefetch_lag(gradient_accumulation_steps: int, batches_per_selection: int) -> int:
    """Largest number of selections made after the one being trained, at
    the moment its rewards arrive, with TRL 1.16's map-style dataloader.

    Selection ``t`` owns dataloader batches ``tR .. tR + R - 1`` (``R =
    batches_per_selection = steps_per_generation * num_iterations``) and is
    generated and scored at batch ``tR``. By then the trainer has pulled
    the whole optimizer step, batches up to ``(floor(tR / A) + 1) A - 1``
    (``A = gradient_accumulation_steps``), and accelerate's
    ``DataLoaderShard`` one more, so the selections made are
    ``floor((floor(tR / A) + 1) A / R) + 1``; the lag is that minus
    ``t + 1``, maximised over ``t`` (periodic with period ``A / gcd(A, R)``).
    Fewer at the end of a pass, where nothing is read beyond it.
    """
    steps, per_selection = int(gradient_accumulation_steps), int(batches_per_selection)
    period = steps // math.gcd(steps, per_selection)
    return max(
        ((t * per_selection // steps + 1) * steps) // per_selection - t
        for t in range(period)
    )


class MoPPSRepeatSampler(Sampler[int]):
    """``RepeatSampler``'s index pattern with MoPPS choosing each chunk.

    Args:
        adapter: the selector; its batch size is the chunk size.
        mini_repeat_count: times each index is repeated in a row (G).
        repeat_count: times each whole chunk is repeated.

    Each pass yields ``floor(N / B_hat)`` chunks; a chunk is selected only
    when its first index is requested. ``state_dict`` holds the selections
    made in the current pass. After ``load_state_dict`` the next iteration
    resumes the interrupted pass: first one placeholder chunk (index 0) per
    chunk already trained, which transformers skips without reading
    (``skip_first_batches``), then the selections still awaiting feedback
    (prefetched, never trained), then new selections to the end of the pass.
    """

    def __init__(
        self, adapter: SelectorAdapter, mini_repeat_count: int, repeat_count: int
    ):
        self.adapter = adapter
        self.mini_repeat_count = int(mini_repeat_count)
        self.repeat_count = int(repeat_count)
        self.chunks_in_pass = 0
        self._skipped = 0
        self._replay: list[list[int]] = []

    def __iter__(self) -> Iterator[int]:
        skipped, replay = self._skipped, self._replay
        self._skipped, self._replay = 0, []
        if (
            not (skipped or replay)
            and self.chunks_in_pass >= self.adapter.steps_per_epoch
        ):
            self.chunks_in_pass = 0
        for _ in range(skipped):
            yield from self._repeat([0] * self.adapter.batch_size)
        for chunk in replay:
            yield from self._repeat(chunk)
        while self.chunks_in_pass < self.adapter.steps_per_epoch:
            chunk = self.adapter.select().tolist()
            self.chunks_in_pass += 1
            yield from self._repeat(chunk)

    def state_dict(self) -> dict[str, int]:
        return {"chunks_in_pass": self.chunks_in_pass}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the pass progress; call after loading the adapter."""
        self.chunks_in_pass = int(state["chunks_in_pass"])
        pending = self.adapter.selector.pending_selections()
        self._replay = [chunk.tolist() for chunk in pending]
        at_pass_end = self.chunks_in_pass >= self.adapter.steps_per_epoch
        trained = self.chunks_in_pass - len(pending)
        self._skipped = 0 if at_pass_end and not pending else trained

    def _repeat(self, chunk: list[int]) -> Iterator[int]:
        for _ in range(self.repeat_count):
            for index in chunk:
                for _ in range(self.mini_repeat_count):
                    yield index

    def __len__(self) -> int:
        return (
            self.adapter.steps_per_epoch
            * self.adapter.batch_size
            * self.mini_repeat_count
            * self.repeat_count
        )


class MoPPSGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose prompts are chosen by MoPPS (module docstring).

    Args:
        *args, **kwargs: those of ``trl.GRPOTrainer``.
        mopps_options: keywords of :func:`bayesrl.prompts.mopps`
            (``candidate_multiplier``, ``target``, ``discount``, ``evidence``,
            ``success_threshold``, ...). The seed is ``args.seed``.
        prompt_id_column: integer column of stable prompt ids; None adds
            ``prompt_id`` = dataset position.
        success_reward_func: index of the reward function whose value decides
            success; None uses the weighted sum of all of them.

    Raises:
        ValueError: an iterable dataset, ``remove_unused_columns=True``,
            ``dataloader_num_workers > 0``, ``dispatch_batches=True``, a
            missing or non-integer/duplicated id column, or a
            ``success_reward_func`` out of range.
    """

    def __init__(
        self,
        *args: Any,
        mopps_options: dict[str, Any] | None = None,
        prompt_id_column: str | None = None,
        success_reward_func: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self._check_configuration(success_reward_func)
        if prompt_id_column is None:
            prompt_id_column = "prompt_id"
            if prompt_id_column not in self.train_dataset.column_names:
                self.train_dataset = self.train_dataset.add_column(
                    prompt_id_column, list(range(len(self.train_dataset)))
                )
        if prompt_id_column not in self.train_dataset.column_names:
            raise ValueError(f"the train dataset has no column {prompt_id_column!r}")
        self.prompt_id_column = prompt_id_column
        self.success_reward_func = success_reward_func
        self.mopps = SelectorAdapter(
            PromptIdMap(self.train_dataset[prompt_id_column], source=prompt_id_column),
            self.args.generation_batch_size // self.num_generations,
            seed=int(self.args.seed),
            **(mopps_options or {}),
        )
        self.mopps_sampler = MoPPSRepeatSampler(
            self.mopps,
            mini_repeat_count=self.num_generations,
            repeat_count=self._batches_per_selection,
        )
        #: Selections made ahead of the trained one (module docstring, Lag).
        self.mopps_expected_lag = prefetch_lag(
            self.args.gradient_accumulation_steps, self._batches_per_selection
        )
        if self.args.ignore_data_skip:
            logger.warning(
                "MoPPSGRPOTrainer sets ignore_data_skip=False: on resume "
                "transformers skips the trained part of the pass (module doc)"
            )
            self.args.ignore_data_skip = False

    @property
    def _batches_per_selection(self) -> int:
        return self.num_iterations * self.args.steps_per_generation

    def _check_configuration(self, success_reward_func: int | None) -> None:
        from datasets import Dataset

        if not isinstance(self.train_dataset, Dataset):
            raise ValueError(
                "MoPPSGRPOTrainer needs a map-style datasets.Dataset "
                "(an IterableDataset bypasses the sampler)"
            )
        if self.args.remove_unused_columns:
            raise ValueError(
                "set remove_unused_columns=False (TRL's default) so the prompt id "
                "column reaches the reward hook"
            )
        if self.args.dataloader_num_workers > 0:
            raise ValueError(
                f"MoPPSGRPOTrainer needs dataloader_num_workers=0, got "
                f"{self.args.dataloader_num_workers}: each worker prefetches "
                "prefetch_factor batches, so MoPPS would choose that many more "
                "generations before seeing any of their rewards (and the workers "
                "fork a process running JAX); GRPO's loader only indexes the "
                "dataset, so workers give no speed-up"
            )
        if self.args.accelerator_config.dispatch_batches:
            raise ValueError(
                "MoPPSGRPOTrainer needs accelerator_config.dispatch_batches "
                "False or None: every process iterates its own sampler"
            )
        if success_reward_func is not None and not (
            0 <= success_reward_func < len(self.reward_funcs)
        ):
            raise ValueError(
                f"success_reward_func must index one of {len(self.reward_funcs)} "
                f"reward functions, got {success_reward_func}"
            )

    def _get_train_sampler(self, dataset=None) -> Sampler:
        return self.mopps_sampler

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        if self.model.training:
            missing = [
                i for i, row in enumerate(inputs) if self.prompt_id_column not in row
            ]
            if missing:
                raise ValueError(
                    f"rows {missing[:10]} of the batch lack the prompt id column "
                    f"{self.prompt_id_column!r}; the prompt selector was not updated"
                )
        rewards_per_func = super()._calculate_rewards(
            inputs, prompts, completions, completion_ids_list
        )
        if self.model.training:
            ids = gather_object([row[self.prompt_id_column] for row in inputs])
            rewards = self._success_rewards(rewards_per_func)
            info = self.mopps.update_from_ids(ids, rewards, allow_unscored=True)
            for name, value in flat_metrics(info).items():
                self._metrics["train"][f"mopps/{name}"].append(value)
        return rewards_per_func

    def _success_rewards(self, rewards_per_func: torch.Tensor) -> np.ndarray:
        """One reward per completion; NaN where no reward function scored it."""
        values = rewards_per_func.detach().to("cpu", torch.float64)
        if self.success_reward_func is not None:
            return values[:, self.success_reward_func].numpy()
        weights = self.reward_weights.detach().to("cpu", torch.float64)
        total = (values * weights.unsqueeze(0)).nansum(dim=1)
        total[torch.isnan(values).all(dim=1)] = torch.nan
        return total.numpy()

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if not self._ends_a_generation():
            logger.warning(
                "checkpoint-%d ends inside a generation (steps_per_generation * "
                "num_iterations = %d micro-batches): resuming from it is refused",
                self.state.global_step,
                self._batches_per_selection,
            )
        if self.args.should_save:
            folder = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            output_dir = os.path.join(self._get_output_dir(trial=trial), folder)
            save_state(os.path.join(output_dir, STATE_FILE), self.mopps.state_dict())
            with open(os.path.join(output_dir, SAMPLER_FILE), "w") as handle:
                json.dump(self.mopps_sampler.state_dict(), handle)

    def _ends_a_generation(self) -> bool:
        """Whether the optimizer steps so far end a generation and the
        trainer's epochs hold whole optimizer steps, so that transformers'
        skip on resume (``global_step`` x ``gradient_accumulation_steps``
        micro-batches, modulo the epoch) covers whole selections."""
        accumulation = self.args.gradient_accumulation_steps
        micro_batches = self.state.global_step * accumulation
        pass_batches = self.mopps.steps_per_epoch * self._batches_per_selection
        return (
            micro_batches % self._batches_per_selection == 0
            and pass_batches % accumulation == 0
        )

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = os.path.join(checkpoint, STATE_FILE)
        if not os.path.exists(path):
            logger.warning(
                "%s has no %s: the prompt selector starts from its prior",
                checkpoint,
                STATE_FILE,
            )
            return
        if not self._ends_a_generation():
            raise ValueError(
                f"{checkpoint} ends inside a generation (global step "
                f"{self.state.global_step} x gradient_accumulation_steps is not a "
                "multiple of steps_per_generation * num_iterations, or a pass is "
                "not a whole number of optimizer steps): TRL would regenerate the "
                "buffered batch, so the run cannot continue as it would have; "
                "resume from a checkpoint that ends a generation"
            )
        with open(os.path.join(checkpoint, SAMPLER_FILE)) as handle:
            sampler_state = json.load(handle)
        self.mopps.load_state_dict(load_state(path))
        self.mopps_sampler.load_state_dict(sampler_state)
