"""MoPPSGRPOTrainer against TRL's real GRPOTrainer (spec §7.5 item 9, TRL).

A tiny randomly initialised Llama and a word-level tokenizer built here (no
downloads) train for a few GRPO steps on CPU with our sampler choosing the
prompts; the reward function records every (prompt id, reward) it scores and
the posterior must equal an independent NumPy port of MoPPS's update on those
rows. The index stream must have exactly ``RepeatSampler``'s structure.
"""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402
from trl import GRPOConfig  # noqa: E402
from trl.trainer.utils import RepeatSampler  # noqa: E402

from bayesrl.integrations._common import (  # noqa: E402
    PromptIdMap,
    SelectorAdapter,
    load_state,
)
from bayesrl.integrations.trl import (  # noqa: E402
    STATE_FILE,
    MoPPSGRPOTrainer,
    MoPPSRepeatSampler,
)

NUM_PROMPTS = 16
NUM_GENERATIONS = 2
PER_DEVICE_BATCH = 4  # generation batch 4 = 2 prompts x 2 completions
MULTIPLIER = 2  # B_hat = 4: 4 generations per pass over the pool


def canonical(stream):
    """Relabel indices by order of first appearance (0, 1, 2, ...)."""
    labels = {}
    return [labels.setdefault(index, len(labels)) for index in stream]


def test_stream_has_repeat_sampler_structure():
    num_prompts, batch = 24, 3
    adapter = SelectorAdapter(
        PromptIdMap(range(num_prompts)), batch, seed=5, candidate_multiplier=2
    )
    twin = SelectorAdapter(
        PromptIdMap(range(num_prompts)), batch, seed=5, candidate_multiplier=2
    )
    steps = num_prompts // (2 * batch)
    for generations, repeat in [(3, 2), (2, 1), (1, 3)]:
        chunks = []
        select = adapter.select

        def recording_select(select=select, chunks=chunks):
            chunks.append(select().tolist())
            return np.asarray(chunks[-1])

        adapter.select = recording_select
        stream = list(MoPPSRepeatSampler(adapter, generations, repeat))
        del adapter.select
        reference = RepeatSampler(
            range(steps * batch), generations, batch, repeat, shuffle=False
        )
        assert canonical(stream) == list(reference)
        assert len(stream) == len(MoPPSRepeatSampler(adapter, generations, repeat))
        assert len(stream) == len(reference)
        assert len(chunks) == steps and all(len(set(c)) == batch for c in chunks)
        # A second process with the same seed and feedback: the same stream.
        assert list(MoPPSRepeatSampler(twin, generations, repeat)) == stream
        chosen = np.unique(stream)
        adapter.update_from_positions(chosen, chosen % 2)
        twin.update_from_positions(chosen, chosen % 2)


def tiny_model(tokenizer):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


def make_trainer(tokenizer, output_dir, scored, **config):
    dataset = Dataset.from_dict(
        {
            "prompt": [f"w{i} w{(i + 1) % 40}" for i in range(NUM_PROMPTS)],
            "uid": [500 + 3 * i for i in range(NUM_PROMPTS)],
        }
    )

    def reward(prompts, completions, uid, **kwargs):
        # uid // 3 divisible by 3: always solved; else the completion's
        # length parity decides: degenerate and mixed groups both occur.
        values = [
            1.0 if (u // 3) % 3 == 0 or len(c) % 2 == 0 else 0.0
            for u, c in zip(uid, completions, strict=True)
        ]
        scored.append((list(uid), values))
        return values

    args = GRPOConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=PER_DEVICE_BATCH,
        num_generations=NUM_GENERATIONS,
        max_completion_length=4,
        learning_rate=1e-3,
        report_to="none",
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        seed=11,
        **config,
    )
    return MoPPSGRPOTrainer(
        model=tiny_model(tokenizer),
        reward_funcs=reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        prompt_id_column="uid",
        mopps_options={"candidate_multiplier": MULTIPLIER},
    )


def test_grpo_steps_on_cpu_with_mopps_choosing_prompts(
    tmp_path, tiny_tokenizer, reference_posterior
):
    scored = []
    trainer = make_trainer(
        tiny_tokenizer,
        tmp_path,
        scored,
        max_steps=3,
        save_strategy="steps",
        save_steps=3,
    )
    assert isinstance(trainer._get_train_sampler(), MoPPSRepeatSampler)
    assert trainer.args.ignore_data_skip
    trainer.train()

    assert len(scored) == 3  # one reward call per generation, training only
    id_map = trainer.mopps.id_map
    steps = []
    for uids, rewards in scored:
        # Each prompt's completions are consecutive and a generation holds
        # B = 2 distinct prompts.
        assert uids[0::2] == uids[1::2] and len(set(uids)) == 2
        steps.append((id_map.positions(uids), np.asarray(rewards)))
    alpha, beta = reference_posterior(NUM_PROMPTS, steps)
    state = trainer.mopps.state_dict()["selector"]
    np.testing.assert_allclose(state["alpha"], alpha, rtol=1e-6)
    np.testing.assert_allclose(state["beta"], beta, rtol=1e-6)
    assert trainer.mopps.max_lag <= 1  # the dataloader fetches one batch ahead
    logged = trainer.state.log_history[0]
    for name in ("zero_variance_fraction", "selected_mean_q50", "max_lag"):
        assert f"mopps/{name}" in logged

    # The checkpoint holds the selector; resuming continues from it exactly:
    # the first generation after resume is the saved selector's next choice.
    checkpoint = tmp_path / "checkpoint-3"
    saved = load_state(checkpoint / STATE_FILE)
    np.testing.assert_array_equal(saved["selector"]["alpha"], alpha)
    np.testing.assert_array_equal(saved["selector"]["beta"], beta)
    expected = SelectorAdapter(id_map, 2, seed=11, candidate_multiplier=MULTIPLIER)
    expected.load_state_dict(saved)
    expected_uids = id_map.ids[expected.select()].tolist()
    resumed_scored = []
    resumed = make_trainer(tiny_tokenizer, tmp_path, resumed_scored, max_steps=4)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert len(resumed_scored) == 1
    assert sorted(set(resumed_scored[0][0])) == sorted(expected_uids)


def test_rewards_update_in_training_mode_only(tmp_path, tiny_tokenizer):
    trainer = make_trainer(tiny_tokenizer, tmp_path, [], max_steps=1)
    inputs = [{"prompt": "w2 w3", "uid": 506}, {"prompt": "w2 w3", "uid": 506}]
    completions = ["w2 w3", "w2"]
    trainer.model.eval()
    trainer._calculate_rewards(inputs, ["w2 w3"] * 2, completions, [[5, 6], [5]])
    untouched = trainer.mopps.state_dict()["selector"]
    assert untouched["num_updates"] == 0 and np.all(untouched["alpha"] == 1.0)
    trainer.model.train()
    trainer._calculate_rewards(inputs, ["w2 w3"] * 2, completions, [[5, 6], [5]])
    state = trainer.mopps.state_dict()["selector"]
    # uid 506 (position 2): (506 // 3) % 3 == 0, both completions succeed.
    assert (state["alpha"][2], state["beta"][2]) == (3.0, 1.0)
    assert np.sum(state["alpha"]) == NUM_PROMPTS + 2
