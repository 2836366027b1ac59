"""A tiny local world for OpenRLHF runs: model, tokenizer, prompts, reward.

Nothing is downloaded: a 2-layer Qwen2 (hidden 32) with random weights and a
word-level tokenizer over digits, ``+``, ``=`` and three special tokens are
saved to a folder that OpenRLHF loads as ``--actor.model_name_or_path``;
``NUM_PROMPTS`` prompts "a + b =" (distinct pairs) with the answer as label go
to a JSONL file (``--data.prompt_dataset``); a rule reward function file
(``--reward.remote_url``, OpenRLHF's ``reward_func(queries, prompts,
labels)``) scores the answer and logs every score it computes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

NUM_PROMPTS = 64
PAIR = re.compile(r"(\d+)\+(\d+)=(\d*)")
SPECIAL = ("<pad>", "<eos>", "<unk>")

REWARD_FUNC = '''"""Rule reward for "a + b =": 1.0 when the answer equals the label."""
import json
import threading

import torch

LOG = {log!r}
_lock = threading.Lock()


def reward_func(queries, prompts, labels):
    query = queries[0].replace("<eos>", "").replace("<pad>", "").replace(" ", "")
    answer = query.rsplit("=", 1)[-1]
    score = float(answer == labels[0])
    with _lock, open(LOG, "a") as handle:
        handle.write(json.dumps({{"prompt": prompts[0], "score": score}}) + "\\n")
    value = torch.tensor(score)
    return {{"rewards": value, "scores": value, "extra_logs": {{}}}}
'''


def pairs() -> list[tuple[int, int]]:
    """The ``(a, b)`` of each prompt, all distinct."""
    return [(3 + (7 * i) % 41, 2 + (11 * i) % 37) for i in range(NUM_PROMPTS)]


def prompt_text(a: int, b: int) -> str:
    return f"{a} + {b} ="


def success_rates() -> np.ndarray:
    """True success probability of each prompt, spread over (0, 1) in an
    order unrelated to the dataset's."""
    return ((np.arange(NUM_PROMPTS) * 37) % NUM_PROMPTS + 0.5) / NUM_PROMPTS


def rate_by_prompt() -> dict[str, float]:
    rates = success_rates()
    return {prompt_text(a, b): float(rates[i]) for i, (a, b) in enumerate(pairs())}


def parse(text: str) -> tuple[int, int, str] | None:
    """``(a, b, answer)`` from a decoded "a + b = answer" sequence."""
    match = PAIR.search(text.replace(" ", "").replace("<eos>", "").replace("<pad>", ""))
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), match.group(3)


def build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL)}
    vocab.update({token: len(vocab) + i for i, token in enumerate("0123456789+=")})
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def build_model_dir(path: Path) -> Path:
    """Save the tokenizer and a random 2-layer Qwen2 to ``path``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def write_dataset(path: Path) -> Path:
    with open(path, "w") as handle:
        for a, b in pairs():
            row = {"input": prompt_text(a, b), "label": str(a + b)}
            handle.write(json.dumps(row) + "\n")
    return path


def write_reward_func(path: Path, log: Path) -> Path:
    path.write_text(REWARD_FUNC.format(log=str(log)))
    return path


def read_reward_log(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]
