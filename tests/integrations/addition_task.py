"""The "a + b =" task the verl end-to-end tests share (verl 0.7.1 and 0.9.1):
GSM8K-style rows with known per-prompt success rates, and the tiny random
Qwen2 they train. Importable in the tests' Ray workers (the harnesses put this
folder on their ``PYTHONPATH``). Nothing is downloaded."""

from __future__ import annotations

import json
import re
from pathlib import Path

PROMPT = re.compile(r"(\d+) \+ (\d+) =")


def success_rate(a: int, b: int) -> float:
    """The scripted policy's probability of answering "a + b =" correctly."""
    return ((3 * a + b) % 9) / 8.0


def parse_prompt(text: str) -> tuple[int, int]:
    """(a, b) of the last "a + b =" in ``text``."""
    found = PROMPT.findall(text)
    if not found:
        raise ValueError(f"no 'a + b =' prompt in {text!r}")
    a, b = found[-1]
    return int(a), int(b)


def addition_pairs(count: int) -> list[tuple[int, int]]:
    """``count`` distinct (a, b) pairs with a, b < 50."""
    return [(i % 50, (7 * i + 3) % 50) for i in range(count)]


def prompt_id(row: int) -> int:
    """Stable, non-contiguous ``extra_info.index`` of dataset row ``row``."""
    return 5000 + 11 * row


def write_dataset(path: Path, pairs: list[tuple[int, int]]) -> str:
    """GSM8K-style rows: data_source openai/gsm8k, the sum as ground truth."""
    with open(path, "w") as handle:
        for row, (a, b) in enumerate(pairs):
            record = {
                "data_source": "openai/gsm8k",
                "prompt": [{"role": "user", "content": f"{a} + {b} ="}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": str(a + b)},
                "extra_info": {"index": prompt_id(row), "split": "train"},
            }
            handle.write(json.dumps(record) + "\n")
    return str(path)


def save_tiny_qwen2(tokenizer, path: Path, bos_token_id: int) -> str:
    """A random 2-layer Qwen2 over ``tokenizer`` (seed 0), saved with it."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

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
        bos_token_id=bos_token_id,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
