"""MoPPS prompt selection for TRL's GRPO trainer (tested against TRL 1.16.0).

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
``B`` with the smallest ``(gamma_i - target)^2``. Every process iterates its
own sampler with the same seed and receives the same gathered feedback, so the
streams are identical on every rank with no communication.

Feedback. ``_calculate_rewards`` (TRL's reward hook) returns the rewards of
every completion of every process (``gather``ed); the override gathers the
matching prompt ids with ``accelerate.utils.gather_object`` (same rank order)
and, in training mode only, updates the posterior with the completion reward
``r = sum_k w_k r_k`` over the reward functions (NaN-aware, the
``sum_then_normalize`` rule; completions with no reward are left out) or one
reward function (``success_reward_func``). The success rule is the selector's
(``evidence``, ``success_threshold``; default ``r >= 1``). The dataloader
fetches one batch ahead, so the prompts of generation ``t + 1`` may be chosen
before the rewards of ``t`` arrive (lag 1, reported as ``mopps/max_lag``).
Every scalar the selector reports per update (``zero_variance_fraction``,
``solve_none``, ``solve_all``, posterior-mean quantiles, ``rho_selected``,
``rho_selected_mopps``, ...) is logged as ``mopps/<name>``.

Ids. Prompts are keyed by a stable integer column (``prompt_id_column``); by
default a ``prompt_id`` column holding the dataset position is added. Requires
a map-style ``datasets.Dataset`` and ``remove_unused_columns=False`` (TRL's
default) so the column reaches the reward hook.

Checkpoints. The selector state is written to ``mopps_selector.npz`` in each
checkpoint folder (``_save_checkpoint``) and restored on resume
(``_load_optimizer_and_scheduler``, which transformers calls whenever it
resumes, and where GRPOTrainer restores its own extra state).
``ignore_data_skip`` is forced on: transformers would otherwise fast-forward
the dataloader by re-running selections.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

try:
    import torch
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

__all__ = ["MoPPSGRPOTrainer", "MoPPSRepeatSampler", "STATE_FILE"]

logger = logging.getLogger("bayesrl.integrations")

#: File holding the selector state inside each checkpoint folder.
STATE_FILE = "mopps_selector.npz"


class MoPPSRepeatSampler(Sampler[int]):
    """``RepeatSampler``'s index pattern with MoPPS choosing each chunk.

    Args:
        adapter: the selector; its batch size is the chunk size.
        mini_repeat_count: times each index is repeated in a row (G).
        repeat_count: times each whole chunk is repeated.

    Yields ``floor(N / B_hat)`` chunks per pass; each chunk is selected only
    when its first index is requested.
    """

    def __init__(
        self, adapter: SelectorAdapter, mini_repeat_count: int, repeat_count: int
    ):
        self.adapter = adapter
        self.mini_repeat_count = int(mini_repeat_count)
        self.repeat_count = int(repeat_count)

    def __iter__(self) -> Iterator[int]:
        for _ in range(self.adapter.steps_per_epoch):
            chunk = self.adapter.select().tolist()
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
        if success_reward_func is not None and not (
            0 <= success_reward_func < len(self.reward_funcs)
        ):
            raise ValueError(
                f"success_reward_func must index one of {len(self.reward_funcs)} "
                f"reward functions, got {success_reward_func}"
            )
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
        if not self.args.ignore_data_skip:
            logger.info("MoPPSGRPOTrainer sets ignore_data_skip=True (see module doc)")
            self.args.ignore_data_skip = True

    def _get_train_sampler(self, dataset=None) -> Sampler:
        return MoPPSRepeatSampler(
            self.mopps,
            mini_repeat_count=self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
        )

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(
            inputs, prompts, completions, completion_ids_list
        )
        if self.model.training:
            local_ids = [example[self.prompt_id_column] for example in inputs]
            ids = gather_object(local_ids)
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
        if self.args.should_save:
            folder = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            output_dir = os.path.join(self._get_output_dir(trial=trial), folder)
            save_state(os.path.join(output_dir, STATE_FILE), self.mopps.state_dict())

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None:
            path = os.path.join(checkpoint, STATE_FILE)
            if os.path.exists(path):
                self.mopps.load_state_dict(load_state(path))
