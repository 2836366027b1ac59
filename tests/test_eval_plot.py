"""mean_interval along an axis and plot_regret's curves and bands."""

import matplotlib
import numpy as np
import pytest

from bayesrl.eval import mean_interval, plot_regret

matplotlib.use("Agg")


def test_mean_interval_of_a_vector_is_two_floats():
    mean, half = mean_interval([1.0, 3.0])
    assert isinstance(mean, float) and isinstance(half, float)
    assert mean == 2.0
    assert half == pytest.approx(1.96 * np.sqrt(2.0) / np.sqrt(2.0))


def test_mean_interval_over_seeds_of_a_seeds_by_steps_array():
    values = np.array([[1.0, 0.0, 5.0], [3.0, 0.0, 5.0], [2.0, 3.0, 8.0]])
    mean, half = mean_interval(values)
    np.testing.assert_allclose(mean, [2.0, 1.0, 6.0])
    # sample sds (ddof 1) per column: 1, sqrt(3), sqrt(3)
    np.testing.assert_allclose(half, 1.96 * np.array([1.0, 3**0.5, 3**0.5]) / 3**0.5)
    mean_t, half_t = mean_interval(values.T, axis=1)
    np.testing.assert_allclose(mean_t, mean)
    np.testing.assert_allclose(half_t, half)


def test_mean_interval_refuses_one_seed():
    with pytest.raises(ValueError, match="two seeds"):
        mean_interval(np.ones((1, 4)))
    with pytest.raises(ValueError, match="two seeds"):
        mean_interval(np.ones((4, 1)), axis=1)


def test_plot_regret_draws_the_mean_cumulative_curve_and_its_band():
    regret = np.array([[1.0, 0.0], [3.0, 0.0]])  # cumulative: [1, 1] and [3, 3]
    ax = plot_regret({"ts": regret, "ucb": 2 * regret}, record_every=10)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["ts", "ucb"]
    np.testing.assert_allclose(lines[0].get_xdata(), [10, 20])
    np.testing.assert_allclose(lines[0].get_ydata(), [2.0, 2.0])
    np.testing.assert_allclose(lines[1].get_ydata(), [4.0, 4.0])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(2.0 - 1.96)
    assert band.max() == pytest.approx(2.0 + 1.96)
    assert ax.get_ylabel() == "cumulative regret"


def test_plot_regret_per_step_and_on_given_axes():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    regret = np.array([[1.0, 0.0], [3.0, 2.0]])
    assert plot_regret({"a": regret}, ax=ax, cumulative=False) is ax
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [2.0, 1.0])
    assert ax.get_ylabel() == "regret"


def test_plot_regret_refuses_a_single_curve():
    with pytest.raises(ValueError, match="num_seeds, num_steps"):
        plot_regret({"a": np.ones(5)})
