"""WordLayout: one uint32 buffer for a pytree, identical on host and traced."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesrl._packing import WordLayout


def _tree(rng, wide):
    tree = {
        "f32": rng.normal(size=(3, 2)).astype(np.float32),
        "i32": rng.integers(-(2**31), 2**31 - 1, size=4, dtype=np.int32),
        "u32": rng.integers(0, 2**32 - 1, size=(2,), dtype=np.uint32),
        "flag": rng.random(5) < 0.5,
        "i8": rng.integers(-128, 127, size=3, dtype=np.int8),
        "f16": rng.normal(size=2).astype(np.float16),
        "scalar": np.float32(-0.0),
        "empty": np.zeros((0,), np.float32),
    }
    if wide:
        tree["f64"] = np.array([np.pi, -1e-300, np.inf], np.float64)
        tree["i64"] = np.array([-(2**62), 2**40 + 3], np.int64)
    return tree


def _assert_bitwise_equal(x, y):
    x, y = np.asarray(x), np.asarray(y)
    assert x.dtype == y.dtype and x.shape == y.shape
    np.testing.assert_array_equal(
        x.reshape(-1).view(np.uint8), y.reshape(-1).view(np.uint8)
    )


@pytest.mark.parametrize("wide", [False, True])
def test_host_and_traced_packing_agree_and_round_trip(wide):
    with jax.enable_x64(wide):
        tree = _tree(np.random.default_rng(0), wide)
        layout = WordLayout(tree)
        host = layout.pack_host(tree)
        traced = np.asarray(jax.jit(layout.pack)(tree))
        assert host.dtype == np.uint32 and host.shape == (layout.num_words,)
        np.testing.assert_array_equal(host, traced)
        expected_words = sum(
            x.size * (2 if x.dtype.itemsize == 8 else 1) for x in tree.values()
        )
        assert layout.num_words == expected_words
        for unpacked in (layout.unpack_host(host), jax.jit(layout.unpack)(host)):
            for name, leaf in tree.items():
                _assert_bitwise_equal(unpacked[name], leaf)


def test_refuses_dtypes_without_a_word_layout():
    with pytest.raises(ValueError, match="32-bit words"):
        WordLayout(jnp.zeros((2,), jnp.complex64))
