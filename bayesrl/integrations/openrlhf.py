"""MoPPS prompt selection for OpenRLHF's PPO trainer (tested against 0.11.2).

Run OpenRLHF's own PPO command with the trainer swapped for one that selects
its prompts by MoPPS (Qu et al. 2025, arXiv:2507.04632: each step,
``B_hat = candidate_multiplier * B`` candidates from an epoch permutation of
the prompts, ``gamma_i ~ Beta(a_i, b_i)`` per candidate, the ``B`` whose
``gamma_i`` is closest to ``target`` are trained on)::

    python -m bayesrl.integrations.openrlhf --mopps.candidate_multiplier 8 \\
        <the arguments of python -m openrlhf.cli.train_ppo_ray>

``--mopps.<name> <value>`` sets any keyword of :func:`bayesrl.prompts.mopps`
(``candidate_multiplier``, ``target``, ``discount``, ``evidence``,
``success_threshold``, ...); the other arguments go to OpenRLHF's
``train_ppo_ray`` unchanged (its parser, checks and driver run as they are).

Where the feedback comes from. OpenRLHF's ``SamplesGenerator`` pulls
``rollout.batch_size`` prompts from the trainer's ``prompts_dataloader``,
which :class:`MoPPSPromptLoader` replaces (it yields
``PromptDataset.collate_fn``'s ``(datasources, prompts, labels, images)``
batches of one prompt, ``B`` per selection). The rewards of a step exist, in
every reward mode, once ``RemoteExperienceMaker.make_experience`` has run: a
reward function or remote reward server (``--reward.remote_url``) scores each
response at rollout time (``Experience.scores``, else ``rewards``); a reward
model (``--reward.model_name_or_path``) scores them inside
``make_experience`` (``Experience.rewards``). The loader is fed there, before
advantages are computed, one reward per response row. ``PPOTrainer.fit``
generates, trains and only then draws the next prompts, so every update
arrives before the next selection: lag 0, and the ``mopps/*`` metrics added to
each step's logs describe the batch that step trained on.

Rewards become successes by ``evidence``: ``"binary"`` (default) counts
``reward >= success_threshold`` (1.0); a reward model's unbounded scores need
a threshold of their scale (``--mopps.success_threshold 0.0``) or
``--mopps.evidence fractional`` for scores in ``[0, 1]``.

Steps. OpenRLHF sizes the actor's (and critic's) LR schedule from
``PPOTrainer.max_steps``, which ``prepare_datasets`` computes from the whole
dataset. One loader epoch is one candidate epoch, ``B * floor(N / B_hat)``
prompts, so :meth:`MoPPSPromptLoader.attach` recomputes ``max_steps`` with
OpenRLHF's formula on that length; the driver reads it (``get_max_steps``)
after the trainer is built and before the models are, so the schedule ends
with the run. ``train.num_episodes`` counts candidate epochs.

Checkpoints. ``PPOTrainer.fit`` stores ``prompts_dataloader.state_dict()`` in
its checkpoints (``data_loader_state_dict``) and restores it on
``--ckpt.load_enable``: the selector, its RNG and the position in the epoch
(tensors, ints, strings and lists only: loadable with
``torch.load(..., weights_only=True)``).

Ids. An ``Experience`` carries the prompt text but no dataset index, so
prompts are keyed by a 63-bit hash of their text (identical texts are refused
at construction: deduplicate the dataset first).

With a driver of your own, build the trainer actor from
:func:`mopps_trainer_class` (``ray.remote(mopps_trainer_class(
PPOTrainer.__ray_actor_class__, candidate_multiplier=8))``) and read
``get_max_steps()`` after constructing it, as ``train_ppo_ray`` does.

Limits: OpenRLHF's synchronous ``PPOTrainer`` only (``--train.async_enable``
is refused); ``--algo.dynamic_filtering_enable`` is refused (filtered groups
never reach the trainer and the posterior would see only the rest; MoPPS
replaces dynamic filtering); ``--rollout.vllm_generate_batch_size`` above
``--rollout.batch_size`` is refused (selections ahead of their feedback).
"""

from __future__ import annotations

import ast
import importlib.metadata
import runpy
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from bayesrl.integrations._common import (
    EpochSelections,
    PromptIdMap,
    SelectorAdapter,
    flat_metrics,
    text_ids,
)

__all__ = ["MoPPSPromptLoader", "main", "mopps_trainer_class"]

TESTED_VERSION = "0.11.2"
SUPPORTED_SERIES = "0.11."


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
        """Make ``trainer`` (a ``PPOTrainer`` instance, inside its ``__init__``
        or before ``get_max_steps``) draw its prompts here, feed back every
        step's rewards, log ``mopps/*`` metrics and plan its LR schedule over
        the steps it will run.

        Raises:
            ValueError: on an OpenRLHF outside 0.11.x, the asynchronous
                trainer, dynamic filtering, or a ``vllm_generate_batch_size``
                above ``rollout.batch_size``; the trainer is then unchanged.
        """
        _check_supported(trainer)
        generator, maker = trainer.samples_generator, trainer.experience_maker
        trainer.prompts_dataloader = self
        generator.prompts_dataloader = self
        make_experience, train_step = maker.make_experience, trainer.train_step

        def make_experience_and_learn(samples_list):
            experiences = make_experience(samples_list)
            self.update(experiences)
            return experiences

        def train_step_with_metrics(rollout_samples, global_step):
            status, step = train_step(rollout_samples, global_step)
            status.update(
                {f"mopps/{k}": v for k, v in flat_metrics(self.metrics).items()}
            )
            return status, step

        maker.make_experience = make_experience_and_learn
        trainer.train_step = train_step_with_metrics
        trainer.max_steps = self.planned_steps(trainer.args)
        return self

    def planned_steps(self, args) -> int:
        """Optimizer steps of the run: OpenRLHF's ``max_steps`` formula,
        ``prompts * n_samples_per_prompt // train.batch_size * num_episodes *
        max_epochs``, on the ``len(self)`` prompts of one candidate epoch."""
        return (
            len(self)
            * args.rollout.n_samples_per_prompt
            // args.train.batch_size
            * args.train.num_episodes
            * args.train.max_epochs
        )

    def __len__(self) -> int:
        return self.adapter.batch_size * self.adapter.steps_per_epoch

    def __iter__(self) -> Iterator[tuple[list, list, list, list]]:
        self._selections = EpochSelections(self.adapter, self._resume_progress)
        self._resume_progress = None
        return _PromptBatches(self.dataset, self._selections)

    def update(self, experiences: Iterable[Any]) -> dict[str, Any]:
        """Learn from ``Experience`` objects: one score per response row
        (``scores``, else ``rewards``). Unknown prompts, non-finite scores,
        or an ``Experience`` without scores raise ``ValueError`` and leave the
        selector unchanged."""
        texts, rewards = [], []
        for experience in experiences:
            values = experience.scores
            if values is None:
                values = experience.rewards
            if values is None:
                raise ValueError(
                    "an Experience has neither scores nor rewards: run with a reward "
                    "function (--reward.remote_url) or a reward model "
                    "(--reward.model_name_or_path)"
                )
            values = values.detach().to("cpu").double().reshape(-1).numpy()
            if len(experience.prompts) != values.shape[0]:
                raise ValueError(
                    f"an Experience has {len(experience.prompts)} prompts for "
                    f"{values.shape[0]} scores"
                )
            texts.extend(experience.prompts)
            rewards.append(values)
        if not texts:
            raise ValueError("no Experience rows to learn from")
        return self.adapter.update_from_ids(text_ids(texts), np.concatenate(rewards))

    @property
    def metrics(self) -> dict[str, Any]:
        """Latest step metrics (solve_none/all, posterior quantiles, lag)."""
        return dict(self.adapter.metrics)

    def state_dict(self) -> dict[str, Any]:
        """Selector state and epoch position as tensors, ints, strings and
        lists (``torch.load(..., weights_only=True)`` reads it back)."""
        state = self.adapter.state_dict()
        if self._selections is not None:
            state["progress"] = self._selections.state_dict()
        elif self._resume_progress is not None:
            state["progress"] = dict(self._resume_progress)
        return _to_plain(state)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore; the next ``iter(loader)`` continues the saved epoch."""
        state = _from_plain(state_dict)
        self.adapter.load_state_dict(state)
        self._selections = None
        self._resume_progress = state.get("progress")


class _PromptBatches(Iterator[tuple[list, list, list, list]]):
    """The epoch's selections as ``PromptDataset.collate_fn`` batches of one."""

    def __init__(self, dataset, selections: EpochSelections):
        self.dataset = dataset
        self.selections = selections

    def __next__(self) -> tuple[list, list, list, list]:
        datasource, prompt, label, image = self.dataset[next(self.selections)]
        return [datasource], [prompt], [label], [image]


def _check_supported(trainer) -> None:
    """Refuse (``ValueError``) what the loader cannot serve correctly."""
    try:
        version = importlib.metadata.version("openrlhf")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version is not None and not version.startswith(SUPPORTED_SERIES):
        raise ValueError(
            f"OpenRLHF {version} is not supported: MoPPSPromptLoader hooks "
            f"OpenRLHF {SUPPORTED_SERIES}x internals (tested: {TESTED_VERSION})"
        )
    args = trainer.args
    if getattr(args.train, "async_enable", False) or not hasattr(
        trainer, "samples_generator"
    ):
        raise ValueError(
            "MoPPS supports OpenRLHF's synchronous PPOTrainer only; turn "
            "--train.async_enable off"
        )
    if getattr(args.algo, "dynamic_filtering_enable", False):
        raise ValueError(
            "turn --algo.dynamic_filtering_enable off: filtered groups never "
            "reach the trainer and the posterior would only see the rest"
        )
    generate = getattr(args.rollout, "vllm_generate_batch_size", None)
    if generate and generate > args.rollout.batch_size:
        raise ValueError(
            f"--rollout.vllm_generate_batch_size {generate} > --rollout.batch_size "
            f"{args.rollout.batch_size}: several selections would be drawn before "
            "any feedback; leave it unset"
        )


def _to_plain(value):
    """NumPy arrays as torch tensors (strings as ``str``), recursively.

    Unsigned arrays wider than a byte (the selector's ``uint32`` RNG key)
    become ``{"numpy_dtype": name, "values": int64 tensor}``: torch pickles
    such tensors for ``torch.save`` but not through ``pickle`` (Ray ships the
    checkpoint states OpenRLHF loads that way).
    """
    import torch

    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(item) for item in value]
    if not isinstance(value, np.ndarray | np.generic):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "US":
        return str(array)
    if array.dtype.kind == "u" and array.dtype.itemsize > 1:
        values = torch.from_numpy(array.astype(np.int64))
        return {"numpy_dtype": array.dtype.name, "values": values}
    return torch.from_numpy(np.array(array, copy=True))


def _from_plain(value):
    """Inverse of :func:`_to_plain` (also accepts NumPy-valued states)."""
    import torch

    if isinstance(value, dict) and set(value) == {"numpy_dtype", "values"}:
        return _from_plain(value["values"]).astype(value["numpy_dtype"])
    if isinstance(value, dict):
        return {key: _from_plain(item) for key, item in value.items()}
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def mopps_trainer_class(base: type, **mopps_options) -> type:
    """``base`` (OpenRLHF's ``PPOTrainer.__ray_actor_class__``) with a
    :class:`MoPPSPromptLoader` attached at the end of ``__init__``, as
    ``self.mopps_loader``; wrap it with ``ray.remote`` to use it."""

    class MoPPSPPOTrainer(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            loader = MoPPSPromptLoader.from_trainer(self, **mopps_options)
            self.mopps_loader = loader.attach(self)

    return MoPPSPPOTrainer


def parse_mopps_arguments(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Split ``--mopps.<name> <value>`` pairs (values read as Python
    literals, else strings) from the rest of ``argv``."""
    options, rest = {}, []
    items = iter(argv)
    for item in items:
        if not item.startswith("--mopps."):
            rest.append(item)
            continue
        name, _, value = item.removeprefix("--mopps.").partition("=")
        if not value:
            value = next(items, None)
            if value is None:
                raise ValueError(f"{item} needs a value")
        try:
            options[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[name] = value
    return options, rest


class _AsyncTrainerRefused:
    """Stands for ``PPOTrainerAsync`` while :func:`main` runs."""

    @staticmethod
    def remote(*args, **kwargs):
        raise ValueError(
            "MoPPS supports OpenRLHF's synchronous PPOTrainer only; turn "
            "--train.async_enable off"
        )


def main(argv: list[str] | None = None, as_actor: Callable | None = None) -> None:
    """Run ``openrlhf.cli.train_ppo_ray`` with the MoPPS trainer.

    Args:
        argv: ``--mopps.<name> <value>`` options and ``train_ppo_ray``'s
            arguments (default: ``sys.argv[1:]``).
        as_actor: turns the trainer class into what the driver calls
            ``.remote(...)`` on (default ``ray.remote``).

    Raises:
        ValueError: with ``--train.async_enable`` (when the driver builds the
            trainer), or as :meth:`MoPPSPromptLoader.attach` does.
    """
    import openrlhf.trainer.ppo_trainer as ppo_trainer
    import openrlhf.trainer.ppo_trainer_async as ppo_trainer_async

    options, rest = parse_mopps_arguments(sys.argv[1:] if argv is None else argv)
    if as_actor is None:
        import ray

        as_actor = ray.remote
    trainer = mopps_trainer_class(ppo_trainer.PPOTrainer.__ray_actor_class__, **options)
    saved = ppo_trainer.PPOTrainer, ppo_trainer_async.PPOTrainerAsync, sys.argv
    ppo_trainer.PPOTrainer = as_actor(trainer)
    ppo_trainer_async.PPOTrainerAsync = _AsyncTrainerRefused
    sys.argv = ["openrlhf.cli.train_ppo_ray", *rest]
    try:
        runpy.run_module("openrlhf.cli.train_ppo_ray", run_name="__main__")
    finally:
        ppo_trainer.PPOTrainer, ppo_trainer_async.PPOTrainerAsync, sys.argv = saved


if __name__ == "__main__":
    # The importable module's main, so Ray pickles the trainer by reference.
    from bayesrl.integrations.openrlhf import main as _main

    _main()
