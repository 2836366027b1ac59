"""MoPPS prompt selection inside verl, TRL and OpenRLHF, on a toy pool, on CPU.

    python examples/prompt_trainers.py

Each part runs if its trainer is installed (``.ci/install-trainers``) and is
what a user copies (``examples/prompt_trainers.md`` has the config lines):

1. verl: the sampler built by verl's own ``create_rl_sampler`` from the
   ``data.sampler.class_path`` config, fed a ``DataProto`` per step;
2. TRL: ``GRPOTrainer`` swapped for ``MoPPSGRPOTrainer``, two GRPO steps of a
   tiny random model (built here, nothing downloaded);
3. OpenRLHF: ``MoPPSPromptLoader`` over a ``PromptDataset``, fed
   ``Experience``-like score rows.

A prompt's true success rate is ``p_i = i / N``; MoPPS (target 0.5) should
pick prompts whose posterior means sit near 0.5 after a few steps.
"""

import importlib.util
import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

NUM_PROMPTS, BATCH, RESPONSES, STEPS = 64, 4, 8, 12
rng = np.random.default_rng(0)


def true_rate(position):
    return np.asarray(position) / NUM_PROMPTS


def report(name, adapter):
    state = adapter.selector.state_dict()
    mean = state["alpha"] / (state["alpha"] + state["beta"])
    visited = state["last_visit"] >= 0
    print(
        f"{name}: {adapter.selector.num_updates} updates, "
        f"max lag {adapter.max_lag}, "
        f"zero-variance fraction (last step) "
        f"{adapter.metrics.get('zero_variance_fraction', float('nan')):.2f}, "
        f"corr(posterior mean, true rate) on visited "
        f"{np.corrcoef(mean[visited], true_rate(np.flatnonzero(visited)))[0, 1]:.2f}"
    )


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    vocab.update({f"w{i}": i + 3 for i in range(NUM_PROMPTS)})
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    return tokenizer


def verl_part():
    import torch
    from omegaconf import OmegaConf
    from torchdata.stateful_dataloader import StatefulDataLoader
    from verl import DataProto
    from verl.trainer.main_ppo import create_rl_sampler
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    folder = Path(tempfile.mkdtemp())
    with open(folder / "train.jsonl", "w") as handle:
        for i in range(NUM_PROMPTS):
            row = {
                "prompt": [{"role": "user", "content": f"w{i}"}],
                "extra_info": {"index": 10_000 + i},  # stable, globally unique
            }
            handle.write(json.dumps(row) + "\n")
    data = OmegaConf.create(
        {
            "train_batch_size": BATCH,
            "dataloader_num_workers": 0,  # verl requires 0 with a curriculum
            "shuffle": False,
            "filter_overlong_prompts": False,
            "cache_dir": str(folder / "cache"),
            # The lines a verl user adds (Hydra: data.sampler.class_path=...,
            # +data.sampler.mopps.candidate_multiplier=4):
            "sampler": {
                "class_path": "pkg://bayesrl.integrations.verl",
                "class_name": "MoPPSSampler",
                "mopps": {"candidate_multiplier": 4, "target": 0.5},
            },
        }
    )
    dataset = RLHFDataset(str(folder / "train.jsonl"), tiny_tokenizer(), data)
    sampler = create_rl_sampler(data, dataset)
    loader = StatefulDataLoader(
        dataset,
        batch_size=BATCH,
        sampler=sampler,
        drop_last=True,
        collate_fn=collate_fn,
    )
    steps = 0
    while steps < STEPS:
        for batch in loader:  # what RayPPOTrainer.fit does, minus the LLM
            ids = np.repeat(np.asarray(batch["index"], dtype=np.int64), RESPONSES)
            rewards = rng.random(ids.size) < true_rate(ids - 10_000)
            scores = torch.zeros(ids.size, 3)
            scores[:, -1] = torch.as_tensor(rewards, dtype=torch.float32)
            order = rng.permutation(ids.size)  # _balance_batch reorders rows
            sampler.update(
                batch=DataProto.from_dict(
                    tensors={"token_level_scores": scores[order]},
                    non_tensors={"index": ids[order].astype(object)},
                )
            )
            steps += 1
    report("verl    ", sampler.adapter)


def trl_part():
    import torch
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import GRPOConfig

    from bayesrl.integrations.trl import MoPPSGRPOTrainer

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=1,
        )
    )
    dataset = Dataset.from_dict({"prompt": [f"w{i}" for i in range(NUM_PROMPTS)]})

    def reward(prompts, completions, prompt_id, **kwargs):
        return [float(rng.random() < true_rate(i)) for i in prompt_id]

    trainer = MoPPSGRPOTrainer(  # the only change from GRPOTrainer(...)
        model=model,
        reward_funcs=reward,
        args=GRPOConfig(
            output_dir=tempfile.mkdtemp(),
            per_device_train_batch_size=8,
            num_generations=2,
            max_completion_length=4,
            max_steps=2,
            use_cpu=True,
            report_to="none",
            logging_steps=1,
            disable_tqdm=True,
        ),
        train_dataset=dataset,
        processing_class=tokenizer,
        mopps_options={"candidate_multiplier": 4},
    )
    trainer.train()
    report("TRL     ", trainer.mopps)


def openrlhf_part():
    import torch
    from openrlhf.datasets import PromptDataset

    from bayesrl.integrations.openrlhf import MoPPSPromptLoader

    strategy = SimpleNamespace(
        args=SimpleNamespace(data=SimpleNamespace(input_key="q", label_key="a")),
        is_rank_0=lambda: True,
    )
    rows = [{"q": f"question {i}", "a": str(i)} for i in range(NUM_PROMPTS)]
    loader = MoPPSPromptLoader(
        PromptDataset(rows, None, strategy), BATCH, candidate_multiplier=4
    )
    steps = 0
    while steps < STEPS:
        iterator = iter(loader)
        for _ in range(len(loader) // BATCH):
            # OpenRLHF's SamplesGenerator pulls B single-prompt batches per step
            batches = [next(iterator) for _ in range(BATCH)]
            experiences = [
                SimpleNamespace(
                    prompts=[prompt] * RESPONSES,
                    scores=torch.as_tensor(
                        rng.random(RESPONSES) < true_rate(int(label)),
                        dtype=torch.float32,
                    ),
                )
                for _, [prompt], [label], _ in batches
            ]
            loader.update(experiences)  # attach(trainer) does this per step
            steps += 1
    report("OpenRLHF", loader.adapter)


if __name__ == "__main__":
    for name, part, module in [
        ("verl", verl_part, "verl"),
        ("TRL", trl_part, "trl"),
        ("OpenRLHF", openrlhf_part, "openrlhf"),
    ]:
        if importlib.util.find_spec(module) is None:
            print(f"{name}: not installed, skipped (see .ci/install-trainers)")
            continue
        part()
