"""``PromptSelector``: the host-side MoPPS selector that trainers call.

It wraps the pure agent of :func:`bayesrl.prompts.mopps` (its low-level
``select`` / ``update`` / ``advance_stream`` functions, jitted once with the
state donated so the per-step scatters are in place), holds the state and a
base key, checks every input on the host before anything is traced, and leaves
the posterior untouched when it refuses an input (the same contract as
:class:`bayesrl.Bandit`).

Keys: the ``t``-th selection uses ``fold_in(base_key, t)``, so the selections
depend only on the seed, the number of selections so far and the posterior;
``state_dict`` stores the base key's data and the counter, and a resumed run
selects exactly what the uninterrupted run would have.

Selections may run ahead of updates (trainers that prefetch the next batch).
The selections still awaiting feedback are kept in order (first in, first
out): an update is attributed to the oldest of them, the batch that was
trained, so the metrics that compare a selection with its outcome
(``rho_selected_mopps``, the selection summary) describe that batch. They are
part of ``state_dict``, so a resumed run attributes exactly as before.
"""

from __future__ import annotations

import json
import numbers
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl._checks import NONFINITE_UPDATE, host_real_array
from bayesrl.facade import _padded_capacity
from bayesrl.prompts._metrics import spearman
from bayesrl.prompts.mopps import (
    advance_stream,
    describe,
    mopps,
    response_evidence,
)
from bayesrl.prompts.mopps import select as mopps_select
from bayesrl.prompts.mopps import update as mopps_update

FORMAT_NAME = "bayesrl.prompts.PromptSelector"
SCHEMA_VERSION = 1
# Candidate quantiles are logged from an evenly strided subsample of at least
# this many candidates (the candidates are in random order): sorting all 4,096
# candidates costs about as much as the selection itself.
QUANTILE_SAMPLE = 512
_STATE_FIELDS = ("alpha", "beta", "last_visit", "step", "group_alpha", "group_beta")
_STREAM_FIELDS = ("round_keys", "cursor", "epoch")
# At most this many selections await feedback; beyond it the oldest is
# forgotten (bounds memory when select() is called without updates).
MAX_PENDING_SELECTIONS = 256


# Kernels are jitted once per process and shared by every selector with the
# same shapes and static options; the state is donated, so the per-step
# scatters into alpha/beta/last_visit happen in place.


def _select_and_advance(
    base_key,
    count,
    state,
    params,
    *,
    num_select,
    num_candidates,
    strategy,
    shapes_at_least_one,
    time_decay,
):
    key_select, key_stream = fast_random.split(jax.random.fold_in(base_key, count))
    ids, info = mopps_select(
        key_select,
        state,
        params,
        num_select=num_select,
        num_candidates=num_candidates,
        strategy=strategy,
        shapes_at_least_one=shapes_at_least_one,
        time_decay=time_decay,
    )
    state = advance_stream(key_stream, state, num_candidates)
    posterior = info.posterior_mean
    levels = jnp.asarray([0.1, 0.5, 0.9], posterior.dtype)
    summary = dict(
        fraction_selected_in_band=jnp.mean(
            (info.selected_draws >= params.lower_bound)
            & (info.selected_draws <= params.upper_bound)
        ),
        candidate_mean_quantiles=jnp.quantile(
            posterior[:: max(1, posterior.shape[0] // QUANTILE_SAMPLE)], levels
        ),
        selected_mean_quantiles=jnp.quantile(info.selected_posterior_mean, levels),
        num_unseen_candidates=info.num_unseen,
    )
    return ids, info.selected_draws, state, summary


def _update_and_score(state, ids, successes, trials, mask, params, selected, draws):
    """The update, plus MoPPS's logged ``train_spearman_corr``: Spearman(draw of
    each selected prompt, -its empirical success rate in this update) over the
    selected prompts present in the update (negative = predictive)."""
    state, info = mopps_update(state, ids, successes, trials, mask, params)
    match = (selected[:, None] == ids[None, :]) & mask[None, :]
    rate = jnp.sum(jnp.where(match, successes, 0.0), 1) / jnp.maximum(
        jnp.sum(jnp.where(match, trials, 0.0), 1), 1e-30
    )
    rho_official = spearman(draws, -rate, jnp.any(match, 1))
    return state, info, rho_official


_select_kernel = jax.jit(
    _select_and_advance,
    static_argnames=(
        "num_select",
        "num_candidates",
        "strategy",
        "shapes_at_least_one",
        "time_decay",
    ),
    donate_argnums=(2,),
)
_update_kernel = jax.jit(_update_and_score, donate_argnums=(0,))


def _counter(name: str, value) -> int:
    """A saved counter: a non-negative integer scalar (``ValueError`` else)."""
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iu" or int(array) < 0:
        raise ValueError(f"state_dict[{name!r}] must be an integer >= 0, got {value!r}")
    return int(array)


class PromptSelector:
    """MoPPS prompt selection for a trainer: ``select()``, ``update(...)``,
    ``state_dict()`` / ``load_state_dict(d)``.

    Args:
        num_prompts: N, size of the prompt pool; prompt ids are ``0..N-1``.
        batch_size: B, prompts selected per step.
        seed: integer seed.
        **mopps_options: keyword arguments of :func:`bayesrl.prompts.mopps`
            (``candidate_multiplier``, ``target``, ``discount``, ``prior_alpha``,
            ``prior_beta``, ``strategy``, ``time_discount``, ``group_ids``...).

    Example:
        >>> selector = PromptSelector(1000, 16, seed=0, discount=0.5)
        >>> ids = selector.select()            # int64 [16], distinct
        >>> info = selector.update(ids, successes=[4] * 16, trials=[8] * 16)
    """

    def __init__(
        self, num_prompts: int, batch_size: int, seed: int = 0, **mopps_options
    ):
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.agent = mopps(num_prompts, batch_size, **mopps_options)
        self.config, self.params = describe(self.agent)
        key_init, self._base_key = jax.random.split(jax.random.key(int(seed)))
        self.state = self.agent.init(key_init)
        self.num_selections = 0
        self.num_updates = 0
        # Selections awaiting feedback, oldest first: dicts of their ids,
        # draws and summary (the fields of _pending_shapes).
        self._pending: deque[dict] = deque()

    # -- host-side API -------------------------------------------------------------

    @property
    def num_prompts(self) -> int:
        return self.config.num_prompts

    @property
    def batch_size(self) -> int:
        return self.config.num_select

    @property
    def num_pending(self) -> int:
        """Selections made whose feedback has not arrived yet."""
        return len(self._pending)

    def pending_selections(self) -> list[np.ndarray]:
        """Ids of the selections awaiting feedback, oldest first (int64)."""
        return [np.asarray(entry["ids"]).astype(np.int64) for entry in self._pending]

    def drop_oldest_pending(self) -> None:
        """Mark the oldest selection awaiting feedback as done without any
        evidence (e.g. none of its responses could be scored), so that the
        next update is attributed to the selection after it. The posterior is
        unchanged; does nothing when no selection is pending."""
        if self._pending:
            self._pending.popleft()

    def select(self) -> np.ndarray:
        """The next batch: int64 ``[batch_size]`` distinct prompt ids."""
        ids, draws, self.state, summary = _select_kernel(
            self._base_key,
            np.uint32(self.num_selections),
            self.state,
            self.params,
            num_select=self.config.num_select,
            num_candidates=self.config.num_candidates,
            strategy=self.config.strategy,
            shapes_at_least_one=self.config.shapes_at_least_one,
            time_decay=self.config.time_decay,
        )
        self.num_selections += 1
        self._pending.append({"ids": ids, "draws": draws, **summary})
        if len(self._pending) > MAX_PENDING_SELECTIONS:
            self._pending.popleft()
        return np.asarray(ids).astype(np.int64)

    def update(self, ids, successes=None, trials=None, *, rewards=None) -> dict:
        """Add the rollouts of one step.

        Either ``update(ids, successes, trials)``: per row, ``successes[r]`` of
        ``trials[r]`` rollouts of prompt ``ids[r]`` succeeded (``successes`` may
        be fractional, as with the official ``bandit_metric=score``); or
        ``update(ids, rewards=rewards)``: one row per response, its success
        given by the selector's ``evidence`` rule (``reward >=
        success_threshold`` by default). Rows may repeat an id: they are summed
        and count as one visit. Every trained group should be passed, the
        degenerate ones (all fail / all succeed) included.

        Returns:
            A dict of Python numbers: ``num_groups``, ``solve_none``,
            ``solve_all``, ``zero_variance_fraction``, ``rho_selected``
            (positive = predictive), ``rho_selected_mopps`` (the official
            quantity, Spearman of the selection's draws against minus the
            empirical rate: negative = predictive), ``mean_pseudo_counts``,
            ``selections_ahead`` (selections still awaiting feedback after
            this one) and the attributed selection's summary (band fraction,
            posterior-mean quantiles, unseen candidates); without a pending
            selection ``rho_selected_mopps`` is NaN and there is no summary.

        Raises:
            ValueError: on unknown ids, non-integer ids, mismatched or empty
                arrays, NaN or infinite values, negative counts, ``trials <= 0``
                or ``successes > trials``; the posterior is then unchanged.
        """
        ids, successes, trials = self._check_feedback(ids, successes, trials, rewards)
        capacity = _padded_capacity(ids.size)
        pad = capacity - ids.size
        dtype = jnp.result_type(float)
        if self._pending:
            summary = dict(self._pending[0])
            selected, draws = summary.pop("ids"), summary.pop("draws")
        else:  # no selection to score: all absent
            selected = np.full((self.batch_size,), -1, np.int32)
            draws = np.zeros((self.batch_size,), dtype)
            summary = {}
        new_state, info, rho_official = _update_kernel(
            self.state,
            np.pad(ids.astype(np.int32), (0, pad), constant_values=-1),
            np.pad(successes, (0, pad)).astype(dtype),
            np.pad(trials, (0, pad)).astype(dtype),
            np.arange(capacity) < ids.size,
            self.params,
            selected,
            draws,
        )
        info, rho_official, summary = jax.device_get(
            (info._asdict(), rho_official, summary)
        )
        # Host checks make this unreachable for valid input; an update whose
        # rows the kernel dropped (invalid) or kept out (not finite in the
        # state's dtype) is refused whole, uncounted, the state unchanged.
        if info["num_invalid"] or info["num_nonfinite"]:
            raise ValueError(NONFINITE_UPDATE)
        self.state = new_state
        self.num_updates += 1
        if self._pending:
            self._pending.popleft()
        result = {name: value.item() for name, value in info.items()}
        result["rho_selected_mopps"] = rho_official.item()
        result["selections_ahead"] = len(self._pending)
        for name, value in summary.items():
            result[name] = value.tolist() if value.ndim else value.item()
        return result

    def posterior_mean(self) -> np.ndarray:
        """Posterior mean success rate of every prompt (O(N))."""
        return np.asarray(self.state.alpha / (self.state.alpha + self.state.beta))

    # -- validation ------------------------------------------------------------------

    @property
    def _float_dtype(self) -> np.dtype:
        """The float dtype of the posterior (float32 unless x64 is on)."""
        return np.dtype(jnp.result_type(float))

    def _check_feedback(self, ids, successes, trials, rewards):
        ids = np.asarray(ids)
        if rewards is not None:
            if successes is not None or trials is not None:
                raise ValueError("give either (successes, trials) or rewards, not both")
            rewards = host_real_array("rewards", rewards, self._float_dtype)
            self._check_rows(ids, rewards=rewards)
            successes = np.asarray(
                response_evidence(
                    jnp.asarray(rewards),
                    self.config.evidence,
                    self.config.success_threshold,
                ),
                dtype=np.float64,
            )
            return ids, successes, np.ones_like(successes)
        if successes is None or trials is None:
            raise ValueError("update needs successes and trials (or rewards=...)")
        successes = host_real_array("successes", successes, self._float_dtype)
        trials = host_real_array("trials", trials, self._float_dtype)
        self._check_rows(ids, successes=successes, trials=trials)
        if successes.min() < 0:
            raise ValueError(f"successes must be >= 0, got min {successes.min()}")
        if trials.min() <= 0:
            raise ValueError(f"trials must be > 0, got min {trials.min()}")
        if np.any(successes > trials):
            row = int(np.argmax(successes > trials))
            raise ValueError(
                f"successes must be <= trials, got {successes[row]} > {trials[row]} "
                f"for prompt {ids[row]}"
            )
        return ids, successes, trials

    def _check_rows(self, ids, **columns):
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError(
                f"ids must be a non-empty 1-D array, got shape {ids.shape}"
            )
        for name, column in columns.items():
            if column.shape != ids.shape:
                raise ValueError(
                    f"{name} must have the shape of ids {ids.shape}, got {column.shape}"
                )
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
        if ids.min() < 0 or ids.max() >= self.num_prompts:
            raise ValueError(
                f"ids must be in [0, {self.num_prompts}), got values in "
                f"[{ids.min()}, {ids.max()}]"
            )

    # -- persistence -------------------------------------------------------------------

    def _config_json(self) -> str:
        return json.dumps(
            dict(
                format=FORMAT_NAME, schema_version=SCHEMA_VERSION, **self.config.options
            ),
            sort_keys=True,
        )

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs, as plain NumPy arrays (copies)."""
        arrays = {name: getattr(self.state, name) for name in _STATE_FIELDS}
        arrays.update(
            {name: getattr(self.state.stream, name) for name in _STREAM_FIELDS}
        )
        out = {name: np.array(value, copy=True) for name, value in arrays.items()}
        out["key_data"] = np.array(jax.random.key_data(self._base_key), copy=True)
        out["key_impl"] = np.array(str(jax.random.key_impl(self._base_key)))
        out["num_selections"] = np.array(self.num_selections, np.int64)
        out["num_updates"] = np.array(self.num_updates, np.int64)
        out["config"] = np.array(self._config_json())
        out.update(self._pending_arrays())
        return out

    def _pending_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each field kept per pending selection: its ids and
        draws, then the summary computed at selection time."""
        vector, quantiles = (self.batch_size,), (3,)
        return dict(
            ids=vector,
            draws=vector,
            fraction_selected_in_band=(),
            candidate_mean_quantiles=quantiles,
            selected_mean_quantiles=quantiles,
            num_unseen_candidates=(),
        )

    def _pending_arrays(self) -> dict[str, np.ndarray]:
        """The pending selections as ``pending_<field>`` arrays ``[k, ...]``."""
        entries = jax.device_get(list(self._pending))
        out = {}
        for name, shape in self._pending_shapes().items():
            values = [np.asarray(entry[name]) for entry in entries]
            out[f"pending_{name}"] = (
                np.stack(values) if values else np.zeros((0, *shape), np.float64)
            )
        return out

    def _restore_pending(self, state_dict: dict) -> deque:
        """Pending selections from ``state_dict`` (none in states written
        before they were saved); refuses partial or misshapen entries."""
        shapes = self._pending_shapes()
        keys = [f"pending_{name}" for name in shapes]
        missing = [key for key in keys if key not in state_dict]
        if len(missing) == len(keys):
            return deque()
        if missing:
            raise ValueError(f"state_dict lacks {missing}")
        arrays = {name: np.asarray(state_dict[f"pending_{name}"]) for name in shapes}
        count = arrays["ids"].shape[0] if arrays["ids"].ndim else -1
        for name, shape in shapes.items():
            if arrays[name].shape != (count, *shape):
                raise ValueError(
                    f"state_dict['pending_{name}'] has shape {arrays[name].shape}, "
                    f"expected ({count}, *{shape})"
                )
        ids = arrays["ids"]
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_prompts):
            raise ValueError(
                f"state_dict['pending_ids'] not in [0, {self.num_prompts})"
            )
        arrays["ids"] = ids.astype(np.int32)
        arrays["draws"] = arrays["draws"].astype(jnp.result_type(float))
        return deque(
            {name: arrays[name][row] for name in shapes} for row in range(count)
        )

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a :meth:`state_dict`; refuses (``ValueError``) a missing
        entry, a different configuration, a wrong shape or a bad value
        (posterior parameters not finite and > 0 in the state's dtype, a
        cursor outside ``[0, N - B_hat]``, negative or non-integer counters, an
        invalid key or pending selection). Everything is checked before
        anything changes, so a refused dict leaves the selector as it was."""
        required = (
            *_STATE_FIELDS,
            *_STREAM_FIELDS,
            "key_data",
            "key_impl",
            "num_selections",
            "num_updates",
            "config",
        )
        missing = [name for name in required if name not in state_dict]
        if missing:
            raise ValueError(f"state_dict lacks {missing}")
        self._check_saved_config(state_dict["config"])
        restored = self._restored_arrays(state_dict)
        pending = self._restore_pending(state_dict)
        try:
            key = jax.random.wrap_key_data(
                jnp.asarray(np.asarray(state_dict["key_data"])),
                impl=str(np.asarray(state_dict["key_impl"])),
            )
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"state_dict holds an invalid key: {error}") from None
        counters = {
            name: _counter(name, state_dict[name])
            for name in ("num_selections", "num_updates")
        }
        # Everything is checked: only now does anything change.
        stream = self.state.stream._replace(
            **{name: restored.pop(name) for name in _STREAM_FIELDS}
        )
        self.state = self.state._replace(stream=stream, **restored)
        self._base_key = key
        self.num_selections = counters["num_selections"]
        self.num_updates = counters["num_updates"]
        self._pending = pending

    def _check_saved_config(self, config) -> None:
        try:
            saved = json.loads(str(np.asarray(config)))
        except (TypeError, ValueError) as error:
            raise ValueError(f"state_dict['config'] is not JSON: {error}") from None
        expected = json.loads(self._config_json())
        if saved != expected:
            keys = expected.keys() | (
                saved.keys() if isinstance(saved, dict) else set()
            )
            get = saved.get if isinstance(saved, dict) else (lambda _: None)
            differ = sorted(k for k in keys if get(k) != expected.get(k))
            raise ValueError(
                f"state_dict was saved by a selector with a different configuration "
                f"(differs in {differ})"
            )

    def _restored_arrays(self, state_dict: dict) -> dict:
        """The state and stream arrays of ``state_dict``, checked in value as
        well as shape: posterior parameters finite and > 0 in the state's
        dtype, counters integers in range, and a cursor that leaves room for
        a chunk of candidates (``cursor + B_hat <= N``; any other would make
        the permutation's cycle walk never end)."""
        template = {name: getattr(self.state, name) for name in _STATE_FIELDS}
        template.update(
            {name: getattr(self.state.stream, name) for name in _STREAM_FIELDS}
        )
        last_cursor = self.num_prompts - self.config.num_candidates
        lowest = dict(last_visit=-1, step=0, cursor=0, epoch=0, round_keys=0)
        highest = dict(cursor=last_cursor, round_keys=2**32 - 1)
        restored = {}
        for name, current in template.items():
            try:
                value = np.asarray(state_dict[name])
            except (TypeError, ValueError, OverflowError) as error:
                raise ValueError(f"state_dict[{name!r}]: {error}") from None
            if value.shape != current.shape:
                raise ValueError(
                    f"state_dict[{name!r}] has shape {value.shape}, expected "
                    f"{current.shape}"
                )
            if np.issubdtype(current.dtype, np.floating):
                value = host_real_array(f"state_dict[{name!r}]", value, current.dtype)
                if value.size and value.min() <= 0:
                    raise ValueError(f"state_dict[{name!r}] must be > 0")
            else:
                low = lowest[name]
                high = highest.get(name, np.iinfo(current.dtype).max)
                if value.dtype.kind not in "iu" or (
                    value.size and (value.min() < low or value.max() > high)
                ):
                    raise ValueError(
                        f"state_dict[{name!r}] must be integers in [{low}, {high}]"
                    )
            restored[name] = jnp.array(value, dtype=current.dtype)
        return restored
