"""The candidate stream: a bijection per epoch, drop-last epochs, uniform
positions across epochs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesrl.prompts import stream as candidate_stream


@pytest.mark.parametrize("num_prompts", [2, 3, 17, 100, 1000, 4097])
def test_permutation_is_a_bijection(num_prompts):
    stream = candidate_stream.init(jax.random.key(num_prompts), num_prompts)
    ids = candidate_stream.permute(
        stream.round_keys, jnp.arange(num_prompts), num_prompts
    )
    np.testing.assert_array_equal(np.sort(np.asarray(ids)), np.arange(num_prompts))


def test_epochs_cover_every_id_once_and_drop_the_remainder():
    num_prompts, chunk = 103, 10
    stream = candidate_stream.init(jax.random.key(0), num_prompts)
    advance = jax.jit(candidate_stream.advance, static_argnums=(2, 3))
    seen = []
    for t in range(10):  # ten full chunks, the 3 left over are dropped
        seen.append(np.asarray(candidate_stream.peek(stream, chunk, num_prompts)))
        stream = advance(jax.random.key(t), stream, chunk, num_prompts)
    seen = np.concatenate(seen)
    assert np.unique(seen).size == 100 and int(stream.epoch) == 1
    assert int(stream.cursor) == 0


def test_first_chunk_is_uniform_over_keys():
    num_prompts, chunk, trials = 50, 5, 4000
    keys = jax.random.split(jax.random.key(1), trials)
    chunks = jax.jit(
        jax.vmap(
            lambda k: candidate_stream.peek(
                candidate_stream.init(k, num_prompts), chunk, num_prompts
            )
        )
    )(keys)
    counts = np.bincount(np.asarray(chunks).ravel(), minlength=num_prompts)
    _, p_value = stats.chisquare(counts)
    assert p_value > 1e-3
    # Pairs: is prompt 1 in the chunk independent of prompt 0 being in it?
    has = np.asarray(chunks)
    both = np.mean(np.any(has == 0, 1) & np.any(has == 1, 1))
    expected = chunk * (chunk - 1) / (num_prompts * (num_prompts - 1))
    assert abs(both - expected) < 5 * np.sqrt(expected / trials)
