"""MoPPS prompt selection for OpenRLHF's PPO trainer (tested against 0.11.2).

OpenRLHF has no sampler hook: ``PPOTrainer`` builds a ``PromptDataset`` and a
``StatefulDataLoader`` over it (batch size 1), and its ``SamplesGenerator``
pulls prompts with ``next(dataloader_iter)``, ``rollout.batch_size`` at a time.
:class:`MoPPSPromptLoader` replaces that dataloader: it yields the same
``(datasources, prompts, labels, images)`` batches of one prompt
(``PromptDataset.collate_fn``'s format), ``B`` per MoPPS selection (Qu et al.
2025, arXiv:2507.04632: ``B_hat = candidate_multiplier * B`` candidates from
an epoch permutation, ``gamma_i ~ Beta(a_i, b_i)``, the ``B`` closest to
``target``), and learns from the ``Experience`` objects the generator returns
(``Experience.scores``, else ``Experience.rewards``; one row per response).

Ids. An ``Experience`` carries the prompt text but no dataset index, so
prompts are keyed by a 63-bit hash of their text (identical texts are refused
at construction: deduplicate the dataset first).

Use inside the trainer (the trainer is a Ray actor; subclass the actor's class
and attach in ``__init__``)::

    from openrlhf.trainer.ppo_trainer import PPOTrainer
    from bayesrl.integrations.openrlhf import MoPPSPromptLoader

    @ray.remote
    class MoPPSPPOTrainer(PPOTrainer.__ray_actor_class__):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            MoPPSPromptLoader.from_trainer(self, candidate_multiplier=8).attach(self)

``attach`` swaps the trainer's and the generator's ``prompts_dataloader`` and
feeds every batch of rollouts ``generate_samples`` returns back to the
selector; run with ``--algo.dynamic_filtering_enable`` off (dropped groups
never reach the trainer, which would bias the posterior towards 0.5; MoPPS
replaces dynamic filtering). ``len(loader)`` is ``B * floor(N / B_hat)``
prompts: one loader epoch is one candidate epoch. The trainer stores
``prompts_dataloader.state_dict()`` in its checkpoints and calls
``load_state_dict`` on resume: the selector, its RNG and the position within
the epoch are restored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from bayesrl.integrations._common import (
    EpochSelections,
    PromptIdMap,
    SelectorAdapter,
    text_ids,
)

__all__ = ["MoPPSPromptLoader"]


class MoPPSPromptLoader:
    """Replacement of OpenRLHF's prompts dataloader driven by MoPPS.

    Args:
        prompts_dataset: an OpenRLHF ``PromptDataset`` (``prompts``,
            ``labels``, ``datasources``, ``images`` lists and ``__getitem__``
            returning ``(datasource, prompt, label, image)``).
        batch_size: prompts per step, ``rollout.batch_size``.
        seed: selector seed.
        **mopps_options: keywords of :func:`bayesrl.prompts.mopps`
            (``candidate_multiplier``, ``target``, ``discount``, ``evidence``,
            ``success_threshold`` — 1.0 by default —, ...).
    """

    def __init__(
        self, prompts_dataset, batch_size: int, seed: int = 0, **mopps_options
    ):
        self.dataset = prompts_dataset
        self.adapter = SelectorAdapter(
            PromptIdMap(text_ids(prompts_dataset.prompts), source="prompt text hash"),
            batch_size,
            seed=seed,
            **mopps_options,
        )
        self._selections: EpochSelections | None = None
        self._resume_progress: dict[str, Any] | None = None

    @classmethod
    def from_trainer(cls, trainer, **mopps_options) -> MoPPSPromptLoader:
        """A loader over ``trainer``'s prompt dataset, with its batch size and
        seed (``rollout.batch_size``, ``train.seed``)."""
        args = trainer.args
        return cls(
            trainer.prompts_dataloader.dataset,
            args.rollout.batch_size,
            seed=int(args.train.seed),
            **mopps_options,
        )

    def attach(self, trainer) -> MoPPSPromptLoader:
        """Make ``trainer`` (a ``PPOTrainer`` instance) draw its prompts here
        and feed back every batch of rollouts it generates."""
        if getattr(trainer.args.algo, "dynamic_filtering_enable", False):
            raise ValueError(
                "turn --algo.dynamic_filtering_enable off: filtered groups never "
                "reach the trainer and the posterior would only see the rest"
            )
        generator = trainer.samples_generator
        trainer.prompts_dataloader = self
        generator.prompts_dataloader = self
        generate_samples = generator.generate_samples

        def generate_and_learn(**generate_kwargs):
            result = generate_samples(**generate_kwargs)
            if result[0]:
                self.update(result[0])
            return result

        generator.generate_samples = generate_and_learn
        return self

    def __len__(self) -> int:
        return self.adapter.batch_size * self.adapter.steps_per_epoch

    def __iter__(self) -> Iterator[tuple[list, list, list, list]]:
        self._selections = EpochSelections(self.adapter, self._resume_progress)
        self._resume_progress = None
        return _PromptBatches(self.dataset, self._selections)

    def update(self, experiences: Iterable[Any]) -> dict[str, Any]:
        """Learn from ``Experience`` objects: one score per response row."""
        texts, rewards = [], []
        for experience in experiences:
            values = experience.scores
            if values is None:
                values = experience.rewards
            if values is None:
                raise ValueError("an Experience has neither scores nor rewards")
            values = values.detach().to("cpu").double().reshape(-1).numpy()
            if len(experience.prompts) != values.shape[0]:
                raise ValueError(
                    f"an Experience has {len(experience.prompts)} prompts for "
                    f"{values.shape[0]} scores"
                )
            texts.extend(experience.prompts)
            rewards.append(values)
        return self.adapter.update_from_ids(text_ids(texts), np.concatenate(rewards))

    @property
    def metrics(self) -> dict[str, Any]:
        """Latest step metrics (solve_none/all, posterior quantiles, lag)."""
        return dict(self.adapter.metrics)

    def state_dict(self) -> dict[str, Any]:
        state = self.adapter.state_dict()
        if self._selections is not None:
            state["progress"] = self._selections.state_dict()
        elif self._resume_progress is not None:
            state["progress"] = dict(self._resume_progress)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore; the next ``iter(loader)`` continues the saved epoch."""
        self.adapter.load_state_dict(state_dict)
        self._selections = None
        self._resume_progress = state_dict.get("progress")


class _PromptBatches(Iterator[tuple[list, list, list, list]]):
    """The epoch's selections as ``PromptDataset.collate_fn`` batches of one."""

    def __init__(self, dataset, selections: EpochSelections):
        self.dataset = dataset
        self.selections = selections

    def __next__(self) -> tuple[list, list, list, list]:
        datasource, prompt, label, image = self.dataset[next(self.selections)]
        return [datasource], [prompt], [label], [image]
