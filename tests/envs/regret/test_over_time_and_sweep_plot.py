"""Regret round by round (smoothed per-round regret, windows around change rounds, its
figure) and final regret against a swept hyperparameter (swept names, scales, figure)."""

from types import SimpleNamespace

import numpy as np
import pytest

from envs.regret.over_time import per_round_regret, plot_over_time, regret_after_changes
from envs.regret.sweep_plot import plot_against_sweep, sweep_lines, swept_names, x_scale


def _rollout(policy, mean, grid, n_seeds=4):
    """A rollout's fields the functions read: ``mean`` is (G, T)."""
    T = mean.shape[1]
    return SimpleNamespace(policy=policy, env="toy-world", n_seeds=n_seeds,
                           rounds=np.arange(1, T + 1), mean_regret=mean,
                           std_regret=np.ones_like(mean), grid=grid)


def _squares(T=10):
    """Grid point 0 pays 1 a round (cumulative t), grid point 1 pays 2t - 1 (cumulative
    t²)."""
    t = np.arange(1, T + 1, dtype=float)
    return _rollout("lin_ucb", np.stack([t, t**2]), {"alpha": np.array([0.1, 1.0]),
                                                      "reg": np.array([1.0, 1.0])})


def test_per_round_regret_is_the_smoothed_first_difference():
    t = np.arange(1, 11, dtype=float)
    np.testing.assert_allclose(per_round_regret(t**2, 1), 2 * t - 1)
    # trailing mean of 2t-1 over 3 rounds: 2t-3 once 3 rounds exist, the mean so far before
    expected = np.where(t >= 3, 2 * t - 3, [1.0, 2.0] + [0.0] * 8)
    np.testing.assert_allclose(per_round_regret(t**2, 3), expected)
    rng = np.random.default_rng(0)
    cum = np.cumsum(rng.exponential(size=50))
    step = np.diff(cum, prepend=0.0)
    ref = [step[max(0, i - 6):i + 1].mean() for i in range(50)]
    np.testing.assert_allclose(per_round_regret(cum, 7), ref, rtol=1e-10)
    np.testing.assert_allclose(per_round_regret(cum, 500), cum / np.arange(1, 51))
    with pytest.raises(ValueError, match="smooth"):
        per_round_regret(cum, 0)


def test_regret_after_changes_sums_the_windows_after_and_before():
    rows = regret_after_changes([_squares()], [0, 3, 8], width=3)
    got = [(r["algorithm"], r["change_round"], r["width"], r["regret_after"],
            r["regret_before"]) for r in rows]
    assert got == [
        ("lin_ucb(alpha=0.1)", 0, 3, 3.0, None),
        ("lin_ucb(alpha=0.1)", 3, 3, 3.0, 3.0),
        ("lin_ucb(alpha=0.1)", 8, 3, 2.0, 3.0),    # clipped at T = 10: two rounds left
        ("lin_ucb(alpha=1)", 0, 3, 9.0, None),     # 1 + 3 + 5
        ("lin_ucb(alpha=1)", 3, 3, 27.0, 9.0),     # 7 + 9 + 11, and 1 + 3 + 5
        ("lin_ucb(alpha=1)", 8, 3, 36.0, 39.0)]    # 17 + 19, and 11 + 13 + 15
    named = regret_after_changes([_squares()], [5], 2, label=lambda r, g: f"g{g}")
    assert [r["algorithm"] for r in named] == ["g0", "g1"]
    with pytest.raises(ValueError, match="outside"):
        regret_after_changes([_squares()], [10], 3)


def _legend_outside(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the figure comes back closed: draw it again
    canvas.draw()
    box = fig.legends[0].get_window_extent(canvas.get_renderer())
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(canvas.get_renderer()))


def test_over_time_figure_draws_the_smoothed_curves_and_change_rounds(tmp_path):
    t = np.arange(1, 41, dtype=float)
    other = _rollout("greedy", (0.5 * t)[None], {})
    path = tmp_path / "over_time.png"
    fig = plot_over_time([_squares(40), other], str(path), lambda r, g: f"{r.policy}{g}",
                         change_rounds=[9, 24], smooth=5)
    assert path.stat().st_size > 5_000
    (ax,) = fig.axes
    curves = {ln.get_gid(): ln for ln in ax.get_lines() if str(ln.get_gid()).startswith("c")}
    assert sorted(curves) == ["change:24", "change:9", "curve:greedy0", "curve:lin_ucb0",
                              "curve:lin_ucb1"]
    np.testing.assert_allclose(curves["curve:lin_ucb1"].get_xdata(), t)
    np.testing.assert_allclose(curves["curve:lin_ucb1"].get_ydata(), per_round_regret(t**2, 5))
    np.testing.assert_allclose(curves["curve:greedy0"].get_ydata(), 0.5)
    assert list(curves["change:9"].get_xdata()) == [10.0, 10.0]  # round 10 = index 9
    assert "5 rounds" in ax.get_title() and "4 seeds" in ax.get_title()
    _legend_outside(fig)


def test_swept_names_are_the_grid_names_that_vary():
    a = _squares()  # alpha varies, reg does not
    b = _rollout("ts", np.zeros((2, 3)), {"reg": np.array([1.0, 2.0])})
    c = _rollout("greedy", np.zeros((1, 3)), {})
    assert swept_names([a, b, c]) == ["alpha", "reg"]
    assert swept_names([a]) == ["alpha"]
    assert swept_names([c]) == []


@pytest.mark.parametrize("values, log_x, expected", [
    ([1, 5, 10], None, ("linear", {})),                 # a factor of 10
    ([0.01, 0.1, 1], None, ("log", {})),                # a factor of 100
    ([0.0, 0.1, 10], None, ("symlog", {"linthresh": 0.1, "linscale": 0.5})),
    ([-1.0, 0.1, 10], None, ("linear", {})),            # negative: never log by itself
    ([0.01, 1], False, ("linear", {})),
    ([1, 2], True, ("log", {})),
])
def test_x_scale(values, log_x, expected):
    assert x_scale(values, log_x) == expected


def _row(policy, mean, **params):
    return {"policy": policy, "params": params, "final_regret_mean": mean,
            "final_regret_ci95": [mean - 1.0, mean + 2.0], "n_seeds": 8, "n_rounds": 500}


def test_sweep_figure_has_a_line_per_policy_and_other_value(tmp_path):
    rows = [_row("lin_ucb", 30.0 + a + r, alpha=a, reg=r)
            for r in (1.0, 2.0) for a in (10.0, 0.0, 1.0, 0.1)]
    rows += [_row("ts", 50.0 - a, alpha=a) for a in (1.0, 0.1, 10.0)]
    rows += [_row("greedy", 99.0)]  # no alpha: not on this figure
    assert list(sweep_lines(rows, "alpha")) == ["lin_ucb (reg=1)", "lin_ucb (reg=2)", "ts"]
    path = tmp_path / "sweep.png"
    fig = plot_against_sweep(rows, "alpha", str(path))
    assert path.stat().st_size > 5_000
    (ax,) = fig.axes
    assert ax.get_xscale() == "symlog"
    lines = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}
    assert sorted(lines) == ["sweep:lin_ucb (reg=1)", "sweep:lin_ucb (reg=2)", "sweep:ts"]
    reg2 = lines["sweep:lin_ucb (reg=2)"]
    np.testing.assert_allclose(reg2.get_xdata(), [0.0, 0.1, 1.0, 10.0])
    np.testing.assert_allclose(reg2.get_ydata(), [32.0, 32.1, 33.0, 42.0])
    np.testing.assert_allclose(lines["sweep:ts"].get_ydata(), [49.9, 49.0, 40.0])
    bars = [seg for col in ax.collections for seg in col.get_segments()]
    assert any(np.allclose(seg, [[10.0, 39.0], [10.0, 42.0]]) for seg in bars)  # ts at 10
    assert "8 seeds × 500 rounds" in ax.get_title()
    _legend_outside(fig)
    fig = plot_against_sweep(rows, "alpha", str(path), log_x=False)
    assert fig.axes[0].get_xscale() == "linear"
    with pytest.raises(ValueError, match="epsilon"):
        plot_against_sweep(rows, "epsilon", str(path))
