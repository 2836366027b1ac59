"""``MoPPSSampler`` that records what verl 0.7.1 hands it (tests only).

verl instantiates it from ``data.sampler.class_path=pkg://verl07.recording``.
Per selection it keeps the chosen dataset positions; per ``update`` it keeps,
from the ``DataProto`` verl passed, the non-tensor columns present, each row's
``extra_info.index``, ``uid``, ``token_level_scores.sum(-1)`` and decoded
response and ground truth, then calls the real ``MoPPSSampler.update``.
``data.sampler.recording.drop_update_at_step=s`` skips the real update of step
``s`` (the reference for a run resumed from ``global_step_s``).
"""

from __future__ import annotations

import numpy as np

from bayesrl.integrations.verl import MoPPSSampler


class RecordingMoPPSSampler(MoPPSSampler):
    def __init__(self, data_source, data_config):
        super().__init__(data_source, data_config)
        options = data_config.get("sampler", {}).get("recording", None) or {}
        self.drop_update_at_step = options.get("drop_update_at_step", None)
        self.tokenizer = data_source.tokenizer
        self.selections: list[np.ndarray] = []
        self.updates: list[dict] = []
        select = self.adapter.select

        def recorded_select():
            positions = select()
            self.selections.append(np.asarray(positions).copy())
            return positions

        self.adapter.select = recorded_select

    def update(self, batch) -> None:
        responses = batch.batch["responses"]
        prompt_length = batch.batch["prompts"].shape[1]
        lengths = batch.batch["attention_mask"][:, prompt_length:].sum(-1)
        record = {
            "columns": sorted(batch.non_tensor_batch),
            "ids": np.asarray(
                [info["index"] for info in batch.non_tensor_batch["extra_info"]]
            ),
            "uids": np.asarray(batch.non_tensor_batch["uid"]),
            "scores": batch.batch["token_level_scores"].sum(-1).double().numpy().copy(),
            "texts": [
                self.tokenizer.decode(row[: int(n)], skip_special_tokens=True)
                for row, n in zip(responses, lengths, strict=True)
            ],
            "ground_truths": [
                rm["ground_truth"] for rm in batch.non_tensor_batch["reward_model"]
            ],
            "selection": len(self.selections),
            "applied": len(self.selections) != self.drop_update_at_step,
        }
        self.updates.append(record)
        if record["applied"]:
            super().update(batch)
        else:  # as on resume from this step: its selection gets no evidence
            self.adapter.drop_pending()
