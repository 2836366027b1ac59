"""The epoch-permutation candidate stream of MoPPS (Qu et al. 2025).

The official MoPPS code draws its candidates from the trainer's ordinary
shuffled dataloader: each epoch is a fresh uniform permutation of the ``N``
prompt ids, read in consecutive chunks of ``num_candidates`` (``B_hat``), and a
partial last chunk is dropped (``drop_last=True``).

Here the epoch's permutation is never stored: it is a keyed pseudo-random
permutation ``pi_e`` of ``[0, N)`` evaluated at the chunk's positions, so
reading a chunk costs O(B_hat), a new epoch costs O(1) (fresh round keys), and
the state holds no per-prompt array. ``pi_e`` is a balanced Feistel network
(Luby & Rackoff, SIAM J. Comput. 17(2), 1988) on ``2h``-bit integers,
``2^(2h) >= N``, with ``FEISTEL_ROUNDS`` rounds
``(L, R) <- (R, L xor F(R xor k_r))`` whose round function ``F`` is a
full-avalanche 32-bit integer hash, restricted to ``[0, N)`` by cycle walking
(Black & Rogaway, CT-RSA 2002: re-encrypt while the value is ``>= N``, which
keeps a bijection; fewer than 4 expected steps since ``2^(2h) < 4N``).
Distinct positions therefore give distinct ids, and one epoch visits every id
exactly once.

Reading (:func:`peek`) needs no key and never changes the stream, so a
read-only ``act`` can use it; :func:`advance` moves past the chunk and, when the
*next* chunk would run past the end, drops the remainder and draws the next
epoch's round keys at once, so the stream always holds a full unread chunk.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl import random as fast_random
from bayesrl.types import Array, PRNGKey

# Four rounds make a Feistel network with pseudo-random round functions a strong
# pseudo-random permutation (Luby-Rackoff); six leave a margin for a fixed hash.
FEISTEL_ROUNDS = 6


class CandidateStream(NamedTuple):
    """Position in the current epoch's permutation.

    Attributes:
        round_keys: uint32 ``[FEISTEL_ROUNDS]`` keys of this epoch's permutation.
        cursor: int32 index of the next unread position; ``cursor + B_hat <= N``.
        epoch: int32 number of reshuffles so far.
    """

    round_keys: Array
    cursor: Array
    epoch: Array


def _half_bits(num_prompts: int) -> int:
    """``h`` with ``2^(2h) >= num_prompts`` (at least 1)."""
    return max(1, (int(np.ceil(np.log2(max(num_prompts, 2)))) + 1) // 2)


def _mix(value: Array) -> Array:
    """A full-avalanche 32-bit hash (the "lowbias32" xor-shift-multiply
    constants of C. Wellons' hash-prospector)."""
    value = value ^ (value >> 16)
    value = value * jnp.uint32(0x7FEB352D)
    value = value ^ (value >> 15)
    value = value * jnp.uint32(0x846CA68B)
    return value ^ (value >> 16)


def _feistel(value: Array, round_keys: Array, half_bits: int) -> Array:
    mask = jnp.uint32((1 << half_bits) - 1)
    left, right = value >> half_bits, value & mask
    for r in range(FEISTEL_ROUNDS):
        left, right = right, left ^ (_mix(right ^ round_keys[r]) & mask)
    return (left << half_bits) | right


def permute(round_keys: Array, positions: Array, num_prompts: int) -> Array:
    """``pi(positions)``: the ids at these positions of the permutation of
    ``[0, num_prompts)`` keyed by ``round_keys`` (int32, same shape)."""
    half_bits = _half_bits(num_prompts)
    limit = jnp.uint32(num_prompts)
    value = _feistel(positions.astype(jnp.uint32), round_keys, half_bits)

    # A position below num_prompts walks back below it within the domain's
    # size 2^(2h) steps (it lies on a cycle of the permutation that holds it);
    # the bound only stops positions outside [0, num_prompts), whose cycle may
    # hold no id at all, from walking forever (they are refused upstream).
    max_steps = min(1 << (2 * half_bits), 2**31 - 1)

    def outside(carry):
        steps, value = carry
        return (steps < max_steps) & jnp.any(value >= limit)

    def walk(carry):
        steps, value = carry
        again = _feistel(value, round_keys, half_bits)
        return steps + 1, jnp.where(value >= limit, again, value)

    _, value = jax.lax.while_loop(outside, walk, (jnp.int32(0), value))
    return value.astype(jnp.int32)


def init(key: PRNGKey, num_prompts: int) -> CandidateStream:
    """A stream at the start of its first epoch."""
    del num_prompts  # the permutation is defined for any size
    return CandidateStream(
        round_keys=fast_random.bits(key, (FEISTEL_ROUNDS,)),
        cursor=jnp.zeros((), jnp.int32),
        epoch=jnp.zeros((), jnp.int32),
    )


def peek(stream: CandidateStream, num_candidates: int, num_prompts: int) -> Array:
    """The next ``num_candidates`` distinct ids, without moving the stream."""
    positions = stream.cursor + jnp.arange(num_candidates, dtype=jnp.int32)
    return permute(stream.round_keys, positions, num_prompts)


def advance(
    key: PRNGKey, stream: CandidateStream, num_candidates: int, num_prompts: int
) -> CandidateStream:
    """Move past the current chunk; start a new epoch (round keys from ``key``)
    when the next chunk would not fit in what is left (drop-last)."""
    cursor = stream.cursor + num_candidates
    new_epoch = cursor + num_candidates > num_prompts
    return CandidateStream(
        round_keys=jnp.where(
            new_epoch, fast_random.bits(key, (FEISTEL_ROUNDS,)), stream.round_keys
        ),
        cursor=jnp.where(new_epoch, 0, cursor).astype(jnp.int32),
        epoch=stream.epoch + new_epoch.astype(jnp.int32),
    )
