"""A tiny verl 0.9.1 GRPO run on CPU through ``bayesrl.integrations.verl_main``.

What is real: ``verl_main.main`` (Hydra composition of verl's own
``ppo_trainer.yaml`` with command-line overrides, the config checks,
verl's ``run_ppo`` and its ``TaskRunner`` as a Ray actor), ``RLHFDataset``
over a JSON-lines file, ``StatefulDataLoader`` with the MoPPS sampler,
``MoPPSRayPPOTrainer`` = verl's ``RayPPOTrainer`` (``init_workers``, ``fit``,
``_get_gen_batch``, ``_balance_batch``, ``compute_advantage``, checkpoint save
and resume), ``RayWorkerGroup`` dispatch, ``LLMServerManager`` with verl's
load balancer and ``LLMServerClient``, ``CheckpointEngineManager``,
``AgentLoopManager``/``AgentLoopWorker`` with the single-turn agent loop and
``_postprocess``, ``RewardLoopManager``/``RewardLoopWorker`` with the naive
reward manager and ``default_compute_score`` (GSM8K rule), real Ray actors on
CPU. What is scripted: see :mod:`verl09.scripted`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from addition_task import (  # noqa: F401 (re-exported to the tests)
    addition_pairs,
    prompt_id,
    save_tiny_qwen2,
    write_dataset,
)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_model_dir(path: Path) -> str:
    """A random 2-layer Qwen2 and a byte-level BPE tokenizer trained here on
    "a + b =" chats, with Qwen's chat markers, saved locally.

    transformers 5 loads any ``qwen2`` checkpoint's tokenizer as
    ``Qwen2Tokenizer`` (byte-level, Qwen's pre-tokenizer regex), and verl's
    Qwen continuous-token builder needs ``<|im_end|>`` and a one-token
    newline, so the tokenizer is byte-level BPE like Qwen's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    corpus = [
        f"<|im_start|>user\n{a} + {b} =<|im_end|>\n<|im_start|>assistant\n"
        f"#### {a + b}<|im_end|>"
        for a in range(50)
        for b in range(50)
    ]
    core.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<|endoftext|>", eos_token="<|im_end|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return save_tiny_qwen2(tokenizer, path, bos_token_id=tokenizer.pad_token_id)


def overrides(
    run_dir: Path,
    model_dir,
    data_file,
    *,
    batch,
    responses,
    steps,
    save_freq,
    mopps,
    extra=(),
) -> list[str]:
    """Command-line overrides of a small GRPO run with the default rule-based
    reward loop (no reward model) and MoPPS options ``mopps``."""
    args = [
        "algorithm.adv_estimator=grpo",
        f"data.train_files={data_file}",
        f"data.val_files={data_file}",
        f"data.train_batch_size={batch}",
        "data.max_prompt_length=24",
        "data.max_response_length=8",
        f"actor_rollout_ref.model.path={model_dir}",
        "actor_rollout_ref.actor.use_kl_loss=false",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={batch}",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1",
        "actor_rollout_ref.rollout.name=scripted",
        f"actor_rollout_ref.rollout.n={responses}",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        "actor_rollout_ref.rollout.agent.num_workers=1",
        "reward.num_workers=1",
        "trainer.device=cpu",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        "trainer.logger=[console]",
        "trainer.val_before_train=false",
        "trainer.test_freq=-1",
        f"trainer.total_training_steps={steps}",
        "trainer.total_epochs=1000",
        f"trainer.save_freq={save_freq}",
        f"trainer.default_local_dir={run_dir / 'checkpoints'}",
        f"hydra.run.dir={run_dir / 'hydra'}",
    ]
    return args + [f"+mopps.{k}={v}" for k, v in mopps.items()] + list(extra)


def ray_init(record_file: Path) -> None:
    """A local Ray cluster on 2 CPUs whose workers import these helpers,
    record to ``record_file`` and never reach the network."""
    import ray
    from verl.trainer.constants_ppo import get_ppo_ray_runtime_env

    from verl09.scripted import RECORD_ENV

    here = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    runtime_env = get_ppo_ray_runtime_env()
    runtime_env.setdefault("env_vars", {}).update(
        {
            "PYTHONPATH": path,
            RECORD_ENV: str(record_file),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "JAX_PLATFORMS": "cpu",
        }
    )
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024**2,
        runtime_env=runtime_env,
        logging_level="ERROR",
        log_to_driver=True,
    )


def train(run_dir: Path, args: list[str]) -> list[dict]:
    """``verl_main.main(args)`` with the scripted runner in a fresh Ray
    session; the actor updates recorded (one dict per step, in order)."""
    import ray

    from bayesrl.integrations import verl_main
    from verl09.scripted import ScriptedTaskRunner

    run_dir.mkdir(parents=True, exist_ok=True)
    record_file = run_dir / "updates.jsonl"
    record_file.unlink(missing_ok=True)
    ray_init(record_file)
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # raise the run's error, not SystemExit
    try:
        verl_main.main(args, task_runner_class=ScriptedTaskRunner)
    finally:
        ray.shutdown()
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR")
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error
    with open(record_file) as handle:
        return [json.loads(line) for line in handle]


def saved_posterior(run_dir: Path, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta) that ``global_step_{step}`` holds."""
    path = run_dir / "checkpoints" / f"global_step_{step}" / "mopps_sampler.npz"
    with np.load(path, allow_pickle=False) as data:
        return data["selector.alpha"].copy(), data["selector.beta"].copy()
