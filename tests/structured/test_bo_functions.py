"""Bayesian-optimisation test functions and the candidate-set bandit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from bayesrl import envs
from bayesrl.envs import bo_functions


def test_known_minima_and_that_they_are_local_minima():
    branin = bo_functions.branin(bo_functions.BRANIN_MINIMISERS)
    np.testing.assert_allclose(branin, bo_functions.BRANIN_MINIMUM, atol=1e-5)
    hartmann = bo_functions.hartmann6(bo_functions.HARTMANN6_MINIMISER)
    np.testing.assert_allclose(hartmann, bo_functions.HARTMANN6_MINIMUM, atol=1e-5)
    assert bo_functions.ackley(np.zeros((1, 3)))[0] == pytest.approx(0.0, abs=1e-12)
    # A local optimiser started at each published minimiser does not improve
    # on it by more than the published precision.
    for function, start, minimum in (
        (bo_functions.branin, bo_functions.BRANIN_MINIMISERS[1], 0.397887),
        (bo_functions.hartmann6, bo_functions.HARTMANN6_MINIMISER, -3.32237),
    ):
        result = optimize.minimize(
            lambda x, f=function: f(x), start, method="Nelder-Mead"
        )
        assert result.fun >= minimum - 1e-5


@pytest.mark.parametrize(
    "make, optimum",
    [
        (lambda: envs.branin_instance(10), -0.397887),
        (lambda: envs.hartmann6_instance(50), 3.32237),
        (lambda: envs.ackley_instance(2, 5), 0.0),
    ],
)
def test_instances_are_maximisation_with_the_true_optimum(make, optimum):
    candidates, params = make()
    values = np.asarray(params.values, np.float64)
    assert values.shape == (candidates.shape[0],)
    np.testing.assert_allclose(values.max(), optimum, atol=1e-4)


def test_candidate_set_bandit_reward_and_regret(key):
    _, params = envs.branin_instance(6, noise_std=0.0)
    env = envs.CandidateSetBandit(params.values.shape[0])
    obs, state = env.reset(key, params)
    assert obs.available.shape == (params.values.shape[0],)
    _, _, reward, _, _, info = env.step(key, state, 3, params)
    values = np.asarray(params.values)
    np.testing.assert_allclose(float(reward), values[3], rtol=1e-6)
    np.testing.assert_allclose(float(info["regret"]), values.max() - values[3])
    with pytest.raises(ValueError, match="num_candidates"):
        envs.CandidateSetBandit(1)


def test_gp_sample_paths_have_the_kernel_covariance(key):
    candidates = np.linspace(0, 1, 5)[:, None]
    paths = jax.vmap(
        lambda k: envs.gp_sample_path_params(k, candidates, "matern52", 0.4, 1.5)
    )(jax.random.split(key, 20000)).values
    distances = np.abs(candidates - candidates.T) * np.sqrt(5) / 0.4
    expected = 1.5**2 * (1 + distances + distances**2 / 3) * np.exp(-distances)
    # 20000 paths: the s.e. of a covariance entry of size <= 2.25 is <= 0.03.
    np.testing.assert_allclose(
        np.cov(np.asarray(paths, np.float64).T), expected, atol=0.12
    )
    assert jnp.all(jnp.isfinite(paths))
