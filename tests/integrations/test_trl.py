"""MoPPSGRPOTrainer against TRL's real GRPOTrainer: structure and bad input.

A tiny randomly initialised Llama and a word-level tokenizer built here (no
downloads) train for a few GRPO steps on CPU with our sampler choosing the
prompts; the reward function records every (prompt id, reward) it scores and
the posterior must equal an independent NumPy port of MoPPS's update on those
rows. The index stream must have exactly ``RepeatSampler``'s structure. Bad
input (unknown ids, infinite rewards, a batch without the id column, worker
processes, an unsupported TRL) is refused with a ``ValueError`` (or
``ImportError``) naming it, the selector untouched; unscored completions (NaN)
are left out and counted. Nothing is stubbed.
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
    check_trl_version,
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
        for chunk in chunks:  # one update per selection, oldest first
            chunk = np.asarray(chunk)
            adapter.update_from_positions(chunk, chunk % 2)
            twin.update_from_positions(chunk, chunk % 2)


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


def make_dataset():
    return Dataset.from_dict(
        {
            "prompt": [f"w{i} w{(i + 1) % 40}" for i in range(NUM_PROMPTS)],
            "uid": [500 + 3 * i for i in range(NUM_PROMPTS)],
        }
    )


def make_trainer(
    tokenizer, output_dir, scored, reward_funcs=None, mopps=None, **config
):
    """A trainer on 16 prompts; ``mopps`` overrides MoPPSGRPOTrainer keywords."""

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
    options = dict(
        train_dataset=make_dataset(),
        prompt_id_column="uid",
        mopps_options={"candidate_multiplier": MULTIPLIER},
    )
    options.update(mopps or {})
    return MoPPSGRPOTrainer(
        model=tiny_model(tokenizer),
        reward_funcs=reward if reward_funcs is None else reward_funcs,
        args=args,
        processing_class=tokenizer,
        **options,
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
    assert not trainer.args.ignore_data_skip  # transformers skips on resume
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

    # The checkpoint holds the selector with the selection prefetched for
    # step 4 (made, never trained): the resumed run trains it first.
    checkpoint = tmp_path / "checkpoint-3"
    saved = load_state(checkpoint / STATE_FILE)
    np.testing.assert_array_equal(saved["selector"]["alpha"], alpha)
    np.testing.assert_array_equal(saved["selector"]["beta"], beta)
    assert saved["selector"]["pending_ids"].shape == (1, 2)
    expected_uids = id_map.ids[saved["selector"]["pending_ids"][0]].tolist()
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


def selector_state(trainer):
    return {k: np.array(v) for k, v in trainer.mopps.state_dict()["selector"].items()}


def assert_same_state(before, after):
    assert before.keys() == after.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def rows(uids):
    """Two completions per prompt, as TRL's reward hook receives them."""
    inputs = [{"prompt": "w2 w3", "uid": u} for u in uids for _ in range(2)]
    return inputs, ["w2 w3"] * len(inputs), ["w2"] * len(inputs), [[5]] * len(inputs)


def selected_uids(trainer):
    """The uids of a new selection (uid = 500 + 3 * position)."""
    return [500 + 3 * int(p) for p in trainer.mopps.select()]


def test_bad_feedback_is_refused_with_the_selector_untouched(tmp_path, tiny_tokenizer):
    scale = {"value": 1.0}

    def reward(prompts, completions, uid=None, **kwargs):
        return [scale["value"]] * len(prompts)

    trainer = make_trainer(tiny_tokenizer, tmp_path, [], reward_funcs=reward)
    trainer.model.train()
    first = selected_uids(trainer)
    trainer._calculate_rewards(*rows(first))
    second = selected_uids(trainer)  # a selection awaiting feedback is state too
    before = selector_state(trainer)
    with pytest.raises(ValueError, match=r"unknown uid values \[999\]"):
        trainer._calculate_rewards(*rows([second[0], 999]))
    assert_same_state(before, selector_state(trainer))
    outsider = next(
        500 + 3 * p for p in range(NUM_PROMPTS) if 500 + 3 * p not in second
    )
    with pytest.raises(ValueError, match="did not choose"):
        trainer._calculate_rewards(*rows([second[0], outsider]))
    assert_same_state(before, selector_state(trainer))
    scale["value"] = float("inf")
    with pytest.raises(ValueError, match="not finite"):
        trainer._calculate_rewards(*rows(second))
    assert_same_state(before, selector_state(trainer))
    inputs, *rest = rows(second)
    del inputs[1]["uid"]
    with pytest.raises(ValueError, match=r"rows \[1\] .* lack the prompt id column"):
        trainer._calculate_rewards(inputs, *(column[: len(inputs)] for column in rest))
    assert_same_state(before, selector_state(trainer))


def test_unscored_completions_are_left_out_and_counted(tmp_path, tiny_tokenizer):
    """TRL turns a reward function's None into NaN: "not scored"."""

    unscored = set()

    def reward(prompts, completions, uid=None, **kwargs):
        return [None if u in unscored else 1.0 for u in uid]

    trainer = make_trainer(tiny_tokenizer, tmp_path, [], reward_funcs=reward)
    trainer.model.train()
    scored_uid, unscored_uid = selected_uids(trainer)
    unscored.add(unscored_uid)
    trainer._calculate_rewards(*rows([scored_uid, unscored_uid]))
    state = selector_state(trainer)
    # The scored prompt: two successes; the unscored one: untouched.
    scored, untouched = (scored_uid - 500) // 3, (unscored_uid - 500) // 3
    assert (state["alpha"][scored], state["beta"][scored]) == (3.0, 1.0)
    assert (state["alpha"][untouched], state["beta"][untouched]) == (1.0, 1.0)
    assert trainer._metrics["train"]["mopps/num_unscored"] == [2.0]
    oldest = selected_uids(trainer)
    selected_uids(trainer)
    unscored.update(oldest)
    trainer._calculate_rewards(*rows(oldest[:1]))  # nothing scored: no evidence
    after = selector_state(trainer)
    for name in ("alpha", "beta", "num_updates"):
        np.testing.assert_array_equal(after[name], state[name])
    assert after["pending_ids"].shape[0] == 1  # the oldest pending is closed
    assert trainer._metrics["train"]["mopps/num_unscored"] == [2.0, 2.0]


def test_infinite_reward_stops_train_at_that_step(
    tmp_path, tiny_tokenizer, reference_posterior
):
    scored = []

    def reward(prompts, completions, uid, trainer_state, **kwargs):
        value = float("inf") if trainer_state.global_step == 1 else 1.0
        scored.append((list(uid), [value] * len(uid)))
        return [value] * len(uid)

    trainer = make_trainer(
        tiny_tokenizer, tmp_path, [], reward_funcs=reward, max_steps=3
    )
    with pytest.raises(ValueError, match="not finite"):
        trainer.train()
    assert len(scored) == 2 and trainer.state.global_step == 1
    uids, rewards = scored[0]
    alpha, beta = reference_posterior(
        NUM_PROMPTS, [(trainer.mopps.id_map.positions(uids), np.asarray(rewards))]
    )
    state = selector_state(trainer)
    np.testing.assert_array_equal(state["alpha"], alpha)
    np.testing.assert_array_equal(state["beta"], beta)


@pytest.mark.parametrize(
    "config,options,message",
    [
        (dict(dataloader_num_workers=2), {}, "dataloader_num_workers=0, got 2"),
        (dict(remove_unused_columns=True), {}, "remove_unused_columns=False"),
        (dict(accelerator_config={"dispatch_batches": True}), {}, "dispatch_batches"),
        ({}, dict(prompt_id_column="index"), "no column 'index'"),
        ({}, dict(success_reward_func=1), "success_reward_func"),
        (
            dict(max_steps=1),
            dict(train_dataset=make_dataset().to_iterable_dataset()),
            "map-style",
        ),
    ],
    ids=[
        "workers",
        "remove-columns",
        "dispatch",
        "id-column",
        "reward-func",
        "iterable",
    ],
)
def test_unsupported_configurations_are_refused_at_construction(
    tmp_path, tiny_tokenizer, config, options, message
):
    with pytest.raises(ValueError, match=message):
        make_trainer(tiny_tokenizer, tmp_path, [], mopps=options, **config)


def test_unsupported_trl_version_is_refused_at_import(monkeypatch):
    check_trl_version("1.16.0")
    check_trl_version("1.16.2+local")
    for version in ("1.15.0", "1.17.0", "0.16.1"):
        with pytest.raises(
            ImportError, match=f"supports TRL 1.16.x, found trl {version}"
        ):
            check_trl_version(version)
    import importlib

    import trl

    import bayesrl.integrations.trl as module

    monkeypatch.setattr(trl, "__version__", "1.17.0")
    try:
        with pytest.raises(ImportError, match="found trl 1.17.0"):
            importlib.reload(module)
    finally:
        monkeypatch.undo()
        importlib.reload(module)
