"""What the verl adapters share, for every verl version they support (0.7.1
and >= 0.8): the selector built from verl's config and dataset, and the prompt
ids and rewards of a step's ``DataProto``.

A step's batch holds one row per generated response. Which columns survive
verl's batch pipeline depends on its reward mode: ``index`` (copied from
``extra_info.index`` by ``RLHFDataset``) is popped into the generation batch
by ``_get_gen_batch`` and copied back only on some paths, while ``extra_info``
(a dict per row that holds the same ``index``) reaches the end of the step in
every mode. Nothing here imports verl or torch.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import numpy as np

from bayesrl.integrations._common import (
    PromptIdMap,
    SelectorAdapter,
    mopps_options_from_mapping,
)


def dataset_prompt_ids(dataset: Sized) -> list[Any]:
    """``extra_info.index`` of every row of a verl ``RLHFDataset`` (None if absent)."""
    frame = getattr(dataset, "dataframe", None)
    columns = getattr(frame, "column_names", None) or list(
        getattr(frame, "columns", [])
    )
    if frame is None or "extra_info" not in columns:
        raise ValueError(
            "MoPPS keys prompts by extra_info.index: the training dataset needs a "
            "`dataframe` with an `extra_info` column holding a unique `index` per row"
        )
    return [
        info.get("index") if isinstance(info, dict) else None
        for info in frame["extra_info"]
    ]


def selector_from_config(
    dataset: Sized, data_config: Any, mopps_config: Any
) -> tuple[SelectorAdapter, str | None]:
    """The selector over ``dataset`` and the reward column to read.

    ``B = data.gen_batch_size or data.train_batch_size``; ``mopps_config``
    holds ``seed`` (default ``data.seed`` or 0), ``reward_key`` (default None:
    ``token_level_scores``) and keywords of :func:`bayesrl.prompts.mopps`.
    """
    options = mopps_options_from_mapping(mopps_config)
    seed = options.pop("seed", data_config.get("seed", None))
    reward_key = options.pop("reward_key", None)
    batch_size = data_config.get("gen_batch_size", None) or data_config.get(
        "train_batch_size", None
    )
    if batch_size is None:
        raise ValueError("data.train_batch_size (or data.gen_batch_size) is required")
    id_map = PromptIdMap(dataset_prompt_ids(dataset), source="extra_info.index")
    if len(id_map) != len(dataset):
        raise ValueError(f"{len(id_map)} ids for a dataset of length {len(dataset)}")
    seed = 0 if seed is None else int(seed)
    return SelectorAdapter(id_map, int(batch_size), seed=seed, **options), reward_key


def batch_prompt_ids(batch: Any) -> np.ndarray:
    """One stable prompt id per row: ``non_tensor_batch["index"]``, else
    ``extra_info[i]["index"]``.

    Raises:
        ValueError: if the batch has neither, or a row's ``extra_info`` has no
            ``index``; the message lists the columns the batch does have.
    """
    columns = batch.non_tensor_batch
    if "index" in columns:
        return np.asarray(columns["index"])
    if "extra_info" in columns:
        infos = columns["extra_info"]
        missing = [
            row
            for row, info in enumerate(infos)
            if not isinstance(info, dict) or info.get("index") is None
        ]
        if missing:
            raise ValueError(
                f"rows {missing[:10]} of the batch have no extra_info.index "
                f"({len(missing)} of {len(infos)}); set it in preprocessing"
            )
        return np.asarray([info["index"] for info in infos])
    raise ValueError(
        "the verl batch carries no prompt id: neither an `index` nor an "
        f"`extra_info` column (it has {sorted(columns)}); MoPPS keys prompts by "
        "extra_info.index"
    )


def batch_rewards(batch: Any, reward_key: str | None = None) -> np.ndarray:
    """One reward per row: the sum of ``token_level_scores`` over tokens (verl
    puts the scalar reward on the last response token), or the
    ``non_tensor_batch`` column ``reward_key`` (e.g. ``acc``)."""
    if reward_key is not None:
        if reward_key not in batch.non_tensor_batch:
            raise ValueError(
                f"the verl batch has no column {reward_key!r} "
                f"(it has {sorted(batch.non_tensor_batch)})"
            )
        return np.asarray(batch.non_tensor_batch[reward_key], dtype=np.float64)
    if batch.batch is None or "token_level_scores" not in batch.batch.keys():
        raise ValueError(
            "the verl batch has no token_level_scores: call update after the "
            "reward is computed, or name a reward column (mopps.reward_key)"
        )
    scores = batch.batch["token_level_scores"]
    return scores.sum(-1).detach().to("cpu").double().numpy()
