"""Fast jittable random samplers: bits, split, uniform, normal, randint, bernoulli,
categorical, gamma, beta, dirichlet.

Drop-in replacements for their ``jax.random`` namesakes, written for the
inner loop of Thompson sampling, which draws a Beta or Gamma variate for every
arm of every run at every step:

* :func:`bits`, :func:`split`, :func:`uniform`, :func:`normal`,
  :func:`randint`, :func:`bernoulli` and :func:`categorical` compute the same
  Threefry-2x32 hash with 20 rounds (Salmon et al., "Parallel random numbers:
  as easy as 1, 2, 3", SC 2011) as unrolled integer operations, which XLA
  fuses into their consumer, instead of the rolled loop JAX emits on CPU.
  They are **bit-identical** to ``jax.random`` for threefry keys (tested), so
  the generator's quality is unchanged.
* :func:`log_gamma` (and :func:`gamma`, :func:`beta`, :func:`dirichlet`)
  draws a fixed number of Marsaglia-Tsang candidates for every lane at once,
  keeps the first accepted one with a branch-free select, then runs an exact
  fallback loop only for the lanes whose candidates were all rejected (at most
  5% with one candidate, 0.25% with two), instead of one rejection loop per
  variate that ``vmap`` turns into a loop over the slowest lane. The law is
  exactly Gamma: the fallback draws independent candidates until acceptance.
* The Gamma kernel runs on flat lanes and its batching rule
  (``jax.custom_batching.custom_vmap``) folds every vmapped axis into them,
  because XLA:CPU vectorises fused loops along the minor axis only and a
  ``[seeds, K]`` array with small ``K`` would not vectorise. Draws are
  unchanged (each lane's counters depend only on its key and position), so
  ``vmap`` still equals a loop.

The measured speed-ups are on the bandits reproduction page of the docs.

Gamma(a) for ``a >= 1`` (Marsaglia & Tsang, "A simple method for generating
gamma variables", ACM TOMS 26(3), 2000): with ``d = a - 1/3``,
``c = 1/sqrt(9d)``, ``x ~ N(0, 1)``, ``u ~ U(0, 1]`` and ``v = (1 + cx)^3``,
accept ``d v`` when ``v > 0`` and ``log u < x^2/2 + d - d v + d log v``;
acceptance is at least 95% (at ``a = 1``) and tends to 1 as ``a`` grows. The
right-hand side is evaluated as ``x^2/2 + d(3(log1p(y) - y) - 3y^2 - y^3)``
with ``y = c x``, which avoids the cancellation of ``d - d v`` that breaks the
float32 test at large shapes (``a = 1e7``). For ``a < 1``, Gamma(a) =
Gamma(a + 1) U^(1/a) (Marsaglia & Tsang, section 6), computed in log space so
that tiny shapes (``a = 1e-3``) never underflow to ``0/0``. :func:`beta` and
:func:`dirichlet` normalise log-Gamma variates with a sigmoid / softmax, so
they never return NaN for positive finite parameters.

Keys other than threefry (``rbg``, ``unsafe_rbg``) and the non-partitionable
threefry mode fall back to ``jax.random`` (its bits, and ``jax.random.loggamma``
for the Gamma family): correct, but slow.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bayesrl._checks import is_concrete
from bayesrl.types import Array, PRNGKey

__all__ = [
    "bernoulli",
    "beta",
    "bits",
    "categorical",
    "dirichlet",
    "gamma",
    "log_gamma",
    "normal",
    "randint",
    "split",
    "split_nth",
    "uniform",
]

# Rotation constants of Threefry-2x32 (Salmon et al. 2011, table 4).
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
# The key-schedule parity constant of Threefish/Threefry.
_KEY_PARITY = 0x1BD11BDA
# Counter word reserved for the boosting uniform of shapes below one; candidate
# c uses counter words c (and 2c, 2c + 1 for 64-bit), far below this.
_BOOST_COUNTER = 0x7FFFFFFF
# Upper bound on fallback rounds after the first candidates. A round redraws
# one rejected lane per block of _FALLBACK_BLOCK lanes, each accepted with
# probability >= 0.95; leaving a lane unresolved after 64 rounds needs at least
# 48 rejections among 64 draws of one block (probability below 1e-45).
_MAX_FALLBACK_ROUNDS = 64


def _rotate_left(x: Array, r: int) -> Array:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _threefry2x32(k0: Array, k1: Array, x0: Array, x1: Array) -> tuple[Array, Array]:
    """Threefry-2x32 with 20 rounds on counters ``(x0, x1)``, unrolled."""
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(_KEY_PARITY))
    x0 = x0 + k0
    x1 = x1 + k1
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = _rotate_left(x1, r)
            x1 = x1 ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def _fast_path(key: PRNGKey) -> bool:
    """Whether the unrolled Threefry reproduces ``jax.random`` for this key."""
    return (
        jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        and str(jax.random.key_impl(key)) == "threefry2x32"
        and bool(jax.config.jax_threefry_partitionable)
    )


def _check_key(key: PRNGKey) -> None:
    if not jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key):
        raise ValueError(
            "key must be a typed PRNG key made with jax.random.key(seed), got "
            f"{getattr(key, 'dtype', type(key))}"
        )
    if key.shape != ():
        raise ValueError(f"key must be a single key (shape ()), got {key.shape}")


def _counter_words(key: PRNGKey, high: int | Array, shape: Sequence[int]):
    """The two Threefry output words for counters ``(high, flat index)``."""
    data = jax.random.key_data(key)
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"at most 2**32 - 1 variates per call, asked for {size}")
    low = jax.lax.iota(np.uint32, size).reshape(shape)
    high = jnp.broadcast_to(jnp.asarray(high, dtype=np.uint32), shape)
    return _threefry2x32(data[0], data[1], high, low)


def bits(key: PRNGKey, shape: Sequence[int] = (), dtype=np.uint32) -> Array:
    """Uniform random bits, bit-identical to ``jax.random.bits(key, shape, dtype)``.

    Args:
        key: a typed key (``jax.random.key``).
        shape: the output shape.
        dtype: ``uint32`` or ``uint64`` (the latter needs ``jax_enable_x64``).
    """
    _check_key(key)
    shape = tuple(shape)
    dtype = np.dtype(dtype)
    if not _fast_path(key) or dtype not in (np.uint32, np.uint64):
        return jax.random.bits(key, shape, dtype)
    x0, x1 = _counter_words(key, 0, shape)
    if dtype == np.uint32:
        return x0 ^ x1
    return (x0.astype(dtype) << dtype.type(32)) | x1.astype(dtype)


def split(key: PRNGKey, num: int = 2) -> PRNGKey:
    """``num`` new keys, identical to ``jax.random.split(key, num)``."""
    _check_key(key)
    if not _fast_path(key):
        return jax.random.split(key, num)
    x0, x1 = _counter_words(key, 0, (num,))
    key_data = jnp.stack([x0, x1], axis=-1)
    return jax.random.wrap_key_data(key_data, impl="threefry2x32")


def split_nth(key: PRNGKey, num: int, index: int | Array) -> PRNGKey:
    """``split(key, num)[index]``, computed alone.

    One Threefry hash instead of ``num``: when a loop body splits its key into
    several and an agent or environment never draws from some of them, the
    unused ones cost nothing (XLA does not remove unused rows of one fused
    ``split``), and a scan over time can derive step ``t``'s key inside the
    loop instead of storing all of them. ``index`` may be traced; a concrete
    one is checked against ``num``.
    """
    _check_key(key)
    if is_concrete(index) and not 0 <= int(index) < num:
        raise ValueError(f"index must be in [0, {num}), got {index}")
    if not _fast_path(key):
        return jax.random.split(key, num)[index]
    data = jax.random.key_data(key)
    if is_concrete(index):
        counter = np.uint32(index)
    else:
        counter = jnp.asarray(index).astype(np.uint32)
    x0, x1 = _threefry2x32(data[0], data[1], np.uint32(0), counter)
    return jax.random.wrap_key_data(jnp.stack([x0, x1]), impl="threefry2x32")


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(jax.dtypes.canonicalize_dtype(dtype or float))
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _unit_interval(word: Array, dtype: np.dtype) -> Array:
    """Map uniform bits to [0, 1) exactly as ``jax.random.uniform`` does."""
    nbits = np.finfo(dtype).nmant
    one_bits = np.array(1.0, dtype).view(
        np.uint32 if dtype == np.float32 else np.uint64
    )
    word_bits = 32 if dtype == np.float32 else 64
    mantissa = word >> np.array(word_bits - nbits, word.dtype)
    mantissa = mantissa % np.array((1 << nbits) + 1, word.dtype)
    value = jax.lax.bitcast_convert_type(mantissa | one_bits, dtype)
    return value - np.array(1.0, dtype)


def uniform(
    key: PRNGKey,
    shape: Sequence[int] = (),
    dtype=None,
    minval: float | Array = 0.0,
    maxval: float | Array = 1.0,
) -> Array:
    """Uniform variates on ``[minval, maxval)``, identical to ``jax.random.uniform``."""
    _check_key(key)
    dtype = _float_dtype(dtype)
    shape = tuple(shape)
    if not _fast_path(key):
        return jax.random.uniform(key, shape, dtype, minval, maxval)
    word = bits(key, shape, np.uint32 if dtype == np.float32 else np.uint64)
    return _scale_unit(_unit_interval(word, dtype), minval, maxval, dtype)


def _scale_unit(unit: Array, minval, maxval, dtype) -> Array:
    minval = jnp.asarray(minval, dtype)
    maxval = jnp.asarray(maxval, dtype)
    return jnp.maximum(minval, unit * (maxval - minval) + minval)


def _normal_from_unit(unit: Array, dtype) -> Array:
    """N(0, 1) from U[0, 1) as ``jax.random.normal`` does: sqrt(2) erfinv(2u-1)."""
    low = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    symmetric = _scale_unit(unit, low, 1.0, dtype)
    return np.array(np.sqrt(2), dtype) * jax.lax.erf_inv(symmetric)


def normal(key: PRNGKey, shape: Sequence[int] = (), dtype=None) -> Array:
    """Standard normal variates, identical to ``jax.random.normal``."""
    _check_key(key)
    dtype = _float_dtype(dtype)
    shape = tuple(shape)
    if not _fast_path(key):
        return jax.random.normal(key, shape, dtype)
    word = bits(key, shape, np.uint32 if dtype == np.float32 else np.uint64)
    return _normal_from_unit(_unit_interval(word, dtype), dtype)


def randint(
    key: PRNGKey,
    shape: Sequence[int],
    minval: int | Array,
    maxval: int | Array,
    dtype=np.int32,
) -> Array:
    """Integers in ``[minval, maxval)``, identical to ``jax.random.randint``.

    The same algorithm as JAX's: two 32-bit words ``hi`` (from the first key of
    ``split(key)``) and ``lo`` (from the second) per variate, combined modulo
    the span ``n = maxval - minval`` as ``((hi mod n) * (2^32 mod n) + lo mod n)
    mod n`` in wrapping uint32 arithmetic (so its tiny bias for spans that are
    not powers of two is JAX's too); ``maxval <= minval`` returns ``minval``.
    Only int32 output with bounds inside the int32 range takes the fast path;
    anything else is delegated to ``jax.random.randint``.
    """
    _check_key(key)
    shape = tuple(shape)
    minval_array = jnp.asarray(minval)
    maxval_array = jnp.asarray(maxval)
    fast = (
        _fast_path(key)
        and np.dtype(dtype) == np.int32
        and all(
            jnp.issubdtype(bound.dtype, jnp.integer)
            and jnp.iinfo(bound.dtype).bits <= 32
            and not (bound.dtype == jnp.uint32)
            for bound in (minval_array, maxval_array)
        )
    )
    if not fast:
        return jax.random.randint(key, shape, minval, maxval, dtype)
    low_bound = jnp.broadcast_to(minval_array.astype(np.int32), shape)
    high_bound = jnp.broadcast_to(maxval_array.astype(np.int32), shape)
    key_high, key_low = split(key)
    high_bits = bits(key_high, shape)
    low_bits = bits(key_low, shape)
    span = (high_bound - low_bound).astype(np.uint32)
    span = jnp.where(high_bound <= low_bound, np.uint32(1), span)
    multiplier = np.uint32(2**16) % span
    multiplier = (multiplier * multiplier) % span
    offset = ((high_bits % span) * multiplier + low_bits % span) % span
    return low_bound + offset.astype(np.int32)


def bernoulli(key: PRNGKey, p: float | Array = 0.5, shape=None) -> Array:
    """Booleans true with probability ``p``, identical to ``jax.random.bernoulli``.

    ``uniform(key, shape, dtype of p) < p``; ``shape`` None means ``p``'s shape.
    """
    p_array = jnp.asarray(p)
    if not jnp.issubdtype(p_array.dtype, jnp.floating):
        raise TypeError(
            f"bernoulli's p must have a floating dtype, got {p_array.dtype}"
        )
    shape = p_array.shape if shape is None else tuple(shape)
    return uniform(key, shape, p_array.dtype) < p_array


def categorical(key: PRNGKey, logits: Array) -> Array:
    """One category per row of ``logits`` (last axis), identical to
    ``jax.random.categorical(key, logits)``.

    The Gumbel-max trick as JAX does it: ``argmax(logits + g)`` with ``g =
    -log(-log(u))`` and ``u`` uniform on ``[tiny, 1)``. With JAX's
    high-dynamic-range Gumbel flag on, this delegates to ``jax.random``.
    """
    _check_key(key)
    logits = jnp.asarray(logits)
    if not _fast_path(key) or jax.config.jax_high_dynamic_range_gumbel:
        return jax.random.categorical(key, logits)
    dtype = _float_dtype(logits.dtype)
    unit = uniform(key, logits.shape, dtype, minval=np.finfo(dtype).tiny)
    return jnp.argmax(-jnp.log(-jnp.log(unit)) + logits, axis=-1)


def _lane_units(k0, k1, counter, low, dtype) -> tuple[Array, Array]:
    """Two independent U[0, 1) per lane from Threefry counter block ``(counter,
    low)`` under the lane's key words ``(k0, k1)`` (two blocks for float64)."""
    if dtype == np.float32:
        x0, x1 = _threefry2x32(k0, k1, counter, low)
        return _unit_interval(x0, dtype), _unit_interval(x1, dtype)
    a0, a1 = _threefry2x32(k0, k1, 2 * counter, low)
    b0, b1 = _threefry2x32(k0, k1, 2 * counter + 1, low)
    wide = np.uint64
    first = (a0.astype(wide) << wide(32)) | a1.astype(wide)
    second = (b0.astype(wide) << wide(32)) | b1.astype(wide)
    return _unit_interval(first, dtype), _unit_interval(second, dtype)


def _marsaglia_tsang_candidate(k0, k1, counter, low, d, c, dtype):
    """One candidate for every lane: ``log v`` with ``v = (1 + c x)^3`` where the
    candidate is accepted, NaN where it is rejected.

    Rejection is encoded in the value (not a second boolean array) so that the
    candidate has a single consumer: XLA:CPU would otherwise fuse the whole
    hash and transcendental chain into each consumer and evaluate it twice.
    """
    unit_normal, unit_accept = _lane_units(k0, k1, counter, low, dtype)
    x = _normal_from_unit(unit_normal, dtype)
    log_u = jnp.log1p(-unit_accept)  # log of U(0, 1]: never -inf
    y = c * x
    positive = y > -1.0
    log1p_y = jnp.log1p(jnp.where(positive, y, 0.0))
    # d - d v + d log v, rewritten without cancellation (module docstring).
    bound = 0.5 * x * x + d * (3.0 * (log1p_y - y) - 3.0 * y * y - y * y * y)
    return jnp.where(positive & (log_u < bound), 3.0 * log1p_y, jnp.nan)


# Lanes are grouped in blocks of this size for the fallback rounds; each round
# redraws the first rejected lane of every block.
_FALLBACK_BLOCK = 16
# Lane counts up to this draw three first candidates when num_candidates is None.
_FEW_LANES = 1024


def _int_view(a: Array) -> Array:
    """The bits of a float32/float64 array as signed integers of the same width."""
    return jax.lax.bitcast_convert_type(
        a, np.int32 if a.dtype == np.float32 else np.int64
    )


def _is_positive(a: Array) -> Array:
    """``a > 0`` read off the bits, so that subnormal shapes count as positive
    (XLA:CPU flushes subnormal operands to zero in comparisons and arithmetic);
    False for zero, negatives and NaN, True for ``+inf``."""
    inf_bits = np.array(np.inf, a.dtype).view(_int_view(a).dtype)
    bits = _int_view(a)
    return (bits > 0) & (bits <= inf_bits)


def _is_subnormal(a: Array) -> Array:
    """Positive subnormal ``a`` (below the smallest normal float), from the bits."""
    tiny_bits = np.array(np.finfo(a.dtype).tiny, a.dtype).view(_int_view(a).dtype)
    bits = _int_view(a)
    return (bits > 0) & (bits < tiny_bits)


def _log_positive(a: Array) -> Array:
    """``log a`` for positive ``a``, exact for subnormals too: a subnormal is its
    integer mantissa times the smallest subnormal, and that integer converts to
    the float dtype exactly (it is below ``2**nmant``)."""
    dtype = a.dtype
    subnormal = _is_subnormal(a)
    mantissa = jnp.where(subnormal, _int_view(a), 1).astype(dtype)
    log_step = np.log(np.float64(np.finfo(dtype).smallest_subnormal)).astype(dtype)
    return jnp.where(subnormal, jnp.log(mantissa) + log_step, jnp.log(a))


def _boost_terms(boost_unit: Array, a: Array) -> tuple[Array, Array]:
    """``log U^(1/a) = log(U) / a`` with ``U = 1 - boost_unit`` in (0, 1], and the
    log of its magnitude, ``log(-log U) - log a`` (-inf where ``U = 1``).

    ``log(U) / a`` overflows to -inf for ``a`` below about ``16 / max float``
    (5e-38 in float32), the correct limit of the variate (it underflows to 0).
    For subnormal ``a``, which the CPU flushes to zero (``0/0`` where
    ``U = 1``), the term is computed as ``-exp(magnitude)`` instead, from the
    exact log of ``a``. The magnitude stays finite where the term overflows,
    so two such variates can still be compared (:func:`beta`,
    :func:`dirichlet`). For normal ``a`` the term is unchanged, bit for bit.
    """
    log_unit = jnp.log1p(-boost_unit)
    magnitude = jnp.log(-log_unit) - _log_positive(jnp.where(_is_positive(a), a, 1.0))
    boost = jnp.where(_is_subnormal(a), -jnp.exp(magnitude), log_unit / a)
    return boost, magnitude


@functools.cache
def _log_gamma_lanes(
    num_candidates: int | None,
    shapes_at_least_one: bool,
    dtype_name: str,
    with_magnitude: bool = False,
):
    """The log-Gamma kernel over flat lanes ``(k0, k1, low, a)``, all ``[n]``.

    Lane ``i`` hashes counter blocks ``(c, low[i])`` under key words
    ``(k0[i], k1[i])``: candidate ``c`` for ``c < num_candidates``, then
    ``num_candidates + j`` for its own ``j``-th fallback attempt, and
    ``_BOOST_COUNTER`` for the boosting uniform. A lane's draws therefore
    depend only on its key, counter and shape, never on the other lanes, so a
    vmapped call equals a loop of single calls; and a lane keeps the first
    accepted candidate in counter order ``0, 1, 2, ...`` whatever
    ``num_candidates`` is, so that number changes the cost, never the draw.
    ``None`` picks it from the (static) number of lanes: ``_FEW_LANES`` or
    fewer lanes draw three candidates, so the fallback loop almost never runs
    (it costs a few microseconds per round whatever its width, which dominates
    a single small draw); more lanes draw one, which was fastest in a
    vmapped Thompson-sampling run. Each counter block is used at
    most once per lane, so the candidates a lane tries are independent and the
    first accepted one is exactly Gamma-distributed.

    Each fallback round redraws only the first rejected lane of every block of
    ``_FALLBACK_BLOCK`` lanes (a gather, one candidate per block, a scatter),
    so a rare rejection costs a sixteenth of a full-width candidate per round.

    Under ``vmap`` the batching rule folds the batch axis into the lanes: the
    kernel always runs on one flat array. XLA:CPU vectorises flat loops but
    not the short minor axes that vmap would create (``[seeds, 10]`` for ten
    arms).

    With ``with_magnitude`` the kernel returns ``[2, n]``: the log-Gamma draws
    and the log magnitude of their boosting term (:func:`_boost_terms`), which
    orders two draws that both underflow to -inf.
    """
    dtype = np.dtype(dtype_name)

    def kernel(k0, k1, low, a):
        num_lanes = a.shape[0]
        first_candidates = num_candidates
        if first_candidates is None:
            first_candidates = 3 if num_lanes <= _FEW_LANES else 1
        # False for a <= 0 and NaN: sampled with a dummy, masked below.
        valid = _is_positive(a)
        boosted = jnp.logical_not(shapes_at_least_one) & (a < 1.0)
        a_main = jnp.where(valid, jnp.where(boosted, a + 1.0, a), 1.0)
        d = a_main - np.array(1.0 / 3.0, dtype)
        c = jax.lax.rsqrt(9.0 * d)

        # The first accepted of the first candidates; NaN where all failed.
        # Drawn as one [first_candidates, lanes] array, which XLA:CPU fuses
        # into one loop with the selection below: Bandit's 10-armed Beta
        # update+select went from 26 to 14 top-level fusions (thunks, each a
        # fixed cost per call) and compiles about 30% faster.
        counters = jnp.arange(first_candidates, dtype=np.uint32)[:, None]
        stacked = _marsaglia_tsang_candidate(
            k0[None], k1[None], counters, low[None], d[None], c[None], dtype
        )
        log_v = stacked[first_candidates - 1]
        for counter in range(first_candidates - 2, -1, -1):
            first = stacked[counter]
            log_v = jnp.where(jnp.isnan(first), log_v, first)

        num_blocks = -(-num_lanes // _FALLBACK_BLOCK)
        block_start = jnp.arange(num_blocks, dtype=np.int32) * _FALLBACK_BLOCK
        padding = num_blocks * _FALLBACK_BLOCK - num_lanes

        def needs_more(carry):
            round_, _, log_v = carry
            return (round_ < _MAX_FALLBACK_ROUNDS) & jnp.any(jnp.isnan(log_v))

        def fallback_round(carry):
            round_, attempts, log_v = carry
            rejected = jnp.pad(jnp.isnan(log_v), (0, padding))
            rejected = rejected.reshape(num_blocks, _FALLBACK_BLOCK)
            first = jnp.argmax(rejected, axis=1).astype(np.int32)
            lanes = jnp.where(jnp.any(rejected, axis=1), block_start + first, num_lanes)
            safe_lanes = jnp.minimum(lanes, num_lanes - 1)
            # A lane's own attempt count picks its counter, so its draws do not
            # depend on which other lanes share its block (vmap equals a loop).
            counter = np.uint32(first_candidates) + attempts[safe_lanes]
            redrawn = _marsaglia_tsang_candidate(
                k0[safe_lanes],
                k1[safe_lanes],
                counter,
                low[safe_lanes],
                d[safe_lanes],
                c[safe_lanes],
                dtype,
            )
            return (
                round_ + 1,
                attempts.at[lanes].add(np.uint32(1), mode="drop"),
                log_v.at[lanes].set(redrawn, mode="drop"),
            )

        _, _, log_v = jax.lax.while_loop(
            needs_more,
            fallback_round,
            (jnp.zeros((), np.uint32), jnp.zeros((num_lanes,), np.uint32), log_v),
        )
        result = jnp.log(d) + log_v
        if not shapes_at_least_one:
            boost_unit, _ = _lane_units(k0, k1, np.uint32(_BOOST_COUNTER), low, dtype)
            boost, magnitude = _boost_terms(boost_unit, a)
            result = jnp.where(boosted, result + boost, result)
            if with_magnitude:
                magnitude = jnp.where(boosted, magnitude, -jnp.inf)
                return jnp.stack([jnp.where(valid, result, jnp.nan), magnitude])
        result = jnp.where(valid, result, jnp.nan)
        if with_magnitude:
            return jnp.stack([result, jnp.full_like(result, -jnp.inf)])
        return result

    lanes_fn = jax.custom_batching.custom_vmap(kernel)

    @lanes_fn.def_vmap
    def fold_batch_into_lanes(axis_size, in_batched, *args):
        full = [
            arg if batched else jnp.broadcast_to(arg, (axis_size, *arg.shape))
            for arg, batched in zip(args, in_batched, strict=True)
        ]
        out = lanes_fn(*(arg.reshape(-1) for arg in full))
        lead = out.shape[:-1]  # (2,) with the magnitude, else ()
        out = out.reshape(*lead, axis_size, -1)
        return jnp.moveaxis(out, len(lead), 0), True

    return lanes_fn


def log_gamma(
    key: PRNGKey,
    shape_param: Array,
    shape: Sequence[int] | None = None,
    dtype=None,
    *,
    num_candidates: int | None = None,
    shapes_at_least_one: bool = False,
) -> Array:
    """Logarithm of Gamma(shape_param, 1) variates, exact and branch-free.

    Args:
        key: a typed key.
        shape_param: the Gamma shape ``a > 0`` (any array shape; broadcast to
            ``shape`` when given).
        shape: output shape (default: ``shape_param``'s shape).
        dtype: float32 (default) or float64.
        num_candidates: candidates drawn for every lane before the fallback
            rounds (static); a cost knob only, the draws do not depend on it.
            None (default): 3 for at most 1024 lanes (after vmap folds its
            axes into the lanes), where a fallback round's fixed cost would
            dominate, else 1, the fastest inside a vmapped Thompson-sampling
            run on CPU (at most 5% of lanes reach the fallback, which redraws
            one lane per block of 16 per round).
        shapes_at_least_one: promise that every ``a >= 1`` (static); skips the
            boosting uniform that shapes below one need.

    Returns:
        ``log G`` with ``G ~ Gamma(a, 1)``; finite for every finite ``a > 0``
        except where ``log G`` is below the most negative float (possible for
        ``a`` below about 5e-38 in float32, subnormals included), which gives
        -inf, the correct limit; NaN where ``a <= 0`` or ``a`` is NaN.
    """
    return _log_gamma_and_magnitude(
        key, shape_param, shape, dtype, num_candidates, shapes_at_least_one, False
    )[0]


def _log_gamma_and_magnitude(
    key, shape_param, shape, dtype, num_candidates, shapes_at_least_one, magnitude
) -> tuple[Array, Array | None]:
    """:func:`log_gamma`, and with ``magnitude`` (fast path only, else None) the
    log magnitude of each draw's boosting term (-inf where there is none)."""
    _check_key(key)
    if num_candidates is not None and (
        not isinstance(num_candidates, int) or num_candidates < 1
    ):
        raise ValueError(
            f"num_candidates must be None or an int >= 1, got {num_candidates!r}"
        )
    dtype = _float_dtype(dtype if dtype is not None else jnp.result_type(shape_param))
    a = jnp.asarray(shape_param, dtype)
    out_shape = tuple(shape) if shape is not None else a.shape
    a = jnp.broadcast_to(a, out_shape)
    if not _fast_path(key):
        log_g = jax.random.loggamma(key, a, out_shape, dtype)
        # jax.random gives NaN at subnormal shapes (flushed to 0); -inf is the limit.
        log_g = jnp.where(jnp.isnan(log_g), -jnp.inf, log_g)
        return jnp.where(_is_positive(a), log_g, jnp.nan), None
    num_lanes = math.prod(out_shape)
    if num_lanes == 0:
        empty = jnp.zeros(out_shape, dtype)
        return empty, (empty if magnitude else None)
    if num_lanes >= 2**32:
        raise ValueError(f"at most 2**32 - 1 variates per call, asked for {num_lanes}")
    data = jax.random.key_data(key)
    lanes_fn = _log_gamma_lanes(
        num_candidates, bool(shapes_at_least_one), dtype.name, bool(magnitude)
    )
    out = lanes_fn(
        jnp.broadcast_to(data[0], (num_lanes,)),
        jnp.broadcast_to(data[1], (num_lanes,)),
        jax.lax.iota(np.uint32, num_lanes),
        a.reshape(-1),
    )
    if magnitude:
        return out[0].reshape(out_shape), out[1].reshape(out_shape)
    return out.reshape(out_shape), None


def gamma(
    key: PRNGKey,
    shape_param: Array,
    shape: Sequence[int] | None = None,
    dtype=None,
    *,
    num_candidates: int | None = None,
    shapes_at_least_one: bool = False,
) -> Array:
    """Gamma(shape_param, 1) variates; a drop-in for ``jax.random.gamma``.

    Exact in law (see the module docstring); much faster on CPU under ``vmap``.
    Very small shapes may underflow to 0 in float32 exactly where the true
    variate is below the smallest float; use :func:`log_gamma` to keep them.
    """
    return jnp.exp(
        log_gamma(
            key,
            shape_param,
            shape,
            dtype,
            num_candidates=num_candidates,
            shapes_at_least_one=shapes_at_least_one,
        )
    )


def beta(
    key: PRNGKey,
    a: Array,
    b: Array,
    shape: Sequence[int] | None = None,
    dtype=None,
    *,
    num_candidates: int | None = None,
    shapes_at_least_one: bool = False,
) -> Array:
    """Beta(a, b) variates as ``G_a / (G_a + G_b)``, computed as a sigmoid of
    ``log G_a - log G_b`` so that tiny shapes never give ``0/0``.

    Args:
        key: a typed key.
        a, b: positive parameters (broadcast together, and to ``shape``).
        shape: output shape (default: the broadcast shape of ``a`` and ``b``).
        dtype: float32 (default) or float64.
        num_candidates: see :func:`log_gamma`.
        shapes_at_least_one: promise that ``a, b >= 1`` (e.g. Beta-Bernoulli
            posteriors under a prior with ``alpha0, beta0 >= 1``).
    """
    _check_key(key)
    dtype = _float_dtype(dtype if dtype is not None else jnp.result_type(a, b))
    out_shape = (
        tuple(shape)
        if shape is not None
        else jnp.broadcast_shapes(jnp.shape(a), jnp.shape(b))
    )
    # One log_gamma call on the stacked shapes: one hash block, one fallback loop.
    shapes = jnp.stack(
        [jnp.broadcast_to(a, out_shape), jnp.broadcast_to(b, out_shape)]
    ).astype(dtype)
    # Tiny shapes (a, b below about 5e-38 in float32) can underflow both log
    # Gammas to -inf, where the sigmoid would be NaN; the larger draw is then
    # the one with the smaller boosting magnitude, and the variate is 0 or 1.
    tiny_possible = not shapes_at_least_one
    (log_a, log_b), magnitude = _log_gamma_and_magnitude(
        key, shapes, None, dtype, num_candidates, shapes_at_least_one, tiny_possible
    )
    x = jax.nn.sigmoid(log_a - log_b)
    if not tiny_possible:
        return x
    both = jnp.isneginf(log_a) & jnp.isneginf(log_b)
    if magnitude is None:  # slow path: no magnitudes; P(a wins) ~ a / (a + b)
        log_ratio = _log_positive(shapes[0]) - _log_positive(shapes[1])
        wins = uniform(split(key)[1], out_shape, dtype) < jax.nn.sigmoid(log_ratio)
    else:
        wins = magnitude[0] < magnitude[1]
    return jnp.where(both, wins.astype(dtype), x)


def dirichlet(
    key: PRNGKey,
    alpha: Array,
    shape: Sequence[int] | None = None,
    dtype=None,
    *,
    num_candidates: int | None = None,
    shapes_at_least_one: bool = False,
) -> Array:
    """Dirichlet(alpha) variates over the last axis (softmax of log-Gammas).

    Args:
        key: a typed key.
        alpha: positive concentrations ``[..., k]``.
        shape: batch shape (default: ``alpha.shape[:-1]``); the output has shape
            ``shape + alpha.shape[-1:]``.
    """
    _check_key(key)
    alpha = jnp.asarray(alpha)
    if alpha.ndim < 1:
        raise ValueError("alpha must have at least one axis (the categories)")
    batch = tuple(shape) if shape is not None else alpha.shape[:-1]
    log_g, magnitude = _log_gamma_and_magnitude(
        key,
        alpha,
        batch + alpha.shape[-1:],
        dtype,
        num_candidates,
        shapes_at_least_one,
        not shapes_at_least_one,
    )
    x = jax.nn.softmax(log_g, axis=-1)
    if shapes_at_least_one:
        return x
    # Every log Gamma of a row at -inf (tiny alphas): the largest draw is the
    # one with the smallest boosting magnitude (see beta).
    all_neginf = jnp.all(jnp.isneginf(log_g), axis=-1, keepdims=True)
    if magnitude is None:  # slow path: no magnitudes; the largest alpha wins
        magnitude = -_log_positive(jnp.broadcast_to(alpha, log_g.shape).astype(x.dtype))
    winner = jax.nn.one_hot(jnp.argmin(magnitude, axis=-1), x.shape[-1], dtype=x.dtype)
    return jnp.where(all_neginf, winner, x)
