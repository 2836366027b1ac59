"""Prompt ids and rewards of a verl step's ``DataProto``, for every verl version
the adapters support (0.7.1 and >= 0.8).

A step's batch holds one row per generated response. Which columns survive
verl's batch pipeline depends on its reward mode: ``index`` (copied from
``extra_info.index`` by ``RLHFDataset``) is popped into the generation batch
by ``_get_gen_batch`` and copied back only on some paths, while ``extra_info``
(a dict per row that holds the same ``index``) reaches the end of the step in
every mode. Nothing here imports verl or torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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
