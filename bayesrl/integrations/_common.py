"""Logic shared by the verl, TRL and OpenRLHF adapters.

Every adapter does the same four things around one
:class:`bayesrl.prompts.PromptSelector` whose arms are dataset positions
``0 .. N-1``:

1. maps the trainer's **stable prompt ids** (verl's ``extra_info.index``, a TRL
   id column, a hash of OpenRLHF's prompt text) to positions, vectorised:
   ``ids`` sorted once, then ``np.searchsorted`` per update;
2. passes one reward per generated response, in any row order, to
   ``selector.update(positions, rewards=...)``, which turns each into a
   success (``evidence`` / ``success_threshold`` options: ``s = 1[r >= t]`` or
   ``clip(r, 0, 1)``), sums them per prompt (``S_i``, ``n_i`` = its responses)
   and applies MoPPS's per-visit discounted Beta update
   ``a_i <- lambda a_i + (1 - lambda) a0 + S_i``,
   ``b_i <- lambda b_i + (1 - lambda) b0 + n_i - S_i`` (Qu et al. 2025,
   arXiv:2507.04632, eq. 4); every generated group counts, including all-0 and
   all-1 groups; a non-finite reward is refused, except that a trainer may
   pass NaN for "no reward function scored this response" (left out, counted);
3. measures the select/update lag and keeps the selector's step metrics
   (``solve_none``, ``solve_all``, zero-variance fraction, posterior-mean
   quantiles, ``rho_selected``, ``rho_selected_mopps``, ...), each update
   attributed to the oldest selection still awaiting feedback (the trained
   batch when the trainer prefetches the next one);
4. checkpoints the selector with a checksum of the id map and refuses to
   resume on a different dataset (the selector itself refuses a different
   configuration).

Nothing here imports torch or a trainer; the adapters do, lazily.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

logger = logging.getLogger("bayesrl.integrations")


def text_ids(texts: Iterable[str]) -> np.ndarray:
    """Stable 63-bit integer ids of prompt texts (first 8 bytes of BLAKE2b).

    Used where a trainer carries no dataset index (OpenRLHF): two distinct
    texts collide with probability about ``N^2 / 2^64``; identical texts give
    identical ids and are refused as duplicates by :class:`PromptIdMap`.
    """
    out = [
        int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
        >> 1
        for t in texts
    ]
    return np.asarray(out, dtype=np.int64)


class PromptIdMap:
    """Bijection between dataset positions ``0 .. N-1`` and stable integer ids.

    Args:
        ids: the id of the prompt at each dataset position, shape ``[N]``.
        source: what the ids are, for error messages (e.g. "extra_info.index").

    Raises:
        ValueError: if an id is missing (``None``/NaN), not an integer, or
            duplicated; the message lists the first offending positions.
    """

    def __init__(self, ids: Iterable[Any], source: str = "prompt id"):
        as_int = _integer_ids(ids, source)
        order = np.argsort(as_int, kind="stable")
        sorted_ids = as_int[order]
        duplicate = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
        if duplicate.size:
            first = sorted_ids[duplicate[0]]
            where = np.flatnonzero(as_int == first)[:10].tolist()
            raise ValueError(
                f"{source} is duplicated: {duplicate.size} repeated values, e.g. "
                f"{first} at positions {where}. Ids must be globally unique "
                "(several training files that each start at 0 need re-indexing)"
            )
        self.source = source
        self.ids = as_int
        self._sorted_ids = sorted_ids
        self._sorted_positions = order.astype(np.int64)
        self.checksum = hashlib.sha256(as_int.tobytes()).hexdigest()

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def positions(self, ids: Iterable[Any]) -> np.ndarray:
        """Dataset positions of ``ids`` (vectorised); unknown ids raise."""
        query = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
        if query.size == 0:
            return np.zeros(0, dtype=np.int64)
        if not np.issubdtype(query.dtype, np.integer):
            as_int = query.astype(np.int64)
            if not np.all(as_int == query):
                raise ValueError(f"{self.source} values must be integers")
            query = as_int
        query = query.astype(np.int64).reshape(-1)
        slot = np.searchsorted(self._sorted_ids, query)
        slot = np.minimum(slot, len(self) - 1)
        unknown = self._sorted_ids[slot] != query
        if np.any(unknown):
            raise ValueError(
                f"unknown {self.source} values {np.unique(query[unknown])[:10]} "
                "(not in the dataset the sampler was built on)"
            )
        return self._sorted_positions[slot]


def _integer_ids(ids: Iterable[Any], source: str) -> np.ndarray:
    """``ids`` as int64, refusing empty, missing (None/NaN) or fractional ids."""
    if isinstance(ids, np.ndarray) and np.issubdtype(ids.dtype, np.integer):
        raw = ids.reshape(-1)
    else:
        raw = list(ids)
    if len(raw) == 0:
        raise ValueError(f"no prompts: the dataset has no {source} values")
    if isinstance(raw, np.ndarray) or all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in raw
    ):
        return np.asarray(raw, dtype=np.int64)
    missing = [i for i, v in enumerate(raw) if v is None or _is_nan(v)]
    if missing:
        raise ValueError(
            f"{source} is missing at dataset positions {missing[:10]} "
            f"({len(missing)} in all); every prompt needs a stable id"
        )
    try:
        as_int = np.asarray(raw, dtype=np.int64)
        exact = np.asarray(raw, dtype=object) == as_int.astype(object)
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{source} values must be integers: {error}") from None
    if not np.all(exact):
        bad = np.flatnonzero(~exact)[:10].tolist()
        raise ValueError(f"{source} values must be integers; see positions {bad}")
    return as_int


def _is_nan(value: Any) -> bool:
    try:
        return bool(np.isnan(value))
    except TypeError:
        return False


def flat_metrics(info: dict[str, Any]) -> dict[str, float]:
    """Scalar view of an update's metrics for a trainer's logger: numbers as
    floats, each ``*_quantiles`` triple (10/50/90 %) as ``*_q10/_q50/_q90``."""
    flat = {}
    for name, value in info.items():
        if isinstance(value, list | tuple) and name.endswith("_quantiles"):
            stem = name.removesuffix("_quantiles")
            for level, item in zip(("q10", "q50", "q90"), value, strict=True):
                flat[f"{stem}_{level}"] = float(item)
        elif isinstance(value, int | float | np.number):
            flat[name] = float(value)
    return flat


class SelectorAdapter:
    """A :class:`bayesrl.prompts.PromptSelector` keyed by stable prompt ids.

    Args:
        id_map: positions <-> stable ids of the training dataset; the
            selector's arms are the positions.
        batch_size: prompts selected per step, ``B``.
        seed: selector seed; equal on every process so every rank selects the
            same prompts without communicating.
        **mopps_options: keyword options of ``PromptSelector`` /
            ``bayesrl.prompts.mopps`` (``candidate_multiplier``, ``target``,
            ``discount``, ``evidence``, ``success_threshold``, ...).
    """

    def __init__(
        self, id_map: PromptIdMap, batch_size: int, seed: int = 0, **mopps_options
    ):
        from bayesrl.prompts import PromptSelector

        self.id_map = id_map
        self.selector = PromptSelector(
            len(id_map), int(batch_size), seed=seed, **mopps_options
        )
        self.max_lag = 0
        self.metrics: dict[str, Any] = {}

    @property
    def batch_size(self) -> int:
        return self.selector.batch_size

    @property
    def steps_per_epoch(self) -> int:
        """Selections per candidate epoch, ``floor(N / B_hat)``."""
        return len(self.id_map) // self.selector.config.num_candidates

    @property
    def lag(self) -> int:
        """Selections made whose feedback has not arrived yet, minus one.

        0 when every update arrives before the next selection (verl with
        ``num_workers = 0``); 1 when the next batch is drawn before the
        rewards of the previous one (TRL's prefetching dataloader). Updates
        are attributed to the oldest selection awaiting feedback, so the
        metrics describe the trained batch whatever the lag.
        """
        return self.selector.num_pending - 1

    def select(self) -> np.ndarray:
        """Dataset positions of the next ``B`` prompts (distinct)."""
        positions = self.selector.select()
        self.max_lag = max(self.max_lag, self.lag)
        self.metrics.update({"lag": self.lag, "max_lag": self.max_lag})
        return positions

    def update_from_ids(
        self, ids: Iterable[Any], rewards: Iterable[float], allow_unscored=False
    ) -> dict:
        """Feed back one reward per generated response, keyed by stable id."""
        positions = self.id_map.positions(ids)
        return self.update_from_positions(positions, rewards, allow_unscored)

    def update_from_positions(
        self, positions, rewards, allow_unscored: bool = False
    ) -> dict[str, Any]:
        """Feed back one reward per generated response, keyed by position.

        Rows may come in any order and repeat a prompt (one per response);
        the selector sums them per prompt (one visit each) and attributes the
        update to the oldest selection awaiting feedback. A non-finite reward
        is an error (``ValueError``, nothing updated) unless
        ``allow_unscored``: then NaN rows (TRL's "no reward function scored
        this completion") are left out and counted in ``num_unscored``;
        ``+-inf`` is always an error. When no row is scored the posterior is
        unchanged and the oldest pending selection is closed without evidence.
        """
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
        if positions.shape != rewards.shape:
            raise ValueError(
                f"{positions.shape[0]} prompt ids for {rewards.shape[0]} rewards"
            )
        unscored = (
            np.isnan(rewards) if allow_unscored else np.zeros(rewards.shape, bool)
        )
        refused = ~np.isfinite(rewards) & ~unscored
        if refused.any():
            raise ValueError(
                f"{int(refused.sum())} of {rewards.size} rewards are not finite "
                f"(e.g. {rewards[refused][:3]}); the prompt selector was not updated"
            )
        self._check_within_oldest_selection(positions)
        scored = ~unscored
        info: dict[str, Any] = {}
        if scored.any():
            info = self.selector.update(positions[scored], rewards=rewards[scored])
        else:
            self.selector.drop_oldest_pending()
        info["num_unscored"] = int(unscored.sum())
        info["max_lag"] = self.max_lag
        self.metrics.update(info)
        logger.info(
            "mopps update %d: %s", self.selector.num_updates, flat_metrics(info)
        )
        return info

    def _check_within_oldest_selection(self, positions: np.ndarray) -> None:
        """Refuse feedback for prompts that the selection it answers (the
        oldest one awaiting feedback) did not choose."""
        pending = self.selector.pending_selections()
        if not pending:
            return
        outside = np.setdiff1d(positions, pending[0])
        if outside.size:
            raise ValueError(
                f"feedback for {outside.size} prompts the selection it answers did "
                f"not choose (dataset positions {outside[:10].tolist()}); an update "
                "must hold the prompts of the oldest selection awaiting feedback. "
                "The prompt selector was not updated"
            )

    def drop_pending(self) -> None:
        """Close every selection awaiting feedback without evidence (their
        rewards were lost, e.g. a checkpoint written before the update)."""
        while self.selector.num_pending:
            self.selector.drop_oldest_pending()

    def state_dict(self) -> dict[str, Any]:
        """Selector state, the largest lag seen and the id-map checksum."""
        return {
            "selector": self.selector.state_dict(),
            "max_lag": self.max_lag,
            "id_map_checksum": self.id_map.checksum,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore; refuses a state saved on another dataset or configuration."""
        if state.get("id_map_checksum") != self.id_map.checksum:
            raise ValueError(
                "the checkpoint was saved on a different dataset (prompt id map "
                "checksum differs); refusing to resume the prompt selector"
            )
        self.selector.load_state_dict(dict(state["selector"]))
        self.max_lag = int(state["max_lag"])


class EpochSelections:
    """One candidate epoch of selected positions, one at a time, lazily.

    Yields ``B`` positions per selection for ``floor(N / B_hat)`` selections.
    Selection ``t + 1`` is made only when its first position is requested, so
    a trainer that consumes a batch, trains on it and calls ``update`` before
    asking for the next one has no lag. ``state_dict`` (selections made in
    this epoch and the rest of a half-consumed one) lets a resumed iterator
    continue the epoch without re-running selections.
    """

    def __init__(self, adapter: SelectorAdapter, progress: dict | None = None):
        self.adapter = adapter
        self.steps_done = 0
        self.pending: list[int] = []
        if progress is not None:
            self.load_state_dict(progress)

    def __iter__(self) -> EpochSelections:
        return self

    def __next__(self) -> int:
        if not self.pending:
            if self.steps_done >= self.adapter.steps_per_epoch:
                raise StopIteration
            self.pending = self.adapter.select().tolist()
            self.steps_done += 1
        return self.pending.pop(0)

    def state_dict(self) -> dict[str, Any]:
        return {"steps_done": self.steps_done, "pending": list(self.pending)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.steps_done = int(state_dict["steps_done"])
        self.pending = [int(p) for p in state_dict["pending"]]


def save_state(path, state: dict[str, Any]) -> None:
    """Write an adapter state to ``path`` as a NumPy ``.npz`` (no pickle)."""
    flat = {f"selector.{k}": v for k, v in state["selector"].items()}
    flat["max_lag"] = np.asarray(state["max_lag"], dtype=np.int64)
    flat["id_map_checksum"] = np.asarray(state["id_map_checksum"])
    with open(path, "wb") as handle:
        np.savez(handle, **flat)


def load_state(path) -> dict[str, Any]:
    """Read a state written by :func:`save_state`."""
    with np.load(path, allow_pickle=False) as data:
        selector = {
            k.removeprefix("selector."): data[k]
            for k in data.files
            if k.startswith("selector.")
        }
        state: dict[str, Any] = {"selector": selector}
        state["max_lag"] = int(data["max_lag"])
        state["id_map_checksum"] = str(data["id_map_checksum"])
    return state


def mopps_options_from_mapping(mapping: Any) -> dict[str, Any]:
    """Plain ``dict`` of options from a dict or an OmegaConf node (or None)."""
    if mapping is None:
        return {}
    if hasattr(mapping, "items"):
        try:
            from omegaconf import OmegaConf

            if OmegaConf.is_config(mapping):
                return dict(OmegaConf.to_container(mapping, resolve=True))
        except ImportError:
            pass
        return dict(mapping.items())
    raise ValueError(f"MoPPS options must be a mapping, got {type(mapping).__name__}")
