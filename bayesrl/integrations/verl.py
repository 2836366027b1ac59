"""MoPPS as a verl curriculum sampler, for verl 0.7.x (tested against 0.7.1).

Select it in the trainer config; nothing else changes::

    data.sampler.class_path=pkg://bayesrl.integrations.verl
    data.sampler.class_name=MoPPSSampler
    data.dataloader_num_workers=0
    +data.sampler.mopps.candidate_multiplier=8
    +data.sampler.mopps.target=0.5

verl's ``create_rl_sampler`` instantiates ``MoPPSSampler(data_source=dataset,
data_config=config.data)``; ``RayPPOTrainer.fit`` calls ``sampler.update(batch)``
at the end of every step with the step's ``DataProto``. verl 0.8 removed this
interface; on verl >= 0.8 run ``python -m bayesrl.integrations.verl_main``
instead (importing this module there raises ``ImportError``).

Per step the sampler yields the ``B`` dataset positions chosen by MoPPS (Qu et
al. 2025, "Can Prompt Difficulty be Online Predicted for Accelerating RL
Finetuning of Reasoning Models?", arXiv:2507.04632): ``B_hat =
candidate_multiplier * B`` candidates from an epoch permutation, a Thompson
draw ``gamma_i ~ Beta(a_i, b_i)`` each, and the ``B`` with the smallest
``(gamma_i - target)^2``. ``B = data.gen_batch_size or data.train_batch_size``
and one loader epoch is ``floor(N / B_hat)`` steps (scale
``trainer.total_epochs`` by ``B_hat / B`` or set ``trainer.total_training_steps``).

``update`` reads one row per response, in any order (verl reorders them in
``_balance_batch``): the prompt id — the ``index`` column where the batch still
has it (reward-model modes), else ``extra_info["index"]``, which survives
verl's pipeline in every reward mode (the default reward loop drops
``index``) — and the reward ``token_level_scores.sum(-1)`` (the scalar reward
sits on the last response token) or a ``non_tensor_batch`` column named by
``mopps.reward_key`` (e.g. ``acc``). Ids are mapped to positions through
``data_source.dataframe["extra_info"]``, read once; a missing or duplicated
``extra_info.index`` is an error (verl silently defaults it to 0). Unknown ids,
non-finite rewards or a batch without any id column raise ``ValueError``
before the posterior changes.

Checkpointing: verl saves ``train_dataloader.state_dict()``; torchdata's
``StatefulDataLoader`` stores this sampler's ``state_dict()`` (posterior, RNG,
candidate stream, id-map checksum) and its iterator's position within the
epoch. verl writes the checkpoint of step ``s`` before it calls ``update`` for
step ``s``, so a run resumed from ``global_step_s`` continues exactly as an
uninterrupted run that never received step ``s``'s rewards: the same
selections and posterior given the same later rewards, without the
responses of the prompts selected at step ``s`` and nothing else.

Sampler options under ``data.sampler.mopps``: ``seed`` (default
``data.seed`` or 0), ``reward_key`` (None: use ``token_level_scores``) and every
keyword of :func:`bayesrl.prompts.mopps` (``candidate_multiplier``, ``target``,
``discount``, ``evidence``, ``success_threshold`` — 1.0 by default, the
official ``acc == 1`` rule —, ``strategy``, ``time_discount``, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

SUPPORTED_SERIES = (0, 7)


def _require_supported_verl() -> None:
    """Raise ``ImportError`` unless verl 0.7.x with the curriculum sampler is
    installed; on verl >= 0.8 point to the entry point that replaces it."""
    try:
        import verl
    except ImportError as error:
        raise ImportError(
            "bayesrl.integrations.verl needs verl 0.7.x: pip install 'bayesrl[verl]' "
            "then pip install --no-deps verl==0.7.1 "
            "(see docs/prompts_integrations.md)"
        ) from error
    version = getattr(verl, "__version__", "unknown")
    try:
        series = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        series = None
    if series is not None and series >= (0, 8):
        raise ImportError(
            f"bayesrl.integrations.verl is for verl 0.7.x; verl {version} removed "
            "the curriculum-sampler interface (data.sampler.class_path and "
            "sampler.update). On verl >= 0.8 run MoPPS through "
            "`python -m bayesrl.integrations.verl_main` with your usual Hydra "
            "overrides (see docs/prompts_integrations.md)"
        )
    if series != SUPPORTED_SERIES:
        raise ImportError(
            f"bayesrl.integrations.verl supports verl 0.7.x (tested with 0.7.1), "
            f"found verl {version}: pip install --no-deps verl==0.7.1"
        )


_require_supported_verl()

from verl import DataProto  # noqa: E402
from verl.experimental.dataset.sampler import AbstractCurriculumSampler  # noqa: E402

from bayesrl.integrations._common import (  # noqa: E402
    EpochSelections,
)
from bayesrl.integrations._verl_feedback import (  # noqa: E402
    batch_prompt_ids,
    batch_rewards,
    dataset_prompt_ids,
    selector_from_config,
)

__all__ = ["MoPPSSampler", "dataset_prompt_ids"]


class MoPPSSampler(AbstractCurriculumSampler):
    """verl curriculum sampler driven by MoPPS (see the module docstring).

    Args:
        data_source: verl's training dataset (``RLHFDataset``).
        data_config: the ``data`` section of the trainer config.
    """

    def __init__(self, data_source: Sized, data_config: Any):
        mopps_config = data_config.get("sampler", {}).get("mopps", None)
        self.adapter, self.reward_key = selector_from_config(
            data_source, data_config, mopps_config
        )

    def __len__(self) -> int:
        return self.adapter.batch_size * self.adapter.steps_per_epoch

    def __iter__(self) -> Iterator[int]:
        # torchdata's StatefulDataLoader checkpoints this iterator's position.
        return EpochSelections(self.adapter)

    def update(self, batch: DataProto) -> None:
        """Feed back the step's responses (rows in any order, prompts repeated).

        Raises:
            ValueError: the batch has no prompt id column, an id is not in the
                dataset, or a reward is not finite; the posterior is unchanged.
        """
        ids = batch_prompt_ids(batch)
        rewards = batch_rewards(batch, self.reward_key)
        self.adapter.update_from_ids(ids, rewards)

    @property
    def metrics(self) -> dict[str, float]:
        """Latest step metrics (selection quantiles, solve_none/all, lag)."""
        return dict(self.adapter.metrics)

    def state_dict(self) -> dict[str, Any]:
        return self.adapter.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore. verl 0.7.1 checkpoints before the step's ``update``, so the
        saved step's selection never gets its rewards: it is closed here."""
        self.adapter.load_state_dict(state_dict)
        self.adapter.drop_pending()
