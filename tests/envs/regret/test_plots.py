"""Figures: written, legends beside the axes, log axes where curves mean something, and an
outlying estimator marked rather than squashing the others."""

from types import SimpleNamespace

import numpy as np
import pytest

from envs.regret.plots import log_axis_start, plot_regret, regret_curves
from estimators.plots import error_scale, plot_errors, plot_rmse_vs_n, plot_sweep


def _rollout(name, mean, std, n_seeds=200):
    T = mean.shape[-1]
    return SimpleNamespace(policy=name, env="toy-world", n_seeds=n_seeds,
                           rounds=np.arange(1, T + 1), mean_regret=mean[None],
                           std_regret=std[None], checkpoints=np.array([1, T // 2, T]),
                           grid={})


def _rollouts(T=1000, late_start=0):
    t = np.arange(1, T + 1, dtype=float)
    linear = _rollout("linear", 1.0 * t, 0.2 * np.sqrt(t))
    sqrt = _rollout("sqrt", 3.0 * np.sqrt(t), 0.5 * t**0.25)
    late = 0.5 * t**0.8
    late[:late_start] = 0.0
    return [linear, sqrt, _rollout("late", late, 0.1 * t**0.5)]


def _label(r, g):
    return r.policy


def _boxes(fig, artist):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the figure comes back closed: draw it again
    canvas.draw()
    renderer = canvas.get_renderer()
    return artist.get_window_extent(renderer), [a.get_window_extent(renderer)
                                                for a in fig.axes]


def _assert_legend_outside(fig):
    assert fig.legends, "the figure has no figure-level legend"
    legend, axes = _boxes(fig, fig.legends[0])
    for box in axes:
        assert not legend.overlaps(box), (legend, box)


def test_regret_figure_is_written_with_its_legend_outside_in_ranking_order(tmp_path):
    path = tmp_path / "regret.png"
    fig = plot_regret(_rollouts(), str(path), _label)
    assert path.stat().st_size > 10_000
    _assert_legend_outside(fig)
    names = [t.get_text().split()[0] for t in fig.legends[0].get_texts()]
    assert names == ["linear", "late", "sqrt"]  # final regret 1000 > 126 > 95


def test_regret_bands_are_intervals_of_the_mean():
    (c, *_) = regret_curves(_rollouts(), _label)
    half = 1.959963984540054 * 0.2 * np.sqrt(c.rounds) / np.sqrt(200)
    np.testing.assert_allclose(c.upper - c.mean, half)
    np.testing.assert_allclose(c.mean - c.lower, half)


@pytest.mark.parametrize("T, late_start, expected", [
    (1000, 0, 10),      # from round 10
    (1000, 40, 41),     # every curve positive from round 41 on
    (24, 0, 2),         # a short study starts at T/10
])
def test_log_axis_starts_where_every_curve_is_positive(tmp_path, T, late_start, expected):
    rollouts = _rollouts(T, late_start)
    assert log_axis_start(regret_curves(rollouts, _label)) == expected
    fig = plot_regret(rollouts, str(tmp_path / "r.png"), _label)
    log_ax = fig.axes[1]
    assert log_ax.get_xscale() == "log"
    assert log_ax.get_xlim()[0] == pytest.approx(expected)


def _estimator_errors(m=400, seed=0):
    rng = np.random.default_rng(seed)
    names = [f"est{j}" for j in range(9)] + ["sg_ipw"]
    cols = [rng.normal(0.001 * j, 0.012 + 0.001 * j, m) for j in range(9)]
    cols.append(rng.normal(-0.09, 0.02, m))
    return names, np.stack(cols, 1)


def _results(names, errors):
    cov = [0.94] * (len(names) - 1) + [0.01]
    return [{"estimator": n, "rmse": float(np.sqrt(np.mean(errors[:, j] ** 2))),
             "rmse_se": 0.0005, "coverage": c, "coverage_se": 0.01}
            for j, (n, c) in enumerate(zip(names, cov))]


def test_error_scale_leaves_out_a_biased_estimator():
    names, errors = _estimator_errors()
    scale = error_scale(errors)
    assert scale.outliers == [names.index("sg_ipw")]
    central = errors[:, :-1]
    assert scale.lower <= np.percentile(central, 2.5, axis=0).min()
    assert scale.upper >= np.percentile(central, 97.5, axis=0).max()
    assert error_scale(central).outliers == []


def test_plot_errors_marks_the_outlier_instead_of_squashing_the_others(tmp_path):
    names, errors = _estimator_errors()
    path = tmp_path / "estimators.png"
    fig = plot_errors(names, errors, str(path), 10_000, 400,
                      results=_results(names, errors), alpha=0.05)
    assert path.stat().st_size > 10_000
    dist, rmse, coverage = fig.axes
    lo, hi = dist.get_xlim()  # the distribution panel's value axis
    assert lo > np.percentile(errors[:, -1], 97.5) and lo < -0.02 and hi > 0.02
    marks = [t for t in dist.texts if str(t.get_gid()).startswith("outlier:")]
    assert [t.get_gid() for t in marks] == ["outlier:sg_ipw"]
    assert "-0.09" in marks[0].get_text()
    assert rmse.get_xscale() == "log"
    nominal = [ln for ln in coverage.get_lines() if np.allclose(ln.get_xdata(), 0.95)]
    assert nominal, "the coverage panel has no nominal 1 - alpha line"
    labels = [t.get_text() for t in dist.get_yticklabels()]
    assert labels[-1] == "sg_ipw" and len(labels) == len(names)


def test_plot_errors_without_summary_rows_shows_rmse_only(tmp_path):
    names, errors = _estimator_errors()
    fig = plot_errors(names[:4], errors[:, :4], str(tmp_path / "e.png"), 100, 400)
    assert len(fig.axes) == 2
    assert not [t for t in fig.axes[0].texts if str(t.get_gid()).startswith("outlier:")]


def test_sweep_and_rmse_vs_n_figures(tmp_path):
    names = ["ipw", "dr"]
    points = [{"sweep_value": v, "results": [
        {"rmse": 0.02 * (j + 1) / np.sqrt(v), "rmse_se": 0.001, "coverage": 0.93,
         "coverage_se": 0.01} for j in range(2)]} for v in (0.3, 1.0, 3.0, float("inf"))]
    fig = plot_sweep(names, "logging_policy.temperature", points,
                     str(tmp_path / "sweep.png"), 1000, 100, 0.05)
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
    _assert_legend_outside(fig)
    rows = [{"estimator": e, "n_rows": n, "rmse": 0.5 / np.sqrt(n), "rmse_se": 1e-4}
            for e in names for n in (1000, 3000, 10_000)]
    fig = plot_rmse_vs_n(rows, str(tmp_path / "rmse_vs_n.png"))
    assert (tmp_path / "rmse_vs_n.png").stat().st_size > 10_000
    _assert_legend_outside(fig)
