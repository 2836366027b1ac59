"""Bad input to the verl 0.7.1 sampler: each is a ``ValueError`` (or an
``ImportError`` for an unsupported verl) naming what is wrong, and the
posterior, RNG and counters are left exactly as they were.

The batches are real ``DataProto`` objects shaped as verl's default reward
loop leaves them (``extra_info`` per row, no ``index`` column).
"""

import importlib
import sys

import numpy as np
import pytest

pytest.importorskip("verl.experimental.dataset.sampler")

import torch  # noqa: E402
import verl  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.trainer.main_ppo import create_rl_sampler  # noqa: E402
from verl.utils.dataset.rl_dataset import RLHFDataset  # noqa: E402
from verl07 import harness  # noqa: E402

NUM_PROMPTS = 16


@pytest.fixture
def sampler(tmp_path, tiny_tokenizer):
    path = harness.write_dataset(
        tmp_path / "train.jsonl", harness.addition_pairs(NUM_PROMPTS)
    )
    config = OmegaConf.create(
        {
            "train_batch_size": 2,
            "dataloader_num_workers": 0,
            "max_prompt_length": 16,
            "filter_overlong_prompts": False,
            "cache_dir": str(tmp_path / "cache"),
            "sampler": {
                "class_path": "pkg://bayesrl.integrations.verl",
                "class_name": "MoPPSSampler",
                "mopps": {"candidate_multiplier": 2, "seed": 1},
            },
        }
    )
    dataset = RLHFDataset(path, tiny_tokenizer, config)
    return create_rl_sampler(config, dataset)


def batch(ids, scores, extra_info=True):
    """Default-reward-loop batch: one row per response, reward on the last
    response token, prompt id only in ``extra_info``."""
    scores = torch.as_tensor(scores, dtype=torch.float32)
    token_scores = torch.zeros(len(ids), 3)
    token_scores[:, -1] = scores
    columns = {"uid": np.asarray([f"u{i}" for i in ids], dtype=object)}
    if extra_info:
        columns["extra_info"] = np.asarray(
            [{"index": i, "split": "train"} for i in ids], dtype=object
        )
    return DataProto.from_dict(
        tensors={"token_level_scores": token_scores}, non_tensors=columns
    )


def snapshot(sampler):
    return {k: np.array(v) for k, v in sampler.state_dict()["selector"].items()}


def assert_untouched(sampler, before):
    after = snapshot(sampler)
    assert after.keys() == before.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def selected_ids(sampler):
    positions = sampler.adapter.select()
    return [harness.prompt_id(int(p)) for p in positions]


def test_extra_info_ids_are_accepted(sampler):
    ids = selected_ids(sampler)
    sampler.update(batch(ids * 2, [1.0, 0.0, 1.0, 1.0]))
    assert sampler.adapter.selector.num_updates == 1


@pytest.mark.parametrize(
    "make_batch,match",
    [
        (lambda ids: batch([ids[0], 7], [1.0, 0.0]), "unknown extra_info.index"),
        (lambda ids: batch(ids, [1.0, float("nan")]), "not finite"),
        (lambda ids: batch(ids, [float("inf"), 0.0]), "not finite"),
        (lambda ids: batch(ids, [1.0, 0.0], extra_info=False), "no prompt id"),
    ],
    ids=["unknown-id", "nan-score", "inf-score", "no-id-column"],
)
def test_bad_feedback_is_refused_and_leaves_the_posterior(sampler, make_batch, match):
    ids = selected_ids(sampler)
    before = snapshot(sampler)
    with pytest.raises(ValueError, match=match):
        sampler.update(make_batch(ids))
    assert_untouched(sampler, before)


def test_extra_info_without_index_is_refused(sampler):
    ids = selected_ids(sampler)
    proto = batch(ids, [1.0, 0.0])
    proto.non_tensor_batch["extra_info"][1] = {"split": "train"}
    before = snapshot(sampler)
    with pytest.raises(ValueError, match="no extra_info.index"):
        sampler.update(proto)
    assert_untouched(sampler, before)


@pytest.mark.parametrize(
    "version,match",
    [("0.9.1", "verl_main"), ("0.8.0", "verl_main"), ("0.6.1", "0.7.x")],
)
def test_unsupported_verl_version_is_refused_at_import(monkeypatch, version, match):
    monkeypatch.setattr(verl, "__version__", version)
    monkeypatch.delitem(sys.modules, "bayesrl.integrations.verl", raising=False)
    with pytest.raises(ImportError, match=match):
        importlib.import_module("bayesrl.integrations.verl")
