"""``Bandit``: a stateful host-side facade over a pure bandit agent.

For notebooks and serving. It holds the agent's state and a PRNG key, checks
every input on the host before anything is traced, and leaves the state
untouched when it refuses an input. Calls are jitted once per batch capacity
(batches are padded to the next power of two with arm ``-1``, weight 0, so a
stream of varying batch sizes compiles a handful of times).

Saved files are zip archives (``Bandit.save``): ``header.json`` is plain,
human-readable JSON (format name, schema version, bayesrl version, the
factory and its hyper-parameters, the state's field names), followed by one
``.npy`` array per state leaf and the key. ``Bandit.load`` rebuilds the agent
from the header, so a loaded bandit selects and updates exactly as the saved
one would have.
"""

from __future__ import annotations

import functools
import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import __version__
from bayesrl import random as fast_random
from bayesrl._checks import (
    NONFINITE_UPDATE,
    host_real_array,
    is_real_scalar,
    newly_nonfinite,
    newly_nonfinite_traced,
)
from bayesrl._packing import WordLayout
from bayesrl.bandits import describe
from bayesrl.bandits._registry import AgentSpec
from bayesrl.base import Agent, BanditObs, guarded_update

FORMAT_NAME = "bayesrl.Bandit"
SCHEMA_VERSION = 1


# Inputs up to this size are checked with Python's min/max/isfinite, which
# cost a fraction of NumPy's per-call overhead on a handful of items (the
# one-observation update of a serving loop).
_SMALL_INPUT = 32


def _padded_capacity(size: int) -> int:
    return 1 << max(0, size - 1).bit_length()


def _min_max(values: np.ndarray):
    if values.size <= _SMALL_INPUT:
        items = values.tolist()
        return min(items), max(items)
    return values.min(), values.max()


def _all_finite(values: np.ndarray) -> bool:
    if values.size <= _SMALL_INPUT:
        return all(map(math.isfinite, values.tolist()))
    return bool(np.all(np.isfinite(values)))


def _pad(values: np.ndarray, capacity: int, fill, dtype) -> np.ndarray:
    out = np.full((capacity,), fill, dtype)
    out[: values.size] = values
    return out


class _HostFacade:
    """What the host-side facades share: the agent's spec, its state and key,
    input validation, and the zip format of saved files.

    Subclasses set ``FORMAT_NAME`` (the ``format`` field of saved headers).
    """

    FORMAT_NAME = FORMAT_NAME

    def __init__(self, agent: Agent, seed: int = 0):
        spec = describe(agent)
        if spec is None:
            raise ValueError(
                "agent was not built by a bayesrl.bandits factory, so "
                f"{type(self).__name__} cannot validate its input or save it; use "
                "bayesrl.run or the agent's functions directly"
            )
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.agent = agent
        self.spec: AgentSpec = spec
        key_init, key = jax.random.split(jax.random.key(int(seed)))
        self._key_impl = str(jax.random.key_impl(key))
        initial = agent.init(key_init)
        # A sliding window of W observations (its ring buffer's length), or 0.
        window = getattr(initial, "window_arms", None)
        self._window = int(window.shape[0]) if window is not None else 0
        self._store(initial, jax.random.key_data(key))
        # On the device once, so that the default mask is not copied per call.
        self._all_available = jnp.ones((spec.num_arms,), dtype=bool)

    def _store(self, state, key_data) -> None:
        """Keep the agent's state and the key's raw data (``Bandit`` packs them)."""
        self.state = state
        self._key_data = key_data

    # The key is kept as its raw data and implementation name: the jitted
    # kernels take and return the data, which spares the host the typed-key
    # wrapper's checks on every call.
    @property
    def _key(self):
        return jax.random.wrap_key_data(self._key_data, impl=self._key_impl)

    @_key.setter
    def _key(self, key) -> None:
        self._key_impl = str(jax.random.key_impl(key))
        self._store(self.state, jax.random.key_data(key))

    @property
    def num_arms(self) -> int:
        return self.spec.num_arms

    # -- validation -------------------------------------------------------------

    def _check_available(self, available):
        if available is None:
            return self._all_available
        mask = np.asarray(available)
        if mask.shape != (self.num_arms,) or mask.dtype != np.bool_:
            raise ValueError(
                f"available must be a bool array of shape [{self.num_arms}], got "
                f"dtype {mask.dtype} and shape {mask.shape}"
            )
        if mask.sum() < self.spec.batch_size:
            raise ValueError(
                f"available allows {int(mask.sum())} arms but the agent selects "
                f"{self.spec.batch_size} per step"
            )
        return mask

    def _batch_capacity(self, size: int) -> int:
        """The padded length of a batch of ``size`` observations: the next power
        of two (one compilation per power), but never past a sliding window, so
        that padding never turns a batch that fits the window into one that
        does not. A batch longer than the window is refused."""
        capacity = _padded_capacity(size)
        if not self._window:
            return capacity
        if size > self._window:
            raise ValueError(
                f"a batch of {size} observations does not fit a window of "
                f"{self._window}"
            )
        return min(capacity, self._window)

    def _check_feedback(self, arms, rewards, weights):
        arms, rewards = self._check_arms_and_rewards(arms, rewards)
        weights = self._check_weights(weights, arms.shape)
        self._check_buffer_room(weights)
        capacity = self._batch_capacity(arms.size)
        dtype = jnp.result_type(float)
        return (
            _pad(arms, capacity, -1, np.int32),
            _pad(rewards, capacity, 0.0, dtype),
            _pad(weights, capacity, 0.0, dtype),
        )

    def _check_arms_and_rewards(self, arms, rewards):
        arms = np.asarray(arms)
        rewards = host_real_array("rewards", rewards, self._float_dtype)
        if arms.ndim != 1 or rewards.shape != arms.shape or arms.size == 0:
            raise ValueError(
                "arms and rewards must be non-empty 1-D arrays of the same length, "
                f"got shapes {arms.shape} and {rewards.shape}"
            )
        if not np.issubdtype(arms.dtype, np.integer):
            raise ValueError(f"arms must be integers, got dtype {arms.dtype}")
        arm_min, arm_max = _min_max(arms)
        if arm_min < 0 or arm_max >= self.num_arms:
            raise ValueError(
                f"arms must be in [0, {self.num_arms}), got values in "
                f"[{arm_min}, {arm_max}]"
            )
        low, high = self.spec.reward_range
        reward_min, reward_max = _min_max(rewards)
        if reward_min < low or reward_max > high:
            raise ValueError(
                f"rewards must lie in [{low}, {high}] for this model, got values in "
                f"[{reward_min}, {reward_max}]"
            )
        return arms, rewards

    def _is_short_valid_list(self, arms, rewards) -> bool:
        """Whether ``arms, rewards`` are short lists of valid Python (or NumPy
        scalar) ints and floats, checked in plain Python: a serving loop's one
        observation costs a fraction of NumPy's per-call overhead this way.
        False for anything else, which the NumPy checks then handle and word."""
        if not (
            type(arms) in (list, tuple)
            and type(rewards) in (list, tuple)
            and 0 < len(arms) == len(rewards) <= _SMALL_INPUT
        ):
            return False
        num_arms = self.num_arms
        low, high = self.spec.reward_range
        limit = self._float_limit
        for arm in arms:
            if (
                not isinstance(arm, (int, np.integer))
                or isinstance(arm, bool)
                or not 0 <= arm < num_arms
            ):
                return False
        for reward in rewards:
            if not is_real_scalar(reward, limit) or not low <= reward <= high:
                return False
        return True

    def _check_buffer_room(self, weights):
        """States with a fixed-capacity observation buffer (the GP belief's
        ``max_observations`` layout) expose ``remaining_capacity``; an update
        that would overflow it is refused (inside jit it would be dropped)."""
        remaining = getattr(self.state, "remaining_capacity", None)
        if remaining is None:
            return
        needed = int(np.count_nonzero(weights > 0))
        if needed > int(remaining):
            raise ValueError(
                f"the observation buffer has room for {int(remaining)} more "
                f"observations but this update holds {needed}; build the agent "
                "with a larger max_observations"
            )

    def _check_weights(self, weights, shape):
        if weights is None:
            return np.ones(shape)
        weights = host_real_array(
            "weights", weights, self._float_dtype, nonnegative=True
        )
        if weights.shape != shape:
            raise ValueError(
                f"weights must have the shape of arms {shape}, got {weights.shape}"
            )
        return weights

    @functools.cached_property
    def _float_dtype(self) -> np.dtype:
        """The float dtype of the agent's state (float32 unless x64 is on)."""
        return np.dtype(jnp.result_type(float))

    @functools.cached_property
    def _float_limit(self) -> float:
        return float(np.finfo(self._float_dtype).max)

    def _commit(self, new_state, info, old=None) -> None:
        """Keep ``new_state`` unless its update was rejected or it holds a
        non-finite value where ``old`` (default: the current state) is finite
        (rewards, weights or contexts too large for the state's dtype); the
        state is then unchanged and the update refused."""
        old = self.state if old is None else old
        if bool(info.rejected) or newly_nonfinite(old, new_state):
            raise ValueError(NONFINITE_UPDATE)
        self.state = new_state

    # -- persistence ------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the agent's description, state and key to ``path`` (a zip)."""
        leaves, _ = jax.tree.flatten(self.state)
        header = dict(
            format=self.FORMAT_NAME,
            schema_version=SCHEMA_VERSION,
            bayesrl_version=__version__,
            factory=self.spec.factory,
            config=self.spec.config,
            state_type=type(self.state).__name__,
            state_fields=list(getattr(self.state, "_fields", [])),
            num_leaves=len(leaves),
            **self._random_header(),
        )
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("header.json", json.dumps(header, indent=2))
            for index, leaf in enumerate(leaves):
                archive.writestr(f"state/{index}.npy", _npy_bytes(np.asarray(leaf)))
            self._write_random_state(archive)

    # The random state's part of a saved file: the JAX key's implementation in
    # the header and its data in ``key.npy`` (``NumpyBandit`` saves its NumPy
    # generator's state instead).
    def _random_header(self) -> dict:
        return dict(key_impl=self._key_impl)

    def _write_random_state(self, archive: zipfile.ZipFile) -> None:
        archive.writestr("key.npy", _npy_bytes(np.asarray(self._key_data)))

    def _restore_random_state(self, header: dict, archive: zipfile.ZipFile) -> None:
        key_data = np.load(io.BytesIO(archive.read("key.npy")))
        self._key = jax.random.wrap_key_data(
            jnp.asarray(key_data), impl=header["key_impl"]
        )

    @classmethod
    def load(cls, path: str | Path):
        """Rebuild a facade saved with :meth:`save`."""
        with zipfile.ZipFile(path) as archive:
            header = json.loads(archive.read("header.json"))
            saved_format = header.get("format")
            if saved_format != cls.FORMAT_NAME:
                # Each facade's format name is its public class path.
                facades = {sub.FORMAT_NAME for sub in _HostFacade.__subclasses__()}
                hint = (
                    f"; load it with {saved_format}.load"
                    if saved_format in facades
                    else ""
                )
                raise ValueError(
                    f"{path} is not a saved {cls.FORMAT_NAME} (format "
                    f"{saved_format!r}){hint}"
                )
            if header.get("schema_version") != SCHEMA_VERSION:
                raise ValueError(
                    f"{path} has schema version {header.get('schema_version')}; this "
                    f"bayesrl reads version {SCHEMA_VERSION}"
                )
            leaves = [
                np.load(io.BytesIO(archive.read(f"state/{i}.npy")))
                for i in range(header["num_leaves"])
            ]
            bandit = cls(_build_agent(header["factory"], header["config"]), seed=0)
            bandit._restore_random_state(header, archive)
        template, treedef = jax.tree.flatten(bandit.state)
        for saved, expected in zip(leaves, template, strict=True):
            if saved.shape != expected.shape:
                raise ValueError(
                    f"saved state leaf of shape {saved.shape} does not fit the "
                    f"rebuilt agent's {expected.shape}"
                )
        bandit.state = jax.tree.unflatten(
            treedef,
            [
                jnp.asarray(x, dtype=t.dtype)
                for x, t in zip(leaves, template, strict=True)
            ],
        )
        return bandit


class Bandit(_HostFacade):
    """Stateful wrapper: ``select()``, ``update(arms, rewards)``, ``save``/``load``.

    Args:
        agent: a bandit agent built by a ``bayesrl.bandits`` factory.
        seed: integer seed of the facade's key.
        backend: ``"jax"`` (default): compiled JAX kernels, for every agent.
            ``"numpy"``: for latency-bound serving of conjugate Thompson
            sampling, returns a :class:`bayesrl.NumpyBandit`, which runs the
            same agent in NumPy on the host with the same methods, checks and
            posterior, and draws from NumPy's generator instead of JAX's key.

    The state, the key and slots for the chosen action and the update's
    rejection flag live in one ``uint32`` device buffer
    (:class:`bayesrl._packing.WordLayout`), so a call moves one array in and
    one out; ``bandit.state`` unpacks it on demand. Feedback crosses as one
    ``[3, capacity]`` array of (arm, reward, weight) rows in the model's float
    dtype, which holds arm indices exactly below 2^24 (float32) or 2^53.

    Example:
        >>> import bayesrl
        >>> belief = bayesrl.beliefs.beta_bernoulli(10)
        >>> bandit = bayesrl.Bandit(bayesrl.bandits.thompson_sampling(belief), seed=0)
        >>> arm = bandit.select()
        >>> bandit.update([arm], [1.0])
    """

    def __new__(cls, agent: Agent, seed: int = 0, backend: str = "jax"):
        if backend == "numpy":
            from bayesrl.numpy_bandit import NumpyBandit  # imports this module

            return NumpyBandit(agent, seed)
        if backend != "jax":
            raise ValueError(f"backend must be 'jax' or 'numpy', got {backend!r}")
        return super().__new__(cls)

    def __init__(self, agent: Agent, seed: int = 0, backend: str = "jax"):
        self._feedback_dtype = np.dtype(jnp.result_type(float))
        spec = describe(agent)
        num_arms = spec.num_arms if spec is not None else 0
        if num_arms > 2 ** (np.finfo(self._feedback_dtype).nmant + 1):
            raise ValueError(
                f"Bandit passes arm indices as {self._feedback_dtype} and holds "
                f"at most 2^{np.finfo(self._feedback_dtype).nmant + 1} arms; got "
                f"{num_arms} (enable jax_enable_x64 for more)"
            )
        super().__init__(agent, seed)
        self._has_buffer = hasattr(self.state, "remaining_capacity")
        self._select_fn = jax.jit(self._select_kernel)
        self._update_fn = jax.jit(self._update_kernel)
        self._update_select_fn = jax.jit(self._update_and_select_kernel)

    # -- storage: one packed buffer -------------------------------------------

    def _store(self, state, key_data) -> None:
        if not hasattr(self, "_layout"):
            action = jax.eval_shape(
                self.agent.act,
                jax.random.key(0),
                state,
                BanditObs(available=jnp.ones((self.spec.num_arms,), bool)),
            )[0]
            self._layout = WordLayout(
                (state, key_data, action, jax.ShapeDtypeStruct((), jnp.bool_))
            )
            self._action_slot = self._layout.slots[-2]
            self._rejected_word = self._layout.slots[-1].start
        rejected = np.zeros((), bool)
        action = np.zeros(self._action_slot.shape, self._action_slot.dtype)
        words = self._layout.pack_host((state, key_data, action, rejected))
        self._words = jnp.asarray(words)
        self._unpacked = None

    def _unpack(self):
        if self._unpacked is None:
            state, key_data, _, _ = self._layout.unpack_host(np.asarray(self._words))
            self._unpacked = (jax.tree.map(jnp.asarray, state), jnp.asarray(key_data))
        return self._unpacked

    @property
    def state(self):
        """The agent's state (unpacked from the facade's buffer on demand)."""
        return self._unpack()[0]

    @state.setter
    def state(self, value) -> None:
        self._store(value, self._key_data)

    @property
    def _key_data(self):
        return self._unpack()[1]

    @_key_data.setter
    def _key_data(self, value) -> None:
        self._store(self.state, value)

    def _accept(self, words):
        """Keep ``words`` as the new buffer unless its update was rejected;
        returns the host view of it."""
        host = np.asarray(words)
        if host[self._rejected_word]:
            raise ValueError(NONFINITE_UPDATE)
        self._words = words
        self._unpacked = None
        return host

    def _host_action(self, host):
        slot = self._action_slot
        action = host[slot.start : slot.stop].view(slot.dtype)
        return int(action[0]) if slot.shape == () else action.reshape(slot.shape)

    # -- pure kernels (jitted once per feedback capacity) -----------------------

    def _select_in(self, state, key_data, available):
        key = jax.random.wrap_key_data(key_data, impl=self._key_impl)
        key, key_act = fast_random.split(key)
        if available is None:
            available = jnp.ones((self.spec.num_arms,), bool)
        action, _ = self.agent.act(key_act, state, BanditObs(available=available))
        return jax.random.key_data(key), action

    def _update_in(self, state, feedback):
        arms = feedback[0].astype(jnp.int32)
        belief = self.spec.belief
        new_state, info = guarded_update(belief, state, arms, feedback[1], feedback[2])
        # Finite inputs can still overflow the state (3e38 + 3e38, a weight of
        # 3e38 in alpha + beta): such an update is reverted and flagged too.
        rejected = info.rejected | newly_nonfinite_traced(
            state, new_state, belief.mean, belief.counts
        )
        new_state = jax.tree.map(
            lambda old, new: jnp.where(rejected, old, new), state, new_state
        )
        return new_state, info._replace(rejected=rejected)

    def _select_kernel(self, words, available):
        state, key_data, action, rejected = self._layout.unpack(words)
        key_data, action = self._select_in(state, key_data, available)
        return self._layout.pack((state, key_data, action, rejected))

    def _update_kernel(self, words, feedback):
        state, key_data, action, _ = self._layout.unpack(words)
        state, info = self._update_in(state, feedback)
        return self._layout.pack((state, key_data, action, info.rejected))

    def _update_and_select_kernel(self, words, feedback, available):
        state, key_data, _, _ = self._layout.unpack(words)
        state, info = self._update_in(state, feedback)
        key_data, action = self._select_in(state, key_data, available)
        return self._layout.pack((state, key_data, action, info.rejected))

    # -- host-side API --------------------------------------------------------

    def select(self, available=None):
        """The next arm (an int), or ``batch_size`` arms (an int array).

        Args:
            available: optional bool ``[num_arms]`` mask of arms that may be
                chosen; at least ``batch_size`` must be True.
        """
        mask = None if available is None else self._check_available(available)
        return self._host_action(self._accept(self._select_fn(self._words, mask)))

    def update(self, arms, rewards, weights=None) -> None:
        """Add one round of feedback: ``rewards[i]`` observed for ``arms[i]``.

        Repeated arms are allowed (batched and delayed feedback); the order of
        the items does not matter. Refuses (``ValueError``) wrong shapes,
        unknown arms, rewards that are not finite in the state's dtype
        (float32: NaN, inf, 1e39, ``10**400``), complex or outside the model's
        support, weights that are negative or not finite in that dtype, and
        an update whose result would not be finite (3e38 + 3e38); the state is
        then unchanged.
        """
        feedback = self._feedback_rows(arms, rewards, weights)
        self._accept(self._update_fn(self._words, feedback))

    def update_and_select(self, arms, rewards, weights=None, available=None):
        """``update(arms, rewards)`` then ``select()``, in one compiled call."""
        feedback = self._feedback_rows(arms, rewards, weights)
        mask = None if available is None else self._check_available(available)
        words = self._update_select_fn(self._words, feedback, mask)
        return self._host_action(self._accept(words))

    def posterior_mean(self) -> np.ndarray:
        """The model's current expected reward of every arm."""
        return np.asarray(self.spec.belief.mean(self.state))

    def _feedback_rows(self, arms, rewards, weights):
        """The ``[3, capacity]`` (arm, reward, weight) rows of one update, padded
        with arm -1 and weight 0; refuses invalid feedback (``ValueError``).

        A short list of Python ints and floats without weights (a serving loop's
        one observation) is checked in plain Python; anything else, and any
        input the short path does not accept, goes through the NumPy checks,
        which also word the error.
        """
        if (
            weights is None
            and not self._has_buffer
            and self._is_short_valid_list(arms, rewards)
        ):
            size = len(arms)
            padding = self._batch_capacity(size) - size
            return np.array(
                [
                    [*arms, *[-1] * padding],
                    [*rewards, *[0.0] * padding],
                    [*[1.0] * size, *[0.0] * padding],
                ],
                dtype=self._feedback_dtype,
            )
        padded = self._check_feedback(arms, rewards, weights)
        return np.stack(padded).astype(self._feedback_dtype)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _build_agent(factory: str, config: dict[str, Any]) -> Agent:
    """Rebuild an agent from a saved header (inverse of the factories' specs)."""
    from bayesrl import bandits, beliefs

    config = dict(config)
    if "belief" in config:
        belief_spec = config.pop("belief")
        belief_factory = getattr(beliefs, belief_spec["name"], None)
        if belief_factory is None:
            raise ValueError(f"unknown belief {belief_spec['name']!r} in saved file")
        config["belief"] = belief_factory(**belief_spec["config"])
    agent_factory = getattr(bandits, factory, None)
    if agent_factory is None:
        raise ValueError(f"unknown agent factory {factory!r} in saved file")
    return agent_factory(**config)
