"""One recorded GRPO run of ``MoPPSGRPOTrainer`` (TRL 1.16) on CPU.

World: 64 prompts "a + b =" (``a, b`` in 0..7) with stable ids ``uid = 1000 +
7 i``; a tiny random Qwen2 built from a config and a word-level tokenizer
built here (nothing downloaded). Generation is TRL's own (transformers
``generate`` on CPU); nothing of TRL, transformers or accelerate is stubbed.

Reward. A random 2-layer model never adds, so scoring its completions would
make every prompt's success rate 0. The reward function therefore stands in
for a policy whose success rate on "a + b =" is a known function of the
prompt, :func:`true_rate`: completion ``k`` of prompt ``uid`` at optimizer
step ``s`` succeeds (reward 1.0, else 0.0) when ``u < true_rate(a, b)`` with
``u`` uniform from ``numpy.random.default_rng((SEED, uid, s, k))``; ``k`` is
the completion's row in the generation batch gathered over processes. The draw
depends on nothing else, so a resumed run draws exactly what an uninterrupted
run draws, and the posterior can be checked against the truth.

Recording (observation only): every ``select`` of the trainer's adapter (the
uids chosen, in order) and every reward call (step, the uids, rewards and
sampled completions of this process's rows, in order) go to one event list, so
the order of selections and updates, the rewards TRL computed and the logged
metrics can be checked independently. The learning rate is constant, so a run
resumed with a shorter ``max_steps`` trains as the longer one did. ``python -m
trl_fit.run OUT ...`` under ``torchrun`` writes ``OUT/rank<r>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
from trl import GRPOConfig

from bayesrl.integrations.trl import MoPPSGRPOTrainer

SEED = 2024
OPERANDS = 8  # a, b in 0..7: 64 prompts
ID_OFFSET, ID_STRIDE = 1000, 7
NUM_GENERATIONS = 4
PROMPTS_PER_STEP = 8  # B
MULTIPLIER = 2  # B_hat = 16: four selections per pass over 64 prompts


def true_rate(a: int, b: int) -> float:
    """Success rate of prompt "a + b =": distinct values spread over (0, 1)."""
    return ((OPERANDS * a + b) * 37 % (OPERANDS * OPERANDS) + 0.5) / OPERANDS**2


def prompts(num_prompts: int = OPERANDS * OPERANDS) -> dict[str, list]:
    operands = [divmod(i, OPERANDS) for i in range(num_prompts)]
    return {
        "prompt": [f"{a} + {b} =" for a, b in operands],
        "uid": [ID_OFFSET + ID_STRIDE * i for i in range(num_prompts)],
        "rate": [true_rate(a, b) for a, b in operands],
    }


def tokenizer() -> PreTrainedTokenizerFast:
    words = [str(n) for n in range(2 * OPERANDS)] + ["+", "="]
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    vocab.update({word: i + 3 for i, word in enumerate(words)})
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def model(vocab_size: int) -> Qwen2ForCausalLM:
    torch.manual_seed(SEED)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
        tie_word_embeddings=False,
    )
    return Qwen2ForCausalLM(config)


def coin_reward(events: list):
    """The reward function (module docstring), recording what it returns."""

    def reward(prompts, completions, uid, rate, trainer_state, **kwargs):
        rank = int(os.environ.get("RANK", 0))
        step = trainer_state.global_step
        values = []
        for row, (prompt_id, success_rate) in enumerate(zip(uid, rate, strict=True)):
            generator = np.random.default_rng(
                (SEED, prompt_id, step, rank * len(uid) + row)
            )
            values.append(float(generator.random() < success_rate))
        events.append(
            {
                "kind": "reward",
                "step": step,
                "uids": list(uid),
                "rewards": values,
                "completions": list(completions),
            }
        )
        return values

    return reward


def make_trainer(output_dir, events: list, num_prompts=64, mopps=None, **config):
    """A recorded ``MoPPSGRPOTrainer``; ``config`` overrides ``GRPOConfig``."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    settings = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=PROMPTS_PER_STEP * NUM_GENERATIONS // world,
        num_generations=NUM_GENERATIONS,
        max_completion_length=4,
        learning_rate=1e-3,
        lr_scheduler_type="constant",
        report_to="none",
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        seed=SEED,
    )
    settings.update(config)
    words = tokenizer()
    trainer = MoPPSGRPOTrainer(
        model=model(len(words)),
        reward_funcs=coin_reward(events),
        args=GRPOConfig(**settings),
        train_dataset=Dataset.from_dict(prompts(num_prompts)),
        processing_class=words,
        prompt_id_column="uid",
        mopps_options=mopps or {"candidate_multiplier": MULTIPLIER},
    )
    select, ids = trainer.mopps.select, trainer.mopps.id_map.ids

    def recording_select():
        positions = select()
        events.append({"kind": "select", "uids": ids[positions].tolist()})
        return positions

    trainer.mopps.select = recording_select
    return trainer


def outcome(trainer, events: list) -> dict:
    """What a run leaves: events, logged ``mopps/*`` rows, selector state."""
    state = trainer.mopps.state_dict()["selector"]
    return {
        "events": events,
        "metrics": [
            {k: v for k, v in row.items() if k.startswith("mopps/")}
            for row in trainer.state.log_history
            if "mopps/max_lag" in row
        ],
        "selector": {k: np.asarray(v).tolist() for k, v in state.items()},
        "chunks_in_pass": trainer.mopps_sampler.chunks_in_pass,
        "expected_lag": trainer.mopps_expected_lag,
    }


def run(output_dir, resume=None, num_prompts=64, **config) -> dict:
    """Train (or resume from ``resume``) and return :func:`outcome`."""
    events: list = []
    trainer = make_trainer(output_dir, events, num_prompts, **config)
    trainer.train(resume_from_checkpoint=resume)
    return outcome(trainer, events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--max-steps", type=int, required=True)
    parser.add_argument("--save-steps", type=int)
    parser.add_argument("--resume")
    parser.add_argument("--num-prompts", type=int, default=64)
    args = parser.parse_args()
    saving = {}
    if args.save_steps:
        saving = dict(save_strategy="steps", save_steps=args.save_steps)
    result = run(
        Path(args.out) / "train",
        resume=args.resume,
        num_prompts=args.num_prompts,
        max_steps=args.max_steps,
        **saving,
    )
    result["world_size"] = dist.get_world_size()
    with open(Path(args.out) / f"rank{dist.get_rank()}.json", "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
