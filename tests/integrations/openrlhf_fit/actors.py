"""The parts of an OpenRLHF 0.11.2 PPO run that need a GPU, replaced for CPU.

* :class:`InProcessActor` — a Ray actor handle whose methods run in the test
  process: ``handle.method.remote(...)`` resolves ``ObjectRef`` arguments,
  runs the method (coroutines to completion) and returns ``ray.put(result)``,
  so OpenRLHF's ``ray.get`` / ``ray.wait`` / ``ray.put`` calls run unchanged
  on a local Ray (no worker processes, no GPU bundles).
* :func:`local_actor_group` — OpenRLHF's ``RayActorGroup`` with only
  ``_initiate_actors`` replaced: one in-process model actor instead of Ray
  actors on GPUs; its own ``async_run_method(_batch)`` and
  ``async_init_model_from_pretrained`` run.
* :class:`CpuPolicyModelActor` — OpenRLHF's ``PolicyModelActor`` (its
  ``init_model_from_pretrained``, ``forward``, ``append``, ``fit`` —
  ``ActorPPOTrainer.ppo_train`` and ``training_step`` with OpenRLHF's
  ``Actor`` and ``PolicyLoss`` — ``save_checkpoint``,
  ``get_checkpoint_states``) with only what needs GPUs replaced: process-group
  setup is a one-process gloo group and a CPU device mesh, the weight sync to
  vLLM (NCCL) tells the scripted engines the optimizer-step count instead,
  and the final HF export is skipped. DeepSpeed is the CPU engine of
  :mod:`openrlhf_fit.stand_ins`.
* :class:`ScriptedRewardModelActor` — the reward model group's forward: it
  decodes each sequence and scores "a + b = c" by the same rule as the reward
  function (1.0 when ``c == a + b``).
* :class:`ScriptedVllmEngine` — vLLM's ``RolloutRayActor``: OpenRLHF's own
  ``SingleTurnAgentExecutor`` (tokenization, reward function call, response
  assembly) runs; only ``generate`` is scripted: for a prompt "a + b =" it
  answers ``a + b`` with the prompt's known success rate, else a wrong sum.
  The draw is seeded by (weights version, a, b, request count for that
  prompt and version), so a resumed run draws what an uninterrupted one does.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter, defaultdict
from types import SimpleNamespace

import numpy as np
import ray
import torch
import torch.distributed as dist
import transformers
from openrlhf.trainer.ray.launcher import (
    BaseModelActor,
    RayActorGroup,
    RewardModelActor,
)
from openrlhf.trainer.ray.ppo_actor import PolicyModelActor
from openrlhf.utils.agent import SingleTurnAgentExecutor
from torch.distributed.device_mesh import init_device_mesh
from transformers import AutoTokenizer

from . import world

OUTCOME_SEED = 20260517


class SimulatedCrash(RuntimeError):
    """Raised by the policy actor to end a run after a checkpoint."""


def _resolve(value):
    return ray.get(value) if isinstance(value, ray.ObjectRef) else value


class _RemoteMethod:
    def __init__(self, method):
        self.method = method

    def remote(self, *args, **kwargs):
        args = [_resolve(value) for value in args]
        kwargs = {key: _resolve(value) for key, value in kwargs.items()}
        result = self.method(*args, **kwargs)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        return ray.put(result)


class InProcessActor:
    """A Ray actor handle for an object living in this process."""

    def __init__(self, instance):
        self.instance = instance

    def __getattr__(self, name):
        return _RemoteMethod(getattr(self.instance, name))


class Scenario:
    """What a run is told (crash point) and what it leaves to inspect."""

    def __init__(self, crash_at_fit: int | None = None):
        self.crash_at_fit = crash_at_fit
        self.actors: dict[str, object] = {}
        self.engines: list[ScriptedVllmEngine] = []
        self.trainer = None


class CpuPolicyModelActor(PolicyModelActor.__ray_actor_class__):
    """OpenRLHF's policy actor in one CPU process (see the module docstring)."""

    def __init__(self, world_size, rank, master_addr, master_port, scenario=None):
        self._world_size, self._rank = world_size, rank
        self.scenario = scenario
        self.fit_calls = 0
        self.trained_prompts: list[list[str]] = []
        self._pending_prompts: list[str] = []
        self.init_max_steps = None

    def _setup_distributed(self, strategy):
        self.strategy = strategy
        transformers.set_seed(strategy.seed)
        if not dist.is_initialized():
            dist.init_process_group(
                "gloo", store=dist.HashStore(), rank=0, world_size=1
            )
        strategy.world_size = 1
        strategy.ds_device_mesh = init_device_mesh(
            "cpu", (1, 1, 1), mesh_dim_names=("dp", "sp", "tp")
        )
        strategy.setup_ring_attn(strategy.ds_device_mesh)
        strategy.accumulated_gradient = (
            strategy.train_batch_size // strategy.micro_train_batch_size
        )

    def init_model_from_pretrained(
        self, strategy, pretrain, max_steps=None, vllm_engines=None
    ):
        self.init_max_steps = max_steps
        super().init_model_from_pretrained(strategy, pretrain, max_steps, None)
        self.scripted_engines = vllm_engines or []

    def append(self, experience):
        self._pending_prompts.extend(experience.prompts)
        super().append(experience)

    def fit(self, kl_ctl: float = 0):
        self.fit_calls += 1
        crash_at = self.scenario.crash_at_fit if self.scenario else None
        if crash_at is not None and self.fit_calls >= crash_at:
            raise SimulatedCrash(f"crash before training step {self.fit_calls}")
        self.trained_prompts.append(self._pending_prompts)
        self._pending_prompts = []
        return super().fit(kl_ctl)

    def broadcast_to_vllm(self):
        version = self.actor.model.global_steps
        for engine in self.scripted_engines:
            ray.get(engine.set_weights_version.remote(version))

    def save_model(self):
        """The final HF export is not part of these runs."""

    def empty_cache(self):
        """No CUDA cache on CPU."""

    @property
    def engine(self):
        return self.actor.model

    @property
    def scheduler(self):
        return self.actor_scheduler


class ScriptedRewardModelActor(BaseModelActor):
    """The reward model group's forward: the "a + b = c" rule per sequence."""

    def __init__(self, world_size, rank, master_addr, master_port, scenario=None):
        self.scored: list[tuple[str, float]] = []

    def init_model_from_pretrained(self, strategy, pretrain):
        self.strategy = strategy
        self.tokenizer = AutoTokenizer.from_pretrained(pretrain)

    def forward(
        self, sequences, attention_mask=None, packed_seq_lens=None, pad_sequence=False
    ):
        rewards = []
        for row, mask in zip(sequences, attention_mask, strict=True):
            a, b, answer = world.parse(self.tokenizer.decode(row[mask.bool()]))
            rewards.append(float(answer == str(a + b)))
            self.scored.append((world.prompt_text(a, b), rewards[-1]))
        return torch.tensor(rewards)

    def empty_cache(self):
        """No CUDA cache on CPU."""


STAND_INS = {
    PolicyModelActor: CpuPolicyModelActor,
    RewardModelActor: ScriptedRewardModelActor,
}


def local_actor_group(scenario: Scenario) -> type:
    """``RayActorGroup`` whose actors are in-process stand-ins."""

    class LocalActorGroup(RayActorGroup):
        def _initiate_actors(self, pg, num_gpus_per_actor):
            if self.ray_actor_type not in STAND_INS:
                raise RuntimeError(f"no CPU stand-in for {self.ray_actor_type}")
            world_size = self._num_nodes * self._num_gpus_per_node
            if world_size != 1:
                raise RuntimeError("the CPU runs use one process per model group")
            actor = STAND_INS[self.ray_actor_type](1, 0, None, None, scenario=scenario)
            scenario.actors[type(actor).__name__] = actor
            self._actor_handlers = [InProcessActor(actor)]

    return LocalActorGroup


class ScriptedVllmEngine:
    """vLLM's rollout actor with a scripted ``generate`` (module docstring)."""

    def __init__(self, remote_rm_url=None):
        self.executor = SingleTurnAgentExecutor(remote_rm_url)
        self.rates = world.rate_by_prompt()
        self.weights_version = 0
        self.requests: Counter = Counter()
        self.versions_seen: dict[int, int] = defaultdict(int)

    def get_num_unfinished_requests(self) -> int:
        return 0

    def set_weights_version(self, version: int) -> None:
        self.weights_version = int(version)

    async def generate_responses(
        self,
        prompt,
        label,
        sampling_params,
        max_length,
        hf_tokenizer,
        num_samples=1,
        images=None,
    ):
        self.tokenizer = hf_tokenizer
        self.versions_seen[self.weights_version] += 1
        tasks = [
            self.executor.execute(
                prompt=prompt,
                label=label,
                sampling_params=sampling_params,
                max_length=max_length,
                hf_tokenizer=hf_tokenizer,
                llm_engine=self,
                images=images,
            )
            for _ in range(num_samples)
        ]
        return await asyncio.gather(*tasks)

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        a, b, _ = world.parse(self.tokenizer.decode(prompt_token_ids))
        key = (self.weights_version, a, b)
        count, self.requests[key] = self.requests[key], self.requests[key] + 1
        rng = np.random.default_rng([OUTCOME_SEED, self.weights_version, a, b, count])
        correct = rng.random() < self.rates[world.prompt_text(a, b)]
        answer = a + b if correct else a + b + 1 + int(rng.integers(9))
        ids = self.tokenizer(text=str(answer), add_special_tokens=False)["input_ids"]
        ids = (ids + [self.tokenizer.eos_token_id])[: sampling_params.max_tokens]
        output = SimpleNamespace(
            token_ids=ids,
            text=self.tokenizer.decode(ids),
            finish_reason="stop",
            logprobs=None,
        )
        return SimpleNamespace(outputs=[output])


def scripted_vllm_engines(scenario: Scenario):
    """``create_vllm_engines`` returning in-process scripted engines."""

    def create_vllm_engines(num_engines, *args, remote_rm_url=None, **kwargs):
        engines = [ScriptedVllmEngine(remote_rm_url) for _ in range(num_engines)]
        scenario.engines.extend(engines)
        return [InProcessActor(engine) for engine in engines]

    return create_vllm_engines
