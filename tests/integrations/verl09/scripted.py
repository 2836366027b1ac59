"""The parts of a verl 0.9.1 run that need a GPU, scripted for CPU tests.

* :class:`ScriptedActorWorker`: the actor worker group's forward/backward.
  ``compute_log_prob`` returns zero log-probs and entropies in verl's
  no-padding layout, ``update_actor`` trains nothing and appends what it was
  given (each row's ``extra_info.index``, decoded prompt and response,
  ground truth and ``token_level_scores.sum(-1)``) to the JSON-lines file
  ``$VERL09_RECORD_FILE``; checkpoints are empty folders. It registers the
  ``actor`` mesh like verl's worker, so ``RayWorkerGroup`` dispatch,
  ``_balance_batch`` and ``CheckpointEngineManager`` run unchanged.
* :class:`ScriptedReplica` / :class:`ScriptedServer`: the LLM engine (vLLM).
  For a prompt "a + b =" the server answers "#### a+b" (correct) with
  probability :func:`success_rate`, else "#### a+b+1". The draw is seeded by
  (weights version, a, b, request count for that prompt and version), and the
  weights version is the ``global_steps`` verl passes to ``update_weights``,
  so a resumed run sees the responses an uninterrupted one sees.
* :class:`CpuResourcePoolManager`: verl's resource pools without GPU bundles.
* :class:`ScriptedTaskRunner`: ``MoPPSTaskRunner`` with the three above.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import ray
import torch
from addition_task import parse_prompt, success_rate  # noqa: F401
from tensordict import TensorDict
from verl.single_controller.base import Worker
from verl.single_controller.base.decorator import (
    Dispatch,
    make_nd_compute_dataproto_dispatch_fn,
    register,
)
from verl.single_controller.ray.base import RayResourcePool, ResourcePoolManager
from verl.utils import tensordict_utils as tu
from verl.workers.rollout.replica import (
    RolloutReplica,
    RolloutReplicaRegistry,
    TokenOutput,
)

from bayesrl.integrations.verl_main import MoPPSTaskRunner

SERVER_NAME = "verl09_scripted_llm_server_{rank}"
RECORD_ENV = "VERL09_RECORD_FILE"
OUTCOME_SEED = 20261207


def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


class ScriptedServer:
    """Token-in/token-out server standing in for vLLM (a Ray actor)."""

    def __init__(self, tokenizer_path: str):
        self.tokenizer = _tokenizer(tokenizer_path)
        self.version = 0
        self.requests: Counter = Counter()

    def set_weights_version(self, version: int) -> None:
        self.version = int(version)
        self.requests.clear()

    def generate(self, request_id, *, prompt_ids, sampling_params, **_) -> TokenOutput:
        a, b = parse_prompt(self.tokenizer.decode(prompt_ids))
        count = self.requests[(a, b)]
        self.requests[(a, b)] += 1
        rng = np.random.default_rng([OUTCOME_SEED, self.version, a, b, count])
        answer = a + b if rng.random() < success_rate(a, b) else a + b + 1
        tokens = self.tokenizer.encode(f"#### {answer}", add_special_tokens=False)
        tokens.append(self.tokenizer.eos_token_id)
        return TokenOutput(
            token_ids=tokens,
            stop_reason="completed",
            extra_fields={"global_steps": self.version},
        )

    def _noop(self, *args, **kwargs) -> None:
        return None

    wake_up = sleep = abort_all_requests = resume_generation = _noop
    clear_kv_cache = release_kv_cache = resume_kv_cache = _noop
    start_profile = stop_profile = _noop


class ScriptedReplica(RolloutReplica):
    """Rollout replica launching one :class:`ScriptedServer`."""

    def rollout_worker_use_gpu(self) -> bool:
        return False

    async def launch_servers(self):
        name = SERVER_NAME.format(rank=self.replica_rank)
        server = (
            ray.remote(ScriptedServer).options(name=name).remote(self.model_config.path)
        )
        self.servers = [server]
        self._server_handle = server
        self._server_address = name


def register_scripted_rollout() -> None:
    """Make ``actor_rollout_ref.rollout.name=scripted`` resolve to the fake."""
    RolloutReplicaRegistry.register("scripted", lambda: ScriptedReplica)


class ScriptedActorWorker(Worker):
    """Actor/rollout worker without a model (see the module docstring)."""

    def __init__(self, config, role: str, **kwargs):
        super().__init__()
        self.config = config
        self.role = role
        self.tokenizer = _tokenizer(config.model.path)
        self._register_dispatch_collect_info(
            "actor", dp_rank=self.rank, is_collect=True
        )

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def init_model(self):
        return None

    @register(dispatch_mode=make_nd_compute_dataproto_dispatch_fn(mesh_name="actor"))
    def compute_log_prob(self, data: TensorDict) -> TensorDict:
        zeros = torch.zeros_like(data["input_ids"], dtype=torch.float32)
        return tu.get_tensordict(
            tensor_dict={"log_probs": zeros, "entropy": zeros.clone()},
            non_tensor_dict={"metrics": {"mfu": 0.0}},
        )

    @register(dispatch_mode=make_nd_compute_dataproto_dispatch_fn(mesh_name="actor"))
    def update_actor(self, data: TensorDict) -> TensorDict:
        self._record(data)
        metrics = {"mfu": 0.0, "pg_loss": [0.0]}
        return tu.get_tensordict(tensor_dict={}, non_tensor_dict={"metrics": metrics})

    def _record(self, data: TensorDict) -> None:
        prompts, responses = data["prompts"], data["responses"]
        lengths = data["response_mask"].sum(-1)
        record = {
            "ids": [int(info["index"]) for info in tu.get(data, "extra_info")],
            "prompts": self.tokenizer.batch_decode(prompts, skip_special_tokens=True),
            "responses": [
                self.tokenizer.decode(row[: int(n)], skip_special_tokens=True)
                for row, n in zip(responses, lengths, strict=True)
            ],
            "ground_truths": [
                rm["ground_truth"] for rm in tu.get(data, "reward_model")
            ],
            "scores": data["token_level_scores"].sum(-1).double().tolist(),
        }
        with open(os.environ[RECORD_ENV], "a") as handle:
            handle.write(json.dumps(record) + "\n")

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def save_checkpoint(
        self, local_path, hdfs_path=None, global_step=0, max_ckpt_to_keep=None
    ):
        os.makedirs(local_path, exist_ok=True)

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def load_checkpoint(self, local_path, hdfs_path=None, del_local_after_load=False):
        return None

    @register(dispatch_mode=Dispatch.ONE_TO_ALL, blocking=False)
    async def update_weights(self, global_steps: int = None, mode: str = "auto"):
        server = ray.get_actor(SERVER_NAME.format(rank=0))
        await server.set_weights_version.remote(global_steps or 0)
        return {}


class CpuResourcePoolManager(ResourcePoolManager):
    """verl's pool manager with CPU-only bundles (one process per bundle)."""

    def create_resource_pool(self):
        for name, process_on_nodes in self.resource_pool_spec.items():
            self.resource_pool_dict[name] = RayResourcePool(
                process_on_nodes=process_on_nodes,
                use_gpu=False,
                max_colocate_count=1,
                name_prefix=name,
            )


class ScriptedTaskRunner(MoPPSTaskRunner):
    """``MoPPSTaskRunner`` with the scripted worker, pools and rollout."""

    def add_actor_rollout_worker(self, config):
        _, group_class = super().add_actor_rollout_worker(config)
        for role in self.role_worker_mapping:
            self.role_worker_mapping[role] = ray.remote(ScriptedActorWorker)
        return ScriptedActorWorker, group_class

    def init_resource_pool_mgr(self, config):
        manager = super().init_resource_pool_mgr(config)
        return CpuResourcePoolManager(
            resource_pool_spec=manager.resource_pool_spec, mapping=manager.mapping
        )

    def run(self, config):
        register_scripted_rollout()
        return super().run(config)
