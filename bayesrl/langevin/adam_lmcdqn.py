"""Adam LMCDQN: deep Q-learning with Adam Langevin Monte Carlo, as one pure train.

Ishfaq, Lan, Xu, Mahmood, Precup, Anandkumar & Azizzadenesheli, "Provable and
Practical: Efficient Exploration in Reinforcement Learning via Langevin Monte
Carlo", ICLR 2024 (https://arxiv.org/abs/2305.18246), Algorithm 2, and the
N-chain protocol of Ishfaq et al., RLC 2024 (https://arxiv.org/abs/2406.12241).

The Q-network's parameters are a sample from an approximate posterior moved by
the Adam Langevin step (:func:`~bayesrl.langevin.adam_langevin`)::

    g = grad_w mean_batch (G - Q_w(s, a))^2       # fresh minibatch per step
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    w <- w - eta g - eta a m / (sqrt(v) + eps) + sqrt(2 eta / beta) xi

with the n-step (double) DQN target ``G = sum_{i<n} gamma^i r_{t+i} + gamma^n
(1 - done) Q_target(s_{t+n}, argmax_a Q_w(s_{t+n}, a))`` (``max_a Q_target`` without
double Q), truncated at episode ends. Acting is greedy on the current iterate,
in training and in testing: exploration comes from the posterior sample.

Protocol (defaults; ``panxulab/LSVI-ASE`` ``configs/nchain_*.json``): MLP 32-32
ReLU, J = 4 inner steps per update, batch 32, buffer 1e4, hard target sync every
100 gradient steps (every inner step counts, checked before the step), 1-step
targets, no double Q, discount 0.99, 100 epochs of 1000 env steps, each collect
of 10 env steps followed by 10 updates (40 noisy gradient steps per 10 env
steps), 32 prefill steps, 20 greedy test episodes after every epoch. The papers
report the best cell of a grid eta in {1e-2, 1e-3}, sigma_n = beta^{-1/2} in
{1e-4, 1e-5, 1e-6}, a in {1, 0.1, 0.01}. The default cell here is eta = 1e-2,
a = 1, sigma_n = 1e-4, one cell of that grid; how it was chosen and how it
scores is on the Langevin reproduction page of the docs.

The follow-up variants of Ishfaq, Tan, Yang, Lan, Lu, Mahmood, Precup & Xu,
RLC 2024 (https://arxiv.org/abs/2406.12241) are config options:
``optimizer="adam_underdamped_langevin"`` with a ``friction`` gamma is ULMCDQN
(:func:`~bayesrl.langevin.adam_underdamped_langevin`, momentum persisting like
the moments), and ``feel_good_weight`` eta_fg > 0 subtracts the Feel-Good prior
``eta_fg * mean_batch max_a Q_w(s1, a)`` from the loss (s1: the first
observation of each transition's episode, stored in the buffer;
:func:`~bayesrl.langevin.dqn_loss`), giving FG-LMCDQN and FG-ULMCDQN.
``optimizer="adam"`` with an ε schedule turns the same loop into the DQN
(ε-greedy, optax Adam) baseline; ``noise_multiplier=0`` is the noise-off
ablation.

``train(key)`` is pure: every random draw descends from ``key`` (network
initialisation, environment, minibatches, Langevin noise), there is no
collective over a batch axis, so ``jax.jit(jax.vmap(train))(keys)`` trains one
independent agent per key.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree

from bayesrl import random as fast_random
from bayesrl._checks import check_positive, is_concrete
from bayesrl.langevin.adam_langevin import adam_langevin
from bayesrl.langevin.adam_underdamped_langevin import adam_underdamped_langevin
from bayesrl.langevin.dqn_loss import DQNBatch, dqn_loss
from bayesrl.types import Array, ArrayTree, PRNGKey

#: The defaults of :func:`adam_lmcdqn`'s ``config`` (the N-chain protocol of the
#: module docstring); pass a dict with some of these keys to override them.
DEFAULT_CONFIG: dict[str, Any] = {
    "hidden_sizes": (32, 32),
    "network_init": "lecun_normal",
    "optimizer": "adam_langevin",
    "step_size": 1e-2,
    "bias_factor": 1.0,
    "noise_scale": 1e-4,
    "noise_multiplier": 1.0,
    "friction": 1.0,
    "feel_good_weight": 0.0,
    "b1": 0.9,
    "b2": 0.999,
    "eps": 1e-8,
    "num_inner_steps": 4,
    "batch_size": 32,
    "buffer_size": 10_000,
    "target_update_every": 100,
    "n_step": 1,
    "double_q": False,
    "discount": 0.99,
    "num_epochs": 100,
    "steps_per_epoch": 1_000,
    "steps_per_collect": 10,
    "updates_per_collect": 10,
    "learning_starts": 32,
    "num_eval_episodes": 20,
    "eval_max_steps": None,
    "record_params": False,
    "epsilon_start": 0.0,
    "epsilon_end": 0.0,
    "epsilon_decay_steps": 1,
}
"""The N-chain protocol of the LMCDQN papers (see the module docstring).

``noise_scale`` is ``sigma_n = beta^{-1/2}``; ``optimizer`` is
``"adam_langevin"`` (Adam LMCDQN), ``"adam_underdamped_langevin"`` (ULMCDQN,
with ``friction`` gamma; gamma = 1 gives the same stationary drift per step as
the aSGLD cell) or ``"adam"`` (plain optax Adam, the DQN baseline);
``feel_good_weight`` eta_fg >= 0 is the Feel-Good prior weight (0: off);
``network_init`` is ``"lecun_normal"`` (Flax's default) or ``"torch_uniform"``
(PyTorch's ``nn.Linear`` default, as in the reference code); the ε
schedule decays linearly over ``epsilon_decay_steps`` env steps
(0 everywhere by default: greedy acting); ``eval_max_steps`` None reads
``env_params.max_steps_in_episode``; ``record_params=True`` keeps each
epoch's online parameters in ``metrics.params`` (``num_epochs`` copies of the
network: 4.3k floats per epoch at N = 100).
"""


class Buffer(NamedTuple):
    """A fixed-capacity ring buffer of transitions.

    ``next_obs`` is the true next observation (gymnax's ``final_observation``
    at episode ends); ``done`` marks terminated or truncated transitions. The
    ``first_obs`` is the first observation of the transition's episode (the
    Feel-Good prior's ``s1``; None when that term is off). The
    write position and fill level are functions of the global step count, which
    is the same for every seed, so they are passed as loop indices rather than
    stored: under ``vmap`` the writes stay cheap dynamic slices.
    """

    obs: Array
    action: Array
    reward: Array
    next_obs: Array
    done: Array
    terminated: Array
    first_obs: Array | None


class AdamLMCDQNState(NamedTuple):
    """The training state carried by ``train``."""

    params: ArrayTree
    target_params: ArrayTree
    opt_state: ArrayTree
    buffer: Buffer
    env_state: Any
    obs: Array
    episode_first_obs: Array


class AdamLMCDQNMetrics(NamedTuple):
    """Per-epoch metrics (leading axis ``num_epochs``).

    Attributes:
        eval_return: mean undiscounted return of the greedy test episodes.
        loss: mean minibatch TD loss over the epoch's gradient steps.
        num_nonfinite: cumulative gradient steps reverted as non-finite.
        noise_to_drift: mean ``||noise|| / ||drift||`` of the epoch's steps (NaN
            for the ``"adam"`` optimizer): near 0 means the Langevin noise is
            numerically negligible (the chain is then plain Adam).
        params: with ``record_params=True``, the online Q-network parameters
            at the end of each epoch (the ones ``eval_return`` evaluates), for
            analysing the greedy policy along training; None otherwise.
    """

    eval_return: Array
    loss: Array
    num_nonfinite: Array
    noise_to_drift: Array
    params: ArrayTree | None = None


NETWORK_INITS = ("lecun_normal", "torch_uniform")


def _torch_uniform_bias(fan_in: int) -> Callable:
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: PRNGKey, shape: tuple[int, ...], dtype: Any = jnp.float32) -> Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _linear(fan_in: int, fan_out: int, network_init: str, rngs: nnx.Rngs):
    """One layer, initialised as Flax does or as PyTorch's ``nn.Linear`` does.

    ``"lecun_normal"``: Flax's default, weights from a truncated normal of
    variance ``1/fan_in``, zero biases. ``"torch_uniform"``: PyTorch's default
    (``kaiming_uniform_(a=sqrt(5))``, the reference code's ``smallDQNNet``),
    weights and biases uniform on ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, i.e.
    weights of variance ``1/(3 fan_in)``.
    """
    if network_init == "lecun_normal":
        return nnx.Linear(fan_in, fan_out, rngs=rngs)
    return nnx.Linear(
        fan_in,
        fan_out,
        kernel_init=jax.nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
        bias_init=_torch_uniform_bias(fan_in),
        rngs=rngs,
    )


class _MLP(nnx.Module):
    """The papers' ``smallDQNNet``: ReLU MLP with a linear head."""

    def __init__(self, sizes: tuple[int, ...], network_init: str, rngs: nnx.Rngs):
        self.layers = nnx.List(
            [
                _linear(i, o, network_init, rngs)
                for i, o in zip(sizes[:-1], sizes[1:], strict=True)
            ]
        )

    def __call__(self, x: Array) -> Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)


def n_step_returns(
    rewards: Array, done: Array, terminated: Array, discount: float | Array
) -> tuple[Array, Array, Array]:
    """Truncated n-step returns of windows of consecutive transitions.

    For a window ``t .. t+n-1`` (rows of ``[B, n]`` arrays) the return stops at
    the first episode end ``m`` inside it::

        G = sum_{i <= m} discount^i r_{t+i},
        bootstrap = discount^{m+1} (1 - terminated_{t+m}),

    and the target is ``G + bootstrap * Q(next_obs_{t+m})`` (a truncated
    transition still bootstraps from its final observation).

    Returns:
        ``(G [B], m [B], bootstrap [B])``; ``m`` indexes the window.
    """
    batch, n = rewards.shape
    alive = jnp.cumprod(
        jnp.concatenate([jnp.ones((batch, 1)), 1.0 - done[:, :-1]], axis=1), axis=1
    )
    returns = jnp.sum(alive * discount ** jnp.arange(n) * rewards, axis=1)
    last = jnp.sum(alive, axis=1).astype(jnp.int32) - 1
    last_terminated = jnp.take_along_axis(terminated, last[:, None], axis=1)[:, 0]
    bootstrap = discount ** (last + 1.0) * (1.0 - last_terminated)
    return returns, last, bootstrap


def _flat(tree: ArrayTree) -> Array:
    return ravel_pytree(tree)[0]


OPTIMIZERS = ("adam_langevin", "adam_underdamped_langevin", "adam")


def _validate(config: dict[str, Any]) -> None:
    unknown = set(config) - set(DEFAULT_CONFIG)
    if unknown:
        raise ValueError(f"unknown adam_lmcdqn config keys: {sorted(unknown)}")
    for name in (
        "num_inner_steps",
        "batch_size",
        "buffer_size",
        "target_update_every",
        "n_step",
        "num_epochs",
        "steps_per_epoch",
        "steps_per_collect",
        "updates_per_collect",
        "num_eval_episodes",
        "epsilon_decay_steps",
    ):
        value = config[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if config["steps_per_epoch"] % config["steps_per_collect"]:
        raise ValueError("steps_per_epoch must be a multiple of steps_per_collect")
    if config["learning_starts"] < config["batch_size"]:
        raise ValueError("learning_starts must be at least batch_size")
    if config["buffer_size"] < config["learning_starts"]:
        raise ValueError("buffer_size must be at least learning_starts")
    if config["network_init"] not in NETWORK_INITS:
        raise ValueError(
            f"network_init must be one of {NETWORK_INITS}, "
            f"got {config['network_init']!r}"
        )
    if not isinstance(config["record_params"], bool):
        raise ValueError(
            f"record_params must be a bool, got {config['record_params']!r}"
        )
    if config["optimizer"] not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {OPTIMIZERS}, got {config['optimizer']!r}"
        )
    check_positive("step_size", config["step_size"])
    check_positive("noise_scale", config["noise_scale"])
    check_positive("bias_factor", config["bias_factor"], allow_zero=True)
    check_positive("noise_multiplier", config["noise_multiplier"], allow_zero=True)
    check_positive("friction", config["friction"])
    check_positive("feel_good_weight", config["feel_good_weight"], allow_zero=True)
    for name in ("discount", "epsilon_start", "epsilon_end"):
        value = config[name]
        if not isinstance(value, jax.core.Tracer) and not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")


def adam_lmcdqn(
    env: Any, env_params: Any, **config: Any
) -> Callable[[PRNGKey], tuple[AdamLMCDQNState, AdamLMCDQNMetrics]]:
    """Build a pure ``train(key) -> (state, metrics)`` for Adam LMCDQN.

    Args:
        env: a gymnax environment with a discrete action space and a flat
            observation (N-chain's thermometer code, say).
        env_params: its parameters.
        **config: overrides of :data:`DEFAULT_CONFIG` (the N-chain protocol).
            Sizes are static; ``step_size``, ``bias_factor``, ``noise_scale``,
            ``noise_multiplier``, ``friction``, ``feel_good_weight`` and
            ``discount`` may be traced (for sweeps under ``vmap``; a traced
            ``feel_good_weight`` keeps the buffer's first observations).

    Returns:
        ``train(key)``: runs ``num_epochs * steps_per_epoch`` env steps (plus
        ``learning_starts`` prefill steps) and returns the final state and
        :class:`AdamLMCDQNMetrics` with ``eval_return`` of shape ``[num_epochs]``.
        ``train.q_values(params, obs)`` evaluates the Q-network (``[num_actions]``
        for one observation), e.g. on ``state.params`` or a recorded epoch's
        ``metrics.params``.

    Raises:
        ValueError: for unknown keys or invalid values.
    """
    cfg = {**DEFAULT_CONFIG, **config}
    _validate(cfg)
    num_actions = env.action_space(env_params).n
    obs_shape = env.observation_space(env_params).shape
    obs_dim = math.prod(obs_shape)  # static: the factory may run under jit
    sizes = (obs_dim, *cfg["hidden_sizes"], num_actions)
    factory = lambda rngs: _MLP(sizes, cfg["network_init"], rngs)  # noqa: E731
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: factory(nnx.Rngs(0))))
    n_step, batch_size, capacity = cfg["n_step"], cfg["batch_size"], cfg["buffer_size"]
    discount = cfg["discount"]
    eval_max_steps = cfg["eval_max_steps"]
    if eval_max_steps is None:
        eval_max_steps = int(env_params.max_steps_in_episode)
    num_collects = cfg["steps_per_epoch"] // cfg["steps_per_collect"]
    num_grad = cfg["updates_per_collect"] * cfg["num_inner_steps"]
    langevin = cfg["optimizer"] != "adam"
    underdamped = cfg["optimizer"] == "adam_underdamped_langevin"
    feel_good_weight = cfg["feel_good_weight"]
    # A concrete 0 drops the Feel-Good term and the buffer's first observations.
    feel_good = not (is_concrete(feel_good_weight) and float(feel_good_weight) == 0)
    if underdamped:
        transform = adam_underdamped_langevin(
            cfg["step_size"],
            cfg["bias_factor"],
            cfg["friction"],
            1.0 / cfg["noise_scale"] ** 2,
            b1=cfg["b1"],
            b2=cfg["b2"],
            eps=cfg["eps"],
            noise_multiplier=cfg["noise_multiplier"],
        )
    elif langevin:
        transform = adam_langevin(
            cfg["step_size"],
            cfg["bias_factor"],
            1.0 / cfg["noise_scale"] ** 2,
            b1=cfg["b1"],
            b2=cfg["b2"],
            eps=cfg["eps"],
            noise_multiplier=cfg["noise_multiplier"],
        )
    else:
        transform = optax.adam(
            cfg["step_size"], b1=cfg["b1"], b2=cfg["b2"], eps=cfg["eps"]
        )

    def q_values(params: ArrayTree, obs: Array) -> Array:
        return nnx.merge(graphdef, params)(jnp.reshape(obs, (-1,)))

    def epsilon_at(env_steps: Array) -> Array:
        frac = jnp.minimum(env_steps / cfg["epsilon_decay_steps"], 1.0)
        return cfg["epsilon_start"] + frac * (cfg["epsilon_end"] - cfg["epsilon_start"])

    def env_step(state: AdamLMCDQNState, inputs) -> tuple[AdamLMCDQNState, None]:
        t, key = inputs  # t: the global env step index, shared by all seeds
        key_eps, key_uniform, key_env = fast_random.split(key, 3)
        greedy = jnp.argmax(q_values(state.params, state.obs))
        explore = fast_random.uniform(key_eps) < epsilon_at(t)
        uniform = fast_random.randint(key_uniform, (), 0, num_actions)
        action = jnp.where(explore, uniform, greedy).astype(jnp.int32)
        next_obs, env_state, reward, terminated, truncated, info = env.step(
            key_env, state.env_state, action, env_params
        )
        buf, i = state.buffer, t % capacity
        buffer = Buffer(
            obs=buf.obs.at[i].set(state.obs),
            action=buf.action.at[i].set(action),
            reward=buf.reward.at[i].set(reward),
            next_obs=buf.next_obs.at[i].set(info["final_observation"]),
            done=buf.done.at[i].set(terminated | truncated),
            terminated=buf.terminated.at[i].set(terminated),
            first_obs=(
                buf.first_obs.at[i].set(state.episode_first_obs) if feel_good else None
            ),
        )
        # gymnax resets inside step: after an episode end next_obs starts the next.
        episode_first_obs = jnp.where(
            terminated | truncated, next_obs, state.episode_first_obs
        )
        state = state._replace(
            buffer=buffer,
            env_state=env_state,
            obs=next_obs,
            episode_first_obs=episode_first_obs,
        )
        return state, None

    def sample_targets(buffer: Buffer, key: PRNGKey, num_stored: Array) -> DQNBatch:
        """A minibatch of n-step windows.

        ``num_stored`` transitions have been written so far (the next write goes
        to ``num_stored % capacity``).
        """
        size = jnp.minimum(num_stored, capacity)
        # Windows of n transitions that do not cross the write position.
        offsets = fast_random.randint(key, (batch_size,), 0, size - n_step + 1)
        starts = (num_stored - size + offsets) % capacity
        window = (starts[:, None] + jnp.arange(n_step)) % capacity  # [B, n]
        returns, last, bootstrap = n_step_returns(
            buffer.reward[window],
            buffer.done[window],
            buffer.terminated[window],
            discount,
        )
        last_index = jnp.take_along_axis(window, last[:, None], axis=1)[:, 0]
        return DQNBatch(
            obs=buffer.obs[starts],
            action=buffer.action[starts],
            returns=returns,
            next_obs=buffer.next_obs[last_index],
            bootstrap=bootstrap,
            first_obs=buffer.first_obs[starts] if feel_good else None,
        )

    def loss_fn(params, target_params, batch):
        return dqn_loss(
            q_values,
            params,
            target_params,
            batch,
            double_q=cfg["double_q"],
            feel_good_weight=feel_good_weight,
        )

    def gradient_step(state: AdamLMCDQNState, inputs):
        step, num_stored, key = inputs  # step: the global gradient step index
        key_batch, key_noise = fast_random.split(key)
        sync = step % cfg["target_update_every"] == 0
        target_params = jax.tree.map(
            lambda p, t: jnp.where(sync, p, t), state.params, state.target_params
        )
        batch = sample_targets(state.buffer, key_batch, num_stored)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, target_params, batch)
        if langevin:
            updates, opt_state = transform.update(
                grads, state.opt_state, state.params, key=key_noise
            )
            # The deterministic part of the step: eta p (aULMC) or, from the
            # updated moments, eta (g + a m / (sqrt(v) + eps)) (aSGLD), on the
            # raveled parameters (two reductions instead of two per leaf).
            if underdamped:
                drift = cfg["step_size"] * _flat(opt_state.momentum)
            else:
                drift = cfg["step_size"] * (
                    _flat(grads)
                    + cfg["bias_factor"]
                    * _flat(opt_state.mu)
                    / (jnp.sqrt(_flat(opt_state.nu)) + cfg["eps"])
                )
            drift_norm = jnp.linalg.norm(drift)
            noise_norm = jnp.linalg.norm(_flat(updates) + drift)
            ratio = noise_norm / jnp.maximum(drift_norm, 1e-30)
        else:
            updates, opt_state = transform.update(grads, state.opt_state, state.params)
            ratio = jnp.full((), jnp.nan)
        state = state._replace(
            params=optax.apply_updates(state.params, updates),
            target_params=target_params,
            opt_state=opt_state,
        )
        return state, (loss, ratio)

    def collect_and_learn(state: AdamLMCDQNState, inputs):
        collect, key = inputs  # collect: the global collect index
        key_env, key_learn = fast_random.split(key)
        spc = cfg["steps_per_collect"]
        first_step = cfg["learning_starts"] + collect * spc
        state, _ = jax.lax.scan(
            env_step,
            state,
            (first_step + jnp.arange(spc), fast_random.split(key_env, spc)),
        )
        num_stored = jnp.full((num_grad,), first_step + spc)
        steps = collect * num_grad + jnp.arange(num_grad)
        keys = fast_random.split(key_learn, num_grad)
        return jax.lax.scan(gradient_step, state, (steps, num_stored, keys))

    def evaluate(params: ArrayTree, key: PRNGKey) -> Array:
        def episode(key):
            key_reset, key_steps = fast_random.split(key)
            obs, env_state = env.reset(key_reset, env_params)

            def body(carry, k):
                obs, env_state, total, running = carry
                action = jnp.argmax(q_values(params, obs)).astype(jnp.int32)
                obs, env_state, reward, terminated, truncated, _ = env.step(
                    k, env_state, action, env_params
                )
                total = total + jnp.where(running, reward, 0.0)
                running = running & ~(terminated | truncated)
                return (obs, env_state, total, running), None

            init = (obs, env_state, jnp.zeros(()), jnp.ones((), bool))
            keys = fast_random.split(key_steps, eval_max_steps)
            (_, _, total, _), _ = jax.lax.scan(body, init, keys)
            return total

        return jnp.mean(
            jax.vmap(episode)(fast_random.split(key, cfg["num_eval_episodes"]))
        )

    def epoch(state: AdamLMCDQNState, inputs):
        index, key = inputs
        key_train, key_eval = fast_random.split(key)
        collects = index * num_collects + jnp.arange(num_collects)
        state, (loss, ratio) = jax.lax.scan(
            collect_and_learn,
            state,
            (collects, fast_random.split(key_train, num_collects)),
        )
        num_nonfinite = (
            state.opt_state.num_nonfinite if langevin else jnp.zeros((), jnp.int32)
        )
        metrics = AdamLMCDQNMetrics(
            eval_return=evaluate(state.params, key_eval),
            loss=jnp.mean(loss),
            num_nonfinite=num_nonfinite,
            noise_to_drift=jnp.mean(ratio),
            params=state.params if cfg["record_params"] else None,
        )
        return state, metrics

    def train(key: PRNGKey) -> tuple[AdamLMCDQNState, AdamLMCDQNMetrics]:
        key_init, key_reset, key_prefill, key_epochs = fast_random.split(key, 4)
        _, params = nnx.split(factory(nnx.Rngs(key_init)))
        obs, env_state = env.reset(key_reset, env_params)
        obs_zeros = jnp.zeros((capacity, *jnp.shape(obs)), jnp.float32)
        buffer = Buffer(
            obs=obs_zeros,
            action=jnp.zeros((capacity,), jnp.int32),
            reward=jnp.zeros((capacity,), jnp.float32),
            next_obs=obs_zeros,
            done=jnp.zeros((capacity,), jnp.float32),
            terminated=jnp.zeros((capacity,), jnp.float32),
            first_obs=obs_zeros if feel_good else None,
        )
        state = AdamLMCDQNState(
            params=params,
            target_params=params,
            opt_state=transform.init(params),
            buffer=buffer,
            env_state=env_state,
            obs=jnp.asarray(obs, jnp.float32),
            episode_first_obs=jnp.asarray(obs, jnp.float32),
        )
        prefill = cfg["learning_starts"]
        state, _ = jax.lax.scan(
            env_step,
            state,
            (jnp.arange(prefill), fast_random.split(key_prefill, prefill)),
        )
        num_epochs = cfg["num_epochs"]
        return jax.lax.scan(
            epoch,
            state,
            (jnp.arange(num_epochs), fast_random.split(key_epochs, num_epochs)),
        )

    train.q_values = q_values
    return train
