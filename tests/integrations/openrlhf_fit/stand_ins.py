"""Import-time stand-ins for OpenRLHF's GPU-only dependencies.

OpenRLHF 0.11.2 imports ``deepspeed``, ``flash_attn`` and ``vllm`` at module
level; none installs on a CPU machine. :func:`install` puts small modules in
``sys.modules`` under those names (only where the real package is absent):

* ``deepspeed``: :class:`CpuDeepSpeedEngine` and ``initialize`` — the engine
  DeepSpeed builds from OpenRLHF's config, on CPU and one process: the
  optimizer named in ``config["optimizer"]`` (AdamW), the LR scheduler built by
  the factory OpenRLHF passes (its own ``get_scheduler`` call), gradient
  accumulation over ``train_batch_size / train_micro_batch_size_per_gpu``
  micro-batches (loss scaled by ``1 / gas``, clipping, one optimizer and one
  scheduler step per boundary, as DeepSpeed's ``engine.step``), and
  ``save_checkpoint`` / ``load_checkpoint`` in DeepSpeed's layout
  (``<dir>/<tag>/mp_rank_00_model_states.pt`` holding ``module``,
  ``optimizer``, ``lr_scheduler``, ``global_steps`` and the client state
  merged in; a ``latest`` file; loaded with ``weights_only=False`` as
  DeepSpeed 0.19.6's ``TorchCheckpointEngine`` does). Everything else raises.
* ``flash_attn``: the names ``openrlhf.models.ring_attn_utils`` imports
  (ring attention is off in these runs; calling them raises).
* ``vllm``: ``SamplingParams`` (its keyword arguments as attributes),
  ``inputs.TokensPrompt``, ``utils.random_uuid`` and ``__version__``; the
  engines themselves are :mod:`openrlhf_fit.actors`' ``ScriptedVllmEngine``.

:func:`patch_single_cpu_process` answers OpenRLHF's CUDA and barrier calls
in the single CPU process where the stand-in model actors live.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import types
import uuid

import torch

MODEL_STATES = "mp_rank_00_model_states.pt"


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attributes)
    return module


def _unavailable(name: str):
    def call(*args, **kwargs):
        raise RuntimeError(f"{name} needs a GPU; it is not part of the CPU test run")

    return call


class CpuDeepSpeedEngine(torch.nn.Module):
    """DeepSpeed's training engine, reduced to one CPU process."""

    def __init__(self, module, optimizer, lr_scheduler, config: dict):
        super().__init__()
        self.module = module
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        micro = int(config["train_micro_batch_size_per_gpu"])
        self.gradient_accumulation_steps = int(config["train_batch_size"]) // micro
        self.gradient_clipping = float(config.get("gradient_clipping") or 0.0)
        self.micro_steps = 0
        self.global_steps = 0
        self.grad_norm = None

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def backward(self, loss: torch.Tensor) -> None:
        (loss / self.gradient_accumulation_steps).backward()

    def step(self) -> None:
        self.micro_steps += 1
        if self.micro_steps % self.gradient_accumulation_steps:
            return
        self.grad_norm = torch.nn.utils.clip_grad_norm_(
            self.module.parameters(), self.gradient_clipping or float("inf")
        )
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.global_steps += 1

    def get_global_grad_norm(self):
        return self.grad_norm

    def save_checkpoint(self, save_dir, tag=None, client_state=None, save_latest=True):
        tag = tag or f"global_step{self.global_steps}"
        os.makedirs(os.path.join(save_dir, tag), exist_ok=True)
        state = {
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "global_steps": self.global_steps,
            "micro_steps": self.micro_steps,
        }
        state.update(client_state or {})
        torch.save(state, os.path.join(save_dir, tag, MODEL_STATES))
        if save_latest:
            with open(os.path.join(save_dir, "latest"), "w") as handle:
                handle.write(tag)
        return True

    def load_checkpoint(self, load_dir, tag=None, **options):
        if tag is None:
            with open(os.path.join(load_dir, "latest")) as handle:
                tag = handle.read().strip()
        path = os.path.join(load_dir, tag, MODEL_STATES)
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        self.module.load_state_dict(checkpoint["module"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.lr_scheduler.load_state_dict(checkpoint["lr_scheduler"])
        self.global_steps = checkpoint["global_steps"]
        self.micro_steps = checkpoint["micro_steps"]
        own = {"module", "optimizer", "lr_scheduler", "global_steps", "micro_steps"}
        return path, {k: v for k, v in checkpoint.items() if k not in own}


def initialize(
    model,
    optimizer=None,
    model_parameters=None,
    lr_scheduler=None,
    config=None,
    **ignored,
):
    """``deepspeed.initialize`` for OpenRLHF's config-built AdamW."""
    spec = config["optimizer"]
    if spec["type"] != "AdamW":
        raise RuntimeError(f"the CPU stand-in only builds AdamW, not {spec['type']}")
    params = dict(spec["params"])
    params["betas"] = tuple(params["betas"])
    optimizer = torch.optim.AdamW(model_parameters, **params)
    scheduler = lr_scheduler(optimizer)
    engine = CpuDeepSpeedEngine(model, optimizer, scheduler, config)
    return engine, optimizer, None, scheduler


def _deepspeed_modules() -> dict[str, types.ModuleType]:
    partition = _module(
        "deepspeed.runtime.zero.partition_parameters",
        ZeroParamStatus=types.SimpleNamespace(NOT_AVAILABLE="not available"),
    )
    zero = _module("deepspeed.zero", GatheredParameters=_unavailable("deepspeed.zero"))
    root = _module(
        "deepspeed",
        __version__="0.19.6",
        version="0.19.6",
        DeepSpeedEngine=CpuDeepSpeedEngine,
        initialize=initialize,
        init_distributed=_unavailable("deepspeed.init_distributed"),
        zero=zero,
    )
    return {
        "deepspeed": root,
        "deepspeed.zero": zero,
        "deepspeed.runtime": _module("deepspeed.runtime"),
        "deepspeed.runtime.zero": _module("deepspeed.runtime.zero"),
        "deepspeed.runtime.zero.partition_parameters": partition,
    }


def _flash_attn_modules() -> dict[str, types.ModuleType]:
    padding = _module(
        "flash_attn.bert_padding",
        **{
            name: _unavailable(f"flash_attn.{name}")
            for name in ("index_first_axis", "pad_input", "rearrange", "unpad_input")
        },
    )
    distributed = _module(
        "flash_attn.utils.distributed", all_gather=_unavailable("flash_attn.all_gather")
    )
    return {
        "flash_attn": _module("flash_attn"),
        "flash_attn.bert_padding": padding,
        "flash_attn.utils": _module("flash_attn.utils"),
        "flash_attn.utils.distributed": distributed,
    }


class SamplingParams(types.SimpleNamespace):
    """``vllm.SamplingParams``: its keyword arguments as attributes."""


def _vllm_modules() -> dict[str, types.ModuleType]:
    inputs = _module("vllm.inputs", TokensPrompt=dict)
    utils = _module("vllm.utils", random_uuid=lambda: uuid.uuid4().hex)
    root = _module(
        "vllm",
        __version__="0.29.0",
        SamplingParams=SamplingParams,
        inputs=inputs,
        utils=utils,
    )
    return {"vllm": root, "vllm.inputs": inputs, "vllm.utils": utils}


def install() -> None:
    """Register the stand-ins for each of deepspeed, flash_attn and vllm that
    is not installed (for the rest of the process: OpenRLHF's modules keep
    references to them once imported)."""
    for package, modules in (
        ("deepspeed", _deepspeed_modules),
        ("flash_attn", _flash_attn_modules),
        ("vllm", _vllm_modules),
    ):
        if package not in sys.modules and importlib.util.find_spec(package) is None:
            sys.modules.update(modules())


class CpuDevice(str):
    """``torch.cuda.current_device()`` on CPU: the string "cpu" (tensors moved
    ``.to()`` it stay on the CPU), formatted as index 0 where OpenRLHF builds
    an unused "cuda:N" name (``NaiveReplayBuffer.target_device``)."""

    def __format__(self, spec: str) -> str:
        return "0"


def patch_single_cpu_process(monkeypatch) -> None:
    """What OpenRLHF asks of CUDA and of other processes, answered by the one
    CPU process of the tests: ``torch_dist_barrier_and_cuda_sync`` (barrier
    plus CUDA sync) does nothing, ``torch.cuda.current_device()`` is
    :class:`CpuDevice`, ``torch.cuda.synchronize`` / ``empty_cache`` do
    nothing."""
    import openrlhf.trainer.ray.ppo_actor as ppo_actor
    import openrlhf.utils.deepspeed.deepspeed as strategy_module

    for module in (ppo_actor, strategy_module):
        monkeypatch.setattr(module, "torch_dist_barrier_and_cuda_sync", lambda: None)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: CpuDevice("cpu"))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args, **kwargs: None)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
