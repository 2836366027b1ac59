"""The parts of a verl 0.7.1 run that need a GPU, replaced for CPU tests.

* :class:`ScriptedActorWorker` — the actor worker group's forward/backward:
  ``compute_log_prob`` returns zeros of the right shape, ``update_actor``
  returns metrics without training, checkpoints are empty folders. It
  registers the ``actor`` mesh like verl's FSDP worker, so verl's own
  dispatch, ``_balance_batch`` and ``CheckpointEngineManager`` run unchanged.
* :class:`ScriptedReplica` / :class:`ScriptedServer` — the LLM engine (vLLM):
  a rollout replica whose server answers ``generate(prompt_ids)`` for a
  prompt "a + b =" with "#### a+b" (correct) with probability
  :func:`success_rate` ``(a, b)``, else "#### a+b+1". The draw is seeded by
  (weights version, a, b, request count for that prompt and version), so a
  resumed run sees the rewards an uninterrupted one sees; the weights version
  is the ``global_steps`` verl passes to ``update_weights`` after each step.
* :class:`CpuResourcePoolManager` — Ray resource pools without GPU bundles.
* :class:`ScriptedRewardModelReplica` — a reward-model server for verl's
  ``RewardModelManager``: an HTTP ``/classify`` endpoint (vLLM's API shape)
  that scores the conversation by the same GSM8K rule.
"""

from __future__ import annotations

import socket
from collections import Counter

import numpy as np
import ray
import torch
from addition_task import parse_prompt, success_rate  # noqa: F401
from verl import DataProto
from verl.single_controller.base import Worker
from verl.single_controller.base.decorator import (
    Dispatch,
    make_nd_compute_dataproto_dispatch_fn,
    register,
)
from verl.single_controller.ray.base import RayResourcePool, ResourcePoolManager
from verl.workers.rollout.replica import (
    RolloutReplica,
    RolloutReplicaRegistry,
    TokenOutput,
)

SERVER_NAME = "scripted_llm_server_{rank}"
OUTCOME_SEED = 20260517


class ScriptedServer:
    """Token-in/token-out server standing in for vLLM (a Ray actor)."""

    def __init__(self, tokenizer_path: str):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
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
        correct = rng.random() < success_rate(a, b)
        answer = a + b if correct else a + b + 1
        tokens = self.tokenizer.encode(f"#### {answer}", add_special_tokens=False)
        tokens.append(self.tokenizer.eos_token_id)
        return TokenOutput(token_ids=tokens, stop_reason="completed")

    def _noop(self, *args, **kwargs) -> None:
        return None

    wake_up = sleep = abort_all_requests = resume_generation = _noop
    clear_kv_cache = start_profile = stop_profile = _noop


class ScriptedReplica(RolloutReplica):
    """Rollout replica launching one :class:`ScriptedServer`."""

    def rollout_worker_use_gpu(self) -> bool:
        return False

    async def launch_servers(self):
        name = SERVER_NAME.format(rank=self.replica_rank)
        path = getattr(self.model_config, "local_path", None) or self.model_config.path
        server = ray.remote(ScriptedServer).options(name=name).remote(path)
        self.servers = [server]
        self._server_handle = server
        self._server_address = name


class ScriptedActorWorker(Worker):
    """Actor/rollout worker without a model (see the module docstring)."""

    def __init__(self, config, role: str, **kwargs):
        super().__init__()
        self.config = config
        self.role = role
        self._register_dispatch_collect_info(
            "actor", dp_rank=self.rank, is_collect=True
        )

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def init_model(self):
        return None

    @register(dispatch_mode=make_nd_compute_dataproto_dispatch_fn(mesh_name="actor"))
    def compute_log_prob(self, data: DataProto) -> DataProto:
        zeros = torch.zeros(data.batch["responses"].shape, dtype=torch.float32)
        return DataProto.from_dict(
            tensors={"old_log_probs": zeros, "entropys": zeros.clone()},
            meta_info={"temperature": self.config.rollout.temperature},
        )

    @register(dispatch_mode=make_nd_compute_dataproto_dispatch_fn(mesh_name="actor"))
    def update_actor(self, data: DataProto) -> DataProto:
        advantages = data.batch["advantages"]
        metrics = {
            "actor/pg_loss": 0.0,
            "actor/adv_abs": float(advantages.abs().mean()),
        }
        return DataProto(meta_info={"metrics": metrics})

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def save_checkpoint(
        self, local_path, hdfs_path=None, global_step=0, max_ckpt_to_keep=None
    ):
        import os

        os.makedirs(local_path, exist_ok=True)

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def load_checkpoint(self, local_path, hdfs_path=None, del_local_after_load=False):
        return None

    @register(dispatch_mode=Dispatch.ONE_TO_ALL, blocking=False)
    async def update_weights(self, global_steps: int = None):
        server = ray.get_actor(SERVER_NAME.format(rank=0))
        await server.set_weights_version.remote(global_steps or 0)
        return True


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScriptedRewardModelServer:
    """HTTP ``POST /classify`` (vLLM's shape): probs[-1] = GSM8K rule score of
    the assistant turn in the posted conversation text (a Ray actor)."""

    def __init__(self, port: int):
        self.port = port
        self.runner = None

    async def start(self) -> str:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/classify", self.classify)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return f"127.0.0.1:{self.port}"

    async def classify(self, request):
        from aiohttp import web
        from verl.utils.reward_score import default_compute_score

        payload = await request.json()
        text = payload["input"]
        a, b = parse_prompt(text)
        score = float(default_compute_score("openai/gsm8k", text, str(a + b)))
        return web.json_response({"data": [{"probs": [1.0 - score, score]}]})

    def _noop(self, *args, **kwargs) -> None:
        return None

    wake_up = sleep = _noop


class ScriptedRewardModelReplica(ScriptedReplica):
    """Reward-model replica: one :class:`ScriptedRewardModelServer`."""

    async def init_colocated(self, resource_pool):
        await self.launch_servers()

    async def init_standalone(self):
        await self.launch_servers()

    async def launch_servers(self):
        server = ray.remote(ScriptedRewardModelServer).remote(free_port())
        self._server_address = await server.start.remote()
        self.servers = [server]
        self._server_handle = server


def register_scripted_rollouts() -> None:
    """Make ``rollout.name=scripted`` resolve to :class:`ScriptedReplica`."""
    RolloutReplicaRegistry.register("scripted", lambda: ScriptedReplica)
