"""The one generic interaction loop: :func:`run` and :func:`run_many`.

Both are a single ``lax.scan`` over time. :func:`run_many` vmaps the step over
seeds (and optionally over environment parameters) and shards the seed axis
over all devices when there is more than one, so one call simulates thousands
of independent runs as one array program. Seed ``i`` of :func:`run_many` with
key ``k`` is exactly :func:`run` with key ``jax.random.split(k, num_seeds)[i]``.
Keys are split with :func:`bayesrl.random.split`, bit-identical to
``jax.random.split`` but much cheaper on CPU.

Both functions are jitted with the agent, the environment and the sizes as
static arguments: a second call with the same agent object and shapes does not
recompile.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bayesrl import random as fast_random
from bayesrl.base import Agent, Transition
from bayesrl.types import Array, ArrayTree, PRNGKey


class Metrics(NamedTuple):
    """Per-step metrics, stacked over time (and seeds for :func:`run_many`).

    Attributes:
        reward: the reward received (``[..., num_steps]``, plus a batch axis for
            agents that pull several arms per step).
        regret: the expected (pseudo-)regret of the action taken, from the
            environment's ``info["regret"]``; NaN for environments that do not
            report it.
        action: the action taken.
    """

    reward: Array
    regret: Array
    action: Array


class _Carry(NamedTuple):
    agent_state: Any
    env_state: Any
    obs: ArrayTree


def _step_fn(agent: Agent, env: Any, num_steps: int):
    """The body of the time loop for one run: act, step the env, update.

    Step ``t`` acts, steps the environment and updates with keys ``3t``,
    ``3t + 1`` and ``3t + 2`` of ``split(key_steps, 3 * num_steps)``, each
    derived inside the loop with one hash, and only if it is drawn from (UCB1
    never hashes its act and update keys), rather than stored for every step.
    """
    if 3 * num_steps >= 2**32:
        raise ValueError(f"num_steps must be below 2**32 / 3, got {num_steps}")

    def step(carry: _Carry, key_steps: PRNGKey, t: Array, env_params: Any):
        first = t.astype(jnp.uint32) * jnp.uint32(3)  # no int32 overflow
        key_act, key_env, key_update = (
            fast_random.split_nth(key_steps, 3 * num_steps, first + jnp.uint32(i))
            for i in range(3)
        )
        action, _ = agent.act(key_act, carry.agent_state, carry.obs)
        next_obs, env_state, reward, terminated, truncated, info = env.step(
            key_env, carry.env_state, action, env_params
        )
        transition = Transition(
            obs=carry.obs,
            action=action,
            reward=reward,
            next_obs=next_obs,
            terminated=terminated,
            truncated=truncated,
        )
        agent_state, _ = agent.update(key_update, carry.agent_state, transition)
        regret = info.get("regret", jnp.full(jnp.shape(reward), jnp.nan))
        metrics = Metrics(reward=reward, regret=regret, action=action)
        return _Carry(agent_state, env_state, next_obs), metrics

    return step


def _initial_carry(key: PRNGKey, agent: Agent, env: Any, env_params: Any):
    """Initial agent and environment state of one run, and its per-step keys."""
    key_init, key_reset, key_steps = fast_random.split(key, 3)
    agent_state = agent.init(key_init)
    obs, env_state = env.reset(key_reset, env_params)
    return _Carry(agent_state, env_state, obs), key_steps


def _progress_callback(num_steps: int):
    """A host callback printing progress about 20 times per run."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is optional
        tqdm = None
    every = max(1, num_steps // 20)
    bars: dict[str, Any] = {}

    def report(step):
        step = int(step) + 1
        if tqdm is not None:
            bar = bars.setdefault("bar", tqdm(total=num_steps, unit="step"))
            bar.update(step - bar.n)
            if step >= num_steps:
                bar.close()
                bars.clear()
        else:
            print(f"bayesrl: step {step}/{num_steps}", flush=True)

    def maybe_report(t):
        jax.lax.cond(
            (t % every == every - 1) | (t == num_steps - 1),
            lambda: jax.debug.callback(report, t),
            lambda: None,
        )

    return maybe_report


def _scan_time(step, carry, num_steps, record_every, progress_bar):
    """Scan ``step(carry, t)`` over ``t < num_steps``; with ``record_every > 1``
    an inner scan sums reward and regret over each block of steps and keeps the
    block's last action, so only ``num_steps // record_every`` rows are stored."""
    report = _progress_callback(num_steps) if progress_bar else None

    # The step index travels in the carry: scanning over an ``arange`` would
    # make XLA fuse a dynamic slice of it into every per-seed hash of the step
    # key, which stops that fusion from vectorising.
    def body(carry_and_time, _):
        carry, t = carry_and_time
        carry, metrics = step(carry, t)
        if report is not None:
            report(t)
        return (carry, t + 1), metrics

    start = jnp.zeros((), jnp.int32)
    if record_every == 1:
        (carry, _), metrics = jax.lax.scan(body, (carry, start), length=num_steps)
        return carry, metrics

    def block(carry_and_time, _):
        def add(totals, _):
            carry_and_time, sums = totals
            carry_and_time, metrics = body(carry_and_time, None)
            sums = Metrics(
                reward=sums.reward + metrics.reward,
                regret=sums.regret + metrics.regret,
                action=metrics.action,
            )
            return (carry_and_time, sums), None

        shapes = jax.eval_shape(body, carry_and_time, None)[1]
        sums = Metrics(
            reward=_zeros_sum(shapes.reward),
            regret=_zeros_sum(shapes.regret),
            action=jnp.zeros(shapes.action.shape, shapes.action.dtype),
        )
        (carry_and_time, sums), _ = jax.lax.scan(
            add, (carry_and_time, sums), length=record_every
        )
        return carry_and_time, sums

    (carry, _), metrics = jax.lax.scan(
        block, (carry, start), length=num_steps // record_every
    )
    return carry, metrics


def _zeros_sum(shape: jax.ShapeDtypeStruct) -> Array:
    """Zeros to accumulate a metric in (integer and boolean rewards sum as floats)."""
    return jnp.zeros(shape.shape, jnp.result_type(shape.dtype, float))


def run(
    key: PRNGKey,
    agent: Agent,
    env: Any,
    env_params: Any,
    num_steps: int,
    *,
    record_every: int = 1,
    progress_bar: bool = False,
) -> tuple[Any, Metrics]:
    """Run one agent on one environment for ``num_steps`` steps.

    Args:
        key: a typed PRNG key (``jax.random.key``).
        agent: the :class:`~bayesrl.base.Agent`.
        env: a gymnax ``Environment``; bandit environments report the expected
            regret of each action in ``info["regret"]``.
        env_params: the environment's parameters.
        num_steps: the number of interaction steps (static).
        record_every: store metrics once per block of this many steps (static;
            must divide ``num_steps``): reward and regret summed over the block,
            the block's last action. The default 1 stores every step; long runs
            that only need a regret curve or a total save the memory and time of
            ``num_steps`` rows. The run itself is the same.
        progress_bar: report progress about 20 times (static; tqdm if installed).

    Returns:
        ``(final_agent_state, metrics)`` with every metric of leading shape
        ``[num_steps // record_every]``.
    """
    _check_sizes(num_steps=num_steps, record_every=record_every)
    _check_record_every(num_steps, record_every)
    check_env_params(env, env_params)
    return _run(
        key,
        agent,
        env,
        env_params,
        num_steps=num_steps,
        record_every=record_every,
        progress_bar=progress_bar,
    )


# XLA:CPU hands some reductions to its YNNPACK library fusion; for the short
# per-seed reductions of a vectorised bandit step (the UCB index's sum over
# arms) that ran about 2x slower than XLA's own loop (107 vs 218 us per step
# at 10^4 runs x 10 arms in a profile; UCB1 about 1.5x less CPU time per
# bandit-step, Thompson sampling about 10% less, linear TS unchanged).
_LOOP_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.cache
def _loop_compiler_options() -> dict | None:
    """Compiler options of the time loops: ``_LOOP_CPU_OPTIONS`` on CPU when
    this jaxlib knows them (an unknown option fails compilation), else none."""
    if jax.default_backend() != "cpu":
        return None
    try:
        probe = jax.jit(lambda x: x + 1, compiler_options=_LOOP_CPU_OPTIONS)
        probe.lower(jnp.zeros((2,))).compile()
    except jax.errors.JaxRuntimeError:  # "No such compile option"
        return None
    return dict(_LOOP_CPU_OPTIONS)


class _LoopJit:
    """``jax.jit`` of a time loop with :func:`_loop_compiler_options`.

    Built on first call, so that the backend is chosen by then, not at import.
    JAX accepts compiler options only on a top-level ``jit``: called inside
    another transformation (``run`` under a user's ``jit(vmap(...))``), the
    loop is staged by a plain ``jit`` and compiled with the caller's options.
    """

    def __init__(self, fn, static_argnames: tuple[str, ...]):
        self._fn = fn
        self._static_argnames = static_argnames
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def _plain(self):
        return jax.jit(self._fn, static_argnames=self._static_argnames)

    @functools.cached_property
    def _tuned(self):
        options = _loop_compiler_options()
        if options is None:
            return self._plain
        return jax.jit(
            self._fn, static_argnames=self._static_argnames, compiler_options=options
        )

    def __call__(self, *args, **kwargs):
        leaves = jax.tree.leaves((args, kwargs))
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
            return self._plain(*args, **kwargs)
        try:
            return self._tuned(*args, **kwargs)
        except ValueError as error:  # traced, but with only constant arguments
            if "top-level" not in str(error):
                raise
            return self._plain(*args, **kwargs)

    def _cache_size(self) -> int:
        return self._tuned._cache_size()


def _loop_jit(*static_argnames: str):
    return lambda fn: _LoopJit(fn, static_argnames)


@_loop_jit("agent", "env", "num_steps", "record_every", "progress_bar")
def _run(key, agent, env, env_params, num_steps, record_every, progress_bar):
    carry, key_steps = _initial_carry(key, agent, env, env_params)
    step = _step_fn(agent, env, num_steps)
    carry, metrics = _scan_time(
        lambda carry, t: step(carry, key_steps, t, env_params),
        carry,
        num_steps,
        record_every,
        progress_bar,
    )
    return carry.agent_state, metrics


def run_many(
    key: PRNGKey,
    agent: Agent,
    env: Any,
    env_params: Any,
    num_steps: int,
    num_seeds: int,
    *,
    batched_env_params: bool = False,
    record_every: int = 1,
    progress_bar: bool = False,
) -> tuple[Any, Metrics]:
    """Run ``num_seeds`` independent copies of :func:`run` as one array program.

    Seed ``i`` uses key ``jax.random.split(key, num_seeds)[i]`` and equals
    ``run(that_key, ...)``. When several devices are visible and ``num_seeds``
    is a multiple of their number, the seed axis is sharded over them.

    To sweep hyper-parameters, build the agent inside a ``jax.vmap``-ed function
    (factories accept traced hyper-parameters) or pass per-seed environment
    parameters with ``batched_env_params=True``.

    Args:
        key: a typed PRNG key.
        agent: the agent.
        env: a gymnax environment.
        env_params: its parameters; with ``batched_env_params=True`` every leaf
            has a leading axis of size ``num_seeds`` (one instance per seed).
        num_steps: steps per run (static).
        num_seeds: number of independent runs (static).
        batched_env_params: whether ``env_params`` carries a seed axis.
        record_every: store metrics once per block of this many steps, as in
            :func:`run` (static; must divide ``num_steps``).
        progress_bar: report progress about 20 times.

    Returns:
        ``(final_agent_states, metrics)``, every leaf with a leading seed axis;
        metrics have shape ``[num_seeds, num_steps // record_every, ...]``.
    """
    _check_sizes(num_steps=num_steps, num_seeds=num_seeds, record_every=record_every)
    _check_record_every(num_steps, record_every)
    if batched_env_params:
        for leaf in jax.tree.leaves(env_params):
            if jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != num_seeds:
                raise ValueError(
                    "batched_env_params=True needs every env_params leaf to have a "
                    f"leading axis of size num_seeds={num_seeds}; got a leaf of "
                    f"shape {jnp.shape(leaf)}"
                )
    check_env_params(env, env_params, batched=batched_env_params)
    keys = fast_random.split(key, num_seeds)
    keys = _shard_seeds(keys, num_seeds)
    return _run_many(
        keys,
        agent,
        env,
        env_params,
        num_steps=num_steps,
        batched_env_params=batched_env_params,
        record_every=record_every,
        progress_bar=progress_bar,
    )


@_loop_jit(
    "agent",
    "env",
    "num_steps",
    "batched_env_params",
    "record_every",
    "progress_bar",
)
def _run_many(
    keys,
    agent,
    env,
    env_params,
    num_steps,
    batched_env_params,
    record_every,
    progress_bar,
):
    params_axis = 0 if batched_env_params else None
    carry, key_steps = jax.vmap(
        lambda k, p: _initial_carry(k, agent, env, p), in_axes=(0, params_axis)
    )(keys, env_params)
    step = jax.vmap(_step_fn(agent, env, num_steps), in_axes=(0, 0, None, params_axis))
    carry, metrics = _scan_time(
        lambda carry, t: step(carry, key_steps, t, env_params),
        carry,
        num_steps,
        record_every,
        progress_bar,
    )
    metrics = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), metrics)
    return carry.agent_state, metrics


def _shard_seeds(keys: Array, num_seeds: int) -> Array:
    devices = jax.devices()
    if len(devices) <= 1 or num_seeds % len(devices) != 0:
        return keys
    mesh = Mesh(devices, ("seeds",))
    return jax.device_put(keys, NamedSharding(mesh, PartitionSpec("seeds")))


def _check_record_every(num_steps: int, record_every: int) -> None:
    if num_steps % record_every:
        raise ValueError(
            f"record_every={record_every} must divide num_steps={num_steps}"
        )


@functools.lru_cache(maxsize=128)
def _default_params_shapes(env: Any):
    """``(treedef, leaf shapes)`` of ``env.default_params``, traced abstractly,
    or ``None`` when the environment has no default instance."""
    try:
        default = jax.eval_shape(lambda: env.default_params)
    except Exception:  # e.g. a data-set environment with no default data
        return None
    leaves, treedef = jax.tree_util.tree_flatten_with_path(default)
    return treedef, [(jax.tree_util.keystr(path), leaf.shape) for path, leaf in leaves]


def check_env_params(env: Any, env_params: Any, *, batched: bool = False) -> None:
    """Refuse ``env_params`` that do not fit ``env``.

    The reference is ``env.default_params``: the parameters must have its
    structure and every leaf its shape (after the leading seed axis when
    ``batched``), so 3 means for ``BernoulliBandit(5)`` raise instead of
    running a different instance. Environments without a default instance
    are not checked. Called by :func:`run` and :func:`run_many`.

    Raises:
        ValueError: naming the first leaf whose shape differs.
    """
    try:
        reference = _default_params_shapes(env)
    except TypeError:  # an unhashable environment: no cache
        reference = _default_params_shapes.__wrapped__(env)
    if reference is None:
        return
    treedef, expected = reference
    leaves, given_def = jax.tree_util.tree_flatten_with_path(env_params)
    name = type(env).__name__
    if given_def != treedef:
        raise ValueError(
            f"env_params do not fit {name}: expected the structure of "
            f"env.default_params ({treedef}), got {given_def}"
        )
    for (path, leaf), (_, shape) in zip(leaves, expected, strict=True):
        given = tuple(jnp.shape(leaf))[1 if batched else 0 :]
        if given != tuple(shape):
            raise ValueError(
                f"env_params do not fit {name}: env_params{jax.tree_util.keystr(path)}"
                f" has shape {given}{' per seed' if batched else ''}, the "
                f"environment expects {tuple(shape)} (build the instance with "
                "env.default_params.replace(...))"
            )


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
