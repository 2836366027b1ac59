"""Build a tiny verl 0.7.1 run on CPU and drive ``RayPPOTrainer.fit()``.

What is real: Hydra composition of verl's own ``ppo_trainer.yaml``, verl's
``migrate_legacy_reward_impl``/``validate_config``, ``RLHFDataset`` over a
JSONL file, ``create_rl_sampler`` from ``data.sampler.class_path``,
``StatefulDataLoader``, ``RayPPOTrainer`` (``init_workers``, ``fit``,
``_balance_batch``, ``compute_advantage``, checkpoint save/resume),
``RayWorkerGroup`` dispatch, ``AgentLoopManager``/``AgentLoopWorker`` with the
single-turn agent loop, ``RewardLoopManager``/``RewardLoopWorker`` with the
naive reward manager and ``default_compute_score`` (GSM8K rule), real Ray
actors. What is scripted: see :mod:`verl07.fakes`.
"""

from __future__ import annotations

import os
from pathlib import Path

from addition_task import (  # noqa: F401 (re-exported to the tests)
    addition_pairs,
    prompt_id,
    save_tiny_qwen2,
    write_dataset,
)


def build_model_dir(path: Path) -> str:
    """A random 2-layer Qwen2 and a byte-level BPE tokenizer trained here on
    the task's text (transformers loads it as a ``Qwen2Tokenizer``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    corpus = [f"{a} + {b} = #### {a + b}" for a in range(50) for b in range(50)]
    core.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=320,
            special_tokens=["<|endoftext|>", "<|pad|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|endoftext|>", pad_token="<|pad|>"
    )
    tokenizer.chat_template = (
        "{% for message in messages %}{{ message['content'] }} {% endfor %}"
    )
    return save_tiny_qwen2(tokenizer, path, bos_token_id=tokenizer.eos_token_id)


def compose_config(overrides: list[str]):
    """verl's ``ppo_trainer.yaml`` composed with Hydra, as ``main_ppo`` does."""
    import verl
    from hydra import compose, initialize_config_dir
    from verl.experimental.reward_loop import migrate_legacy_reward_impl

    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        config = compose(config_name="ppo_trainer", overrides=overrides)
    return migrate_legacy_reward_impl(config)


def base_overrides(model_dir, data_file, ckpt_dir, batch, responses, steps, mopps):
    """Overrides of a small GRPO run with the MoPPS sampler and the default
    rule-based reward loop (no reward model)."""
    overrides = [
        "algorithm.adv_estimator=grpo",
        f"data.train_files={data_file}",
        f"data.val_files={data_file}",
        f"data.train_batch_size={batch}",
        "data.max_prompt_length=12",
        "data.max_response_length=8",
        "data.dataloader_num_workers=0",
        "data.sampler.class_path=pkg://verl07.recording",
        "data.sampler.class_name=RecordingMoPPSSampler",
        f"actor_rollout_ref.model.path={model_dir}",
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
        "trainer.val_before_train=False",
        "trainer.test_freq=-1",
        f"trainer.total_training_steps={steps}",
        "trainer.total_epochs=1000",
        f"trainer.default_local_dir={ckpt_dir}",
    ]
    overrides += [f"+data.sampler.mopps.{k}={v}" for k, v in mopps.items()]
    return overrides


def ray_init() -> None:
    """A local Ray cluster on 2 CPUs whose workers can import these helpers."""
    import ray
    from verl.trainer.constants_ppo import get_ppo_ray_runtime_env

    here = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH")) if p
    )
    runtime_env = get_ppo_ray_runtime_env()
    runtime_env.setdefault("env_vars", {})["PYTHONPATH"] = os.environ["PYTHONPATH"]
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024**2,
        runtime_env=runtime_env,
        logging_level="ERROR",
    )


def make_trainer(config):
    """``TaskRunner.run`` up to ``fit`` with the scripted worker and pool."""
    import ray
    from omegaconf import OmegaConf
    from verl.single_controller.ray import RayWorkerGroup
    from verl.trainer.main_ppo import create_rl_dataset, create_rl_sampler
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer, Role
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils import hf_tokenizer
    from verl.utils.config import validate_config
    from verl.utils.dataset.rl_dataset import collate_fn

    from verl07.fakes import (
        CpuResourcePoolManager,
        ScriptedActorWorker,
        register_scripted_rollouts,
    )

    register_scripted_rollouts()
    OmegaConf.resolve(config)
    mapping = {Role.ActorRollout: "global_pool"}
    if config.reward.reward_model.enable:
        mapping[Role.RewardModel] = "global_pool"
    validate_config(
        config=config,
        use_reference_policy=need_reference_policy(config),
        use_critic=need_critic(config),
    )
    tokenizer = hf_tokenizer(config.actor_rollout_ref.model.path)
    datasets = [
        create_rl_dataset(files, config.data, tokenizer, None, is_train=is_train)
        for files, is_train in (
            (config.data.train_files, True),
            (config.data.val_files, False),
        )
    ]
    pools = CpuResourcePoolManager(
        resource_pool_spec={"global_pool": [config.trainer.n_gpus_per_node]},
        mapping=mapping,
    )
    return RayPPOTrainer(
        config=config,
        tokenizer=tokenizer,
        role_worker_mapping={Role.ActorRollout: ray.remote(ScriptedActorWorker)},
        resource_pool_manager=pools,
        ray_worker_group_cls=RayWorkerGroup,
        train_dataset=datasets[0],
        val_dataset=datasets[1],
        collate_fn=collate_fn,
        train_sampler=create_rl_sampler(config.data, datasets[0]),
    )


def run_fit(config):
    """Build the trainer, ``init_workers()``, ``fit()``; return the trainer
    (its actors are stopped)."""
    trainer = make_trainer(config)
    try:
        trainer.init_workers()
        trainer.fit()
    finally:
        stop_actors(trainer)
    return trainer


def stop_actors(trainer) -> None:
    """Kill every Ray actor the trainer started (workers, servers, loops) and
    remove its placement groups, so the next run can reuse their names."""
    import ray

    handles = []
    for group in ("actor_rollout_wg",):
        if hasattr(trainer, group):
            handles += list(getattr(trainer, group).workers)
    manager = getattr(trainer, "async_rollout_manager", None)
    if manager is not None:
        handles += list(manager.agent_loop_workers) + [manager.global_load_balancer]
        for replica in manager.rollout_replicas:
            handles += list(replica.servers)
    rewards = getattr(trainer, "reward_loop_manager", None)
    if rewards is not None:
        handles += list(rewards.reward_loop_workers)
        if rewards.reward_model_manager is not None:
            for replica in rewards.reward_model_manager.rollout_replicas:
                handles += list(replica.servers)
    for handle in handles:
        ray.kill(handle, no_restart=True)
    for pool in trainer.resource_pool_manager.resource_pool_dict.values():
        for group in pool.pgs or []:
            ray.util.remove_placement_group(group)


def install_reward_model_stubs() -> None:
    """In this process: ``reward.reward_model.rollout.name=vllm`` launches the
    scripted ``/classify`` server (``RewardLoopWorker`` formats requests by
    engine name), and, since verl 0.7.1's wheel lacks
    ``verl.experimental.reward_loop.router`` (which ``RewardModelManager``
    imports), the router is the one reward-model server itself."""
    import sys
    import types

    from verl.workers.rollout.replica import RolloutReplicaRegistry

    from verl07.fakes import ScriptedRewardModelReplica

    RolloutReplicaRegistry.register("vllm", lambda: ScriptedRewardModelReplica)

    package = types.ModuleType("verl.experimental.reward_loop.router")
    package.__path__ = []
    module = types.ModuleType("verl.experimental.reward_loop.router.naive_router")

    def launch_router_process(worker_urls):
        if len(worker_urls) != 1:
            raise ValueError(f"one reward-model server expected, got {worker_urls}")
        return worker_urls[0].removeprefix("http://"), None

    module.launch_router_process = launch_router_process
    sys.modules.setdefault(package.__name__, package)
    sys.modules.setdefault(module.__name__, module)


def reward_model_overrides(model_dir) -> list[str]:
    """A colocated discriminative reward model (served by the scripted
    ``/classify`` server) instead of the rule-based reward loop."""
    return [
        "reward.reward_model.enable=True",
        f"reward.reward_model.model_path={model_dir}",
        "reward.reward_model.rollout.name=vllm",
        "reward.reward_model.rollout.tensor_model_parallel_size=1",
    ]
