"""Fixtures for the trainer-adapter tests: a tiny word-level tokenizer built
in the test (no downloads), and a NumPy reference of the per-visit update."""

import numpy as np
import pytest

WORDS = [f"w{i}" for i in range(40)]


@pytest.fixture
def tiny_tokenizer():
    """``PreTrainedTokenizerFast`` over 40 words, with a plain chat template."""
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    vocab.update({word: i + 3 for i, word in enumerate(WORDS)})
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.chat_template = (
        "{% for message in messages %}{{ message['content'] }} {% endfor %}"
    )
    return tokenizer


@pytest.fixture
def reference_posterior():
    """The NumPy reference update, :func:`numpy_mopps_posterior`."""
    return numpy_mopps_posterior


def numpy_mopps_posterior(num_prompts, steps, discount=1.0, prior=(1.0, 1.0)):
    """Independent NumPy port of MoPPS's update (Qu et al. 2025, eq. 4) with
    binary evidence ``s = 1[r >= 1]``: per step and visited prompt,
    ``a <- lambda a + (1 - lambda) a0 + S``, ``b <- lambda b + (1 - lambda) b0
    + n - S``. ``steps`` is a list of ``(positions, rewards)`` response rows."""
    alpha = np.full(num_prompts, prior[0])
    beta = np.full(num_prompts, prior[1])
    for positions, rewards in steps:
        for prompt in np.unique(positions):
            rows = np.asarray(rewards)[np.asarray(positions) == prompt]
            successes = float(np.sum(rows >= 1.0))
            alpha[prompt] = discount * alpha[prompt] + (1 - discount) * prior[0]
            beta[prompt] = discount * beta[prompt] + (1 - discount) * prior[1]
            alpha[prompt] += successes
            beta[prompt] += rows.size - successes
    return alpha, beta
