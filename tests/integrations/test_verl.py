"""MoPPSSampler against the real verl classes.

verl's own ``create_rl_sampler`` instantiates the sampler from a ``pkg://``
class path; a real ``RLHFDataset`` (with a row filtered out for length, so
positions and ids differ) feeds a real ``StatefulDataLoader``; ``update``
consumes a real ``DataProto`` with shuffled rows, repeated prompts and the
reward on the last valid token, and must give the posterior of an independent
NumPy port of MoPPS's update.
"""

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("verl.experimental.dataset.sampler")

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.trainer.main_ppo import create_rl_sampler  # noqa: E402
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn  # noqa: E402

from bayesrl.integrations.verl import MoPPSSampler  # noqa: E402
from bayesrl.prompts import PromptSelector  # noqa: E402

NUM_ROWS = 41  # one is filtered out for length: N = 40
BATCH = 4
MULTIPLIER = 2  # B_hat = 8, 5 steps per loader epoch
RESPONSES = 3


def write_rows(path, ids, long_row=None):
    with open(path, "w") as handle:
        for row, prompt_id in enumerate(ids):
            words = 30 if row == long_row else 3
            text = " ".join(f"w{(row + k) % 40}" for k in range(words))
            extra = {} if prompt_id is None else {"index": prompt_id}
            record = {
                "data_source": "toy",
                "prompt": [{"role": "user", "content": text}],
                "extra_info": extra,
            }
            handle.write(json.dumps(record) + "\n")


def data_config(tmp_path, **overrides):
    config = {
        "train_batch_size": BATCH,
        "gen_batch_size": None,
        "dataloader_num_workers": 0,
        "shuffle": False,
        "seed": 0,
        "max_prompt_length": 8,
        "filter_overlong_prompts": True,
        "filter_overlong_prompts_workers": None,
        "cache_dir": str(tmp_path / "cache"),
        "sampler": {
            "class_path": "pkg://bayesrl.integrations.verl",
            "class_name": "MoPPSSampler",
            "mopps": {"candidate_multiplier": MULTIPLIER, "seed": 7},
        },
    }
    config.update(overrides)
    return OmegaConf.create(config)


def make_dataset(tmp_path, tokenizer, ids, name="train.jsonl", long_row=5):
    path = tmp_path / name
    write_rows(path, ids, long_row=long_row)
    return RLHFDataset(str(path), tokenizer, data_config(tmp_path))


# Non-contiguous, unordered stable ids: position p holds id 1000 + 7 * (40 - p).
ROW_IDS = [1000 + 7 * (NUM_ROWS - row) for row in range(NUM_ROWS)]


@pytest.fixture
def dataset(tmp_path, tiny_tokenizer):
    return make_dataset(tmp_path, tiny_tokenizer, ROW_IDS)


def loader_for(sampler, dataset):
    return StatefulDataLoader(
        dataset,
        batch_size=BATCH,
        sampler=sampler,
        drop_last=True,
        num_workers=0,
        collate_fn=collate_fn,
    )


def response_rows(prompt_ids, rng, success_rate):
    """One DataProto row per response, shuffled like ``_balance_batch`` does,
    reward on the last valid response token."""
    ids = np.repeat(np.asarray(prompt_ids), RESPONSES)
    rewards = (rng.random(ids.size) < success_rate(ids)).astype(np.float32)
    order = rng.permutation(ids.size)
    ids, rewards = ids[order], rewards[order]
    lengths = rng.integers(1, 6, ids.size)
    scores = torch.zeros(ids.size, 6)
    scores[torch.arange(ids.size), torch.as_tensor(lengths - 1)] = torch.as_tensor(
        rewards
    )
    uids = np.asarray([f"uid-{i}" for i in ids], dtype=object)
    batch = DataProto.from_dict(
        tensors={"token_level_scores": scores},
        non_tensors={"index": ids.astype(object), "uid": uids},
    )
    return batch, ids, rewards


def success_rate(ids):
    return ((np.asarray(ids) // 7) % 5) / 4.0


def test_create_rl_sampler_builds_mopps_from_class_path(tmp_path, dataset):
    sampler = create_rl_sampler(data_config(tmp_path), dataset)
    assert isinstance(sampler, MoPPSSampler)
    assert len(dataset) == NUM_ROWS - 1  # the long prompt was filtered out
    kept_ids = [row["index"] for row in dataset.dataframe["extra_info"]]
    np.testing.assert_array_equal(sampler.adapter.id_map.ids, kept_ids)
    np.testing.assert_array_equal(
        sampler.adapter.id_map.positions(kept_ids[::-1]), np.arange(40)[::-1]
    )
    assert len(sampler) == BATCH * (40 // (MULTIPLIER * BATCH))
    with pytest.raises(AssertionError, match="num_workers must be 0"):
        create_rl_sampler(data_config(tmp_path, dataloader_num_workers=2), dataset)


def test_batches_hold_selected_prompts_and_update_matches_numpy_and_core(
    tmp_path, dataset, reference_posterior
):
    sampler = create_rl_sampler(data_config(tmp_path), dataset)
    rng = np.random.default_rng(0)
    steps, selected_sets = [], []
    for batch in loader_for(sampler, dataset):
        ids = np.asarray(batch["index"], dtype=np.int64)
        assert ids.shape == (BATCH,) and len(set(ids.tolist())) == BATCH
        proto, row_ids, rewards = response_rows(ids, rng, success_rate)
        sampler.update(batch=proto)
        steps.append((sampler.adapter.id_map.positions(row_ids), rewards))
        selected_sets.append(set(ids.tolist()))
    assert len(steps) == 40 // (MULTIPLIER * BATCH)
    # One loader epoch walks one candidate epoch: no prompt is chosen twice.
    assert len(set().union(*selected_sets)) == BATCH * len(steps)
    alpha, beta = reference_posterior(40, steps)
    state = sampler.state_dict()["selector"]
    np.testing.assert_allclose(state["alpha"], alpha, rtol=1e-6)
    np.testing.assert_allclose(state["beta"], beta, rtol=1e-6)
    assert sampler.metrics["max_lag"] == 0  # update(t) precedes select(t + 1)
    assert 0.0 <= sampler.metrics["zero_variance_fraction"] <= 1.0

    # The core selector, same seed, fed per-prompt counts (successes of
    # trials) instead of shuffled rows: the same selections, the same state.
    core = PromptSelector(40, BATCH, seed=7, candidate_multiplier=MULTIPLIER)
    for positions, rewards in steps:
        chosen = core.select()
        np.testing.assert_array_equal(np.sort(chosen), np.unique(positions))
        unique, inverse = np.unique(positions, return_inverse=True)
        core.update(
            unique,
            np.bincount(inverse, weights=rewards >= 1.0),
            np.bincount(inverse).astype(float),
        )
    core_state = core.state_dict()
    assert state.keys() == core_state.keys()
    for name, value in core_state.items():
        np.testing.assert_array_equal(state[name], value, err_msg=name)


def test_reward_key_column_is_used_instead_of_token_scores(tmp_path, dataset):
    config = data_config(tmp_path)
    config.sampler.mopps.reward_key = "acc"
    sampler = create_rl_sampler(config, dataset)
    ids = np.asarray([ROW_IDS[0], ROW_IDS[0], ROW_IDS[1]], dtype=object)
    proto = DataProto.from_dict(
        tensors={"token_level_scores": torch.zeros(3, 2)},
        non_tensors={"index": ids, "acc": np.asarray([1.0, 1.0, 0.0], dtype=object)},
    )
    sampler.update(batch=proto)
    state = sampler.state_dict()["selector"]
    first, second = sampler.adapter.id_map.positions(ids[[0, 2]].astype(np.int64))
    assert (state["alpha"][first], state["beta"][first]) == (3.0, 1.0)
    assert (state["alpha"][second], state["beta"][second]) == (1.0, 2.0)


@pytest.mark.parametrize(
    "ids,match",
    [
        ([None] + ROW_IDS[1:], "missing"),
        (ROW_IDS[:-1] + [ROW_IDS[0]], "duplicated"),
    ],
)
def test_missing_or_duplicate_index_is_an_error(tmp_path, tiny_tokenizer, ids, match):
    dataset = make_dataset(tmp_path, tiny_tokenizer, ids, long_row=None)
    with pytest.raises(ValueError, match=match):
        create_rl_sampler(data_config(tmp_path), dataset)


def test_unknown_index_in_update_is_refused(tmp_path, dataset):
    sampler = create_rl_sampler(data_config(tmp_path), dataset)
    before = sampler.state_dict()["selector"]["alpha"].copy()
    proto = DataProto.from_dict(
        tensors={"token_level_scores": torch.ones(2, 2)},
        non_tensors={"index": np.asarray([ROW_IDS[5], 3], dtype=object)},
    )
    with pytest.raises(ValueError, match="unknown extra_info.index"):
        sampler.update(batch=proto)
    np.testing.assert_array_equal(sampler.state_dict()["selector"]["alpha"], before)


def test_stateful_dataloader_resume_selects_what_the_uninterrupted_run_does(
    tmp_path, dataset, tiny_tokenizer
):
    def run(loader, sampler, rng_seed, start=0, stop_after=None):
        """Steps until the loader epoch ends (or ``stop_after`` steps)."""
        chosen = []
        for step, batch in enumerate(loader, start=start):
            ids = np.asarray(batch["index"], dtype=np.int64)
            rng = np.random.default_rng(rng_seed + step)
            sampler.update(batch=response_rows(ids, rng, success_rate)[0])
            chosen.append(ids.tolist())
            if len(chosen) == stop_after:
                break
        return chosen

    # Uninterrupted: 2 loader epochs of 5 steps (crosses a candidate epoch).
    sampler = create_rl_sampler(data_config(tmp_path), dataset)
    loader = loader_for(sampler, dataset)
    full = run(loader, sampler, rng_seed=0) + run(loader, sampler, rng_seed=100)
    assert len(full) == 10

    # Interrupted after 3 steps of the first epoch, checkpointed as verl does.
    sampler_a = create_rl_sampler(data_config(tmp_path), dataset)
    loader_a = loader_for(sampler_a, dataset)
    first = run(loader_a, sampler_a, rng_seed=0, stop_after=3)
    path = tmp_path / "data.pt"
    torch.save(loader_a.state_dict(), path)
    sampler_b = create_rl_sampler(data_config(tmp_path), dataset)
    loader_b = loader_for(sampler_b, dataset)
    loader_b.load_state_dict(torch.load(path, weights_only=False))
    rest = run(loader_b, sampler_b, rng_seed=0, start=3)
    assert len(rest) == 2  # the resumed epoch ends where the original would
    second_epoch = run(loader_b, sampler_b, rng_seed=100)
    assert first + rest + second_epoch == full

    # A checkpoint with other MoPPS options is refused.
    config = data_config(tmp_path)
    config.sampler.mopps.candidate_multiplier = MULTIPLIER + 1
    with pytest.raises(ValueError, match="different configuration"):
        create_rl_sampler(config, dataset).load_state_dict(sampler_a.state_dict())

    # A checkpoint of another dataset (different ids) is refused.
    other = make_dataset(
        tmp_path, tiny_tokenizer, [i + 1 for i in ROW_IDS], name="other.jsonl"
    )
    sampler_c = create_rl_sampler(data_config(tmp_path), other)
    with pytest.raises(ValueError, match="different dataset"):
        sampler_c.load_state_dict(sampler_a.state_dict())
