"""``bayesrl.integrations.verl_main`` against verl 0.9.1's own classes, without
Ray: the sampler over a real ``RLHFDataset`` (built from verl's composed
config) in a real ``StatefulDataLoader``, feedback from real ``DataProto``
batches shaped as verl's ``fit`` leaves them (``extra_info`` but no ``index``
column, rows shuffled, the reward on the last response token), and the bad
inputs: unknown ids, non-finite scores, a batch without ids, datasets without
unique ids, configurations that would delay or skip feedback, verl < 0.8."""

import importlib
import json
import sys

import numpy as np
import pytest

verl = pytest.importorskip("verl")
if tuple(int(p) for p in verl.__version__.split(".")[:2]) < (0, 8):
    pytest.skip("verl >= 0.8 runs through verl_main", allow_module_level=True)
pytest.importorskip("verl.trainer.main_ppo_v0")

import torch  # noqa: E402
from hydra import compose, initialize_config_module  # noqa: E402
from torch.utils.data import SequentialSampler  # noqa: E402
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.trainer.ppo.utils import create_rl_dataset  # noqa: E402
from verl.utils import hf_tokenizer  # noqa: E402
from verl.utils.dataset.rl_dataset import collate_fn  # noqa: E402
from verl09 import harness  # noqa: E402

from bayesrl.integrations import verl_main  # noqa: E402
from bayesrl.integrations.verl_main import (  # noqa: E402
    MoPPSRayPPOTrainer,
    MoPPSSampler,
)

NUM_PROMPTS = 24
BATCH = 3
MULTIPLIER = 2  # B_hat = 6: 4 steps per loader epoch
RESPONSES = 2


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return hf_tokenizer(harness.build_model_dir(tmp_path_factory.mktemp("model")))


def write_rows(path, ids):
    pairs = harness.addition_pairs(len(ids))
    with open(path, "w") as handle:
        for (a, b), prompt_id in zip(pairs, ids, strict=True):
            extra = {} if prompt_id is None else {"index": prompt_id}
            record = {
                "data_source": "openai/gsm8k",
                "prompt": [{"role": "user", "content": f"{a} + {b} ="}],
                "reward_model": {"style": "rule", "ground_truth": str(a + b)},
                "extra_info": extra,
            }
            handle.write(json.dumps(record) + "\n")
    return str(path)


def compose_config(tmp_path, data_file, *extra):
    overrides = [
        *verl_main.DEFAULT_OVERRIDES,
        f"data.train_files={data_file}",
        f"data.val_files={data_file}",
        f"data.train_batch_size={BATCH}",
        "data.max_prompt_length=24",
        f"+mopps.candidate_multiplier={MULTIPLIER}",
        "+mopps.seed=5",
        *extra,
    ]
    with initialize_config_module("verl.trainer.config", version_base=None):
        return compose("ppo_trainer", overrides=overrides)


# Stable ids, non-contiguous and not in row order.
IDS = [9000 - 13 * row for row in range(NUM_PROMPTS)]


@pytest.fixture
def setup(tmp_path, tokenizer):
    config = compose_config(tmp_path, write_rows(tmp_path / "train.jsonl", IDS))
    dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, None)
    return config, dataset


def step_batch(ids, rng, rewards=None):
    """One row per response as verl's fit leaves the batch after the reward:
    rows shuffled, ``extra_info`` (no ``index`` column), reward on the last
    valid response token."""
    ids = np.repeat(np.asarray(ids), RESPONSES)
    if rewards is None:
        rewards = (rng.random(ids.size) < 0.5).astype(np.float32)
    order = rng.permutation(ids.size)
    ids, rewards = ids[order], np.asarray(rewards, dtype=np.float32)[order]
    lengths = rng.integers(1, 5, ids.size)
    scores = torch.zeros(ids.size, 5)
    scores[torch.arange(ids.size), torch.as_tensor(lengths - 1)] = torch.as_tensor(
        rewards
    )
    infos = np.empty(ids.size, dtype=object)
    infos[:] = [{"index": int(i), "split": "train"} for i in ids]
    batch = DataProto.from_dict(
        tensors={"token_level_scores": scores},
        non_tensors={"extra_info": infos, "uid": ids.astype(str).astype(object)},
    )
    return batch, ids, rewards


def test_loader_yields_mopps_selections_and_feedback_matches_numpy(
    setup, reference_posterior
):
    config, dataset = setup
    sampler = MoPPSSampler(dataset, config)
    loader = StatefulDataLoader(
        dataset,
        batch_size=BATCH,
        sampler=sampler,
        drop_last=True,
        collate_fn=collate_fn,
    )
    assert len(loader) == NUM_PROMPTS // (MULTIPLIER * BATCH)
    rng = np.random.default_rng(0)
    steps, seen = [], set()
    row_of_id = {prompt_id: row for row, prompt_id in enumerate(IDS)}
    for batch in loader:
        ids = [info["index"] for info in batch["extra_info"]]
        assert len(set(ids)) == BATCH and not seen & set(ids)
        seen |= set(ids)
        proto, row_ids, rewards = step_batch(ids, rng)
        metrics = sampler.update(proto)
        assert metrics["lag"] == 0.0 and metrics["max_lag"] == 0.0
        steps.append((np.asarray([row_of_id[i] for i in row_ids]), rewards))
    assert len(steps) == len(loader)
    alpha, beta = reference_posterior(NUM_PROMPTS, steps)
    state = sampler.adapter.state_dict()["selector"]
    np.testing.assert_allclose(state["alpha"], alpha, rtol=1e-6)
    np.testing.assert_allclose(state["beta"], beta, rtol=1e-6)


def test_reward_key_column_replaces_token_scores(tmp_path, tokenizer):
    data = write_rows(tmp_path / "train.jsonl", IDS)
    config = compose_config(tmp_path, data, "+mopps.reward_key=acc")
    dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, None)
    sampler = MoPPSSampler(dataset, config)
    proto, ids, _ = step_batch(IDS[:2], np.random.default_rng(1), rewards=[0, 0, 0, 0])
    proto.non_tensor_batch["acc"] = (ids == IDS[0]).astype(np.float64)
    sampler.update(proto)
    state = sampler.adapter.state_dict()["selector"]
    assert (state["alpha"][0], state["beta"][0]) == (3.0, 1.0)
    assert (state["alpha"][1], state["beta"][1]) == (1.0, 3.0)


def unknown_id(proto):
    proto.non_tensor_batch["extra_info"][0] = {"index": 123456}


def non_finite_score(proto):
    proto.batch["token_level_scores"][1, 0] = float("nan")


def no_id_source(proto):
    proto.pop(non_tensor_batch_keys=["extra_info"])


def extra_info_without_index(proto):
    proto.non_tensor_batch["extra_info"][2] = {"split": "train"}


@pytest.mark.parametrize(
    "corrupt,match",
    [
        (unknown_id, r"unknown extra_info\.index values \[123456\]"),
        (non_finite_score, "not finite"),
        (no_id_source, "carries no prompt id"),
        (extra_info_without_index, r"have no extra_info\.index"),
    ],
)
def test_bad_feedback_is_an_error_and_leaves_the_selector_untouched(
    setup, corrupt, match
):
    config, dataset = setup
    sampler = MoPPSSampler(dataset, config)
    sampler.adapter.select()
    before = sampler.adapter.state_dict()["selector"]
    proto, _, _ = step_batch(IDS[:BATCH], np.random.default_rng(2))
    corrupt(proto)
    with pytest.raises(ValueError, match=match):
        sampler.update(proto)
    after = sampler.adapter.state_dict()["selector"]
    assert before.keys() == after.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


@pytest.mark.parametrize(
    "ids,match",
    [([None] + IDS[1:], "missing"), (IDS[:-1] + [IDS[0]], "duplicated")],
)
def test_dataset_without_unique_ids_is_refused(tmp_path, tokenizer, ids, match):
    config = compose_config(tmp_path, write_rows(tmp_path / "train.jsonl", ids))
    dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, None)
    with pytest.raises(ValueError, match=match):
        MoPPSSampler(dataset, config)


def test_trainer_refuses_a_custom_sampler_and_keeps_verl_defaults(setup):
    config, dataset = setup
    trainer = MoPPSRayPPOTrainer.__new__(MoPPSRayPPOTrainer)
    trainer.config = config
    with pytest.raises(ValueError, match="custom train_sampler"):
        trainer._create_dataloader(dataset, dataset, collate_fn, object())
    with pytest.raises(ValueError, match="needs train_dataset"):
        trainer._create_dataloader(None, dataset, collate_fn, None)
    trainer._create_dataloader(dataset, dataset, collate_fn, SequentialSampler(dataset))
    assert trainer.train_dataloader.sampler is trainer.mopps_sampler


def test_feedback_runs_once_per_step_whichever_update_comes_first(setup, monkeypatch):
    """With a critic, verl calls ``_update_critic`` then ``_update_actor`` on
    the same batch each step; without one, only ``_update_actor``."""
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer

    config, dataset = setup
    trainer = MoPPSRayPPOTrainer.__new__(MoPPSRayPPOTrainer)
    trainer.config = config
    trainer._create_dataloader(dataset, dataset, collate_fn, None)

    def worker_group_update(self, batch):  # the GPU update, not under test
        return DataProto(meta_info={"metrics": {"loss": 0.0}})

    monkeypatch.setattr(RayPPOTrainer, "_update_critic", worker_group_update)
    monkeypatch.setattr(RayPPOTrainer, "_update_actor", worker_group_update)
    rng = np.random.default_rng(3)
    adapter = trainer.mopps_sampler.adapter
    for step, with_critic in ((1, True), (2, True), (3, False)):
        trainer.global_steps = step
        proto, _, _ = step_batch(adapter.id_map.ids[adapter.select()], rng)
        outputs = [trainer._update_critic(proto)] if with_critic else []
        outputs.append(trainer._update_actor(proto))
        assert adapter.selector.num_updates == step
        assert "mopps/lag" in outputs[0].meta_info["metrics"]
        for later in outputs[1:]:
            assert not any(k.startswith("mopps/") for k in later.meta_info["metrics"])


class UnreachableRunner:
    def run(self, config):
        raise AssertionError("the run must be refused before Ray starts")


@pytest.mark.parametrize(
    "override,match",
    [
        ("trainer.use_v1=true", "v1 trainer is not supported"),
        ("data.dataloader_num_workers=2", "dataloader_num_workers=2"),
        ("trainer.critic_warmup=3", "critic_warmup=3 without a critic"),
    ],
)
def test_entry_point_refuses_settings_that_delay_or_skip_feedback(
    tmp_path, monkeypatch, override, match
):
    import ray

    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    args = [
        "algorithm.adv_estimator=grpo",
        f"hydra.run.dir={tmp_path}",
        override,
    ]
    with pytest.raises(ValueError, match=match):
        verl_main.main(args, task_runner_class=UnreachableRunner)
    assert not ray.is_initialized()


def test_verl_older_than_0_8_is_refused_at_import(monkeypatch):
    monkeypatch.setattr(verl, "__version__", "0.7.1")
    monkeypatch.delitem(sys.modules, "bayesrl.integrations.verl_main")
    with pytest.raises(ImportError, match=r"verl >= 0\.8.*bayesrl\.integrations\.verl"):
        importlib.import_module("bayesrl.integrations.verl_main")
