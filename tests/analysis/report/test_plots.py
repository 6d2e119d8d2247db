import numpy as np
import pytest
from synthetic_runs import write_train_run

from eoss.analysis.records.reader import load_run
from eoss.analysis.report.plots.canvas import new_figure, save_figure
from eoss.analysis.report.plots.gap_scaling import (
    plot_fit,
    plot_gap_points,
    plot_plateaus_vs_batch,
    plot_reference_slopes,
)
from eoss.analysis.report.plots.noise_variants import plot_noise_variants
from eoss.analysis.report.plots.ntk import plot_ntk_scatter, plot_ntk_trajectory
from eoss.analysis.report.plots.symbolic import plot_formula_comparison
from eoss.analysis.report.plots.trajectories import plot_sharpness_trajectory
from eoss.analysis.stats.powerlaw import fit_power_law
from eoss.analysis.stats.segmented import fit_segmented


def _save(fig, tmp_path, name):
    paths = save_figure(fig, tmp_path / name)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    for p in paths:
        assert p.stat().st_size > 1000  # a real image, not an empty file
    return paths


@pytest.fixture
def sched_run(tmp_path):
    path = write_train_run(
        tmp_path, "sched", steps=3000, schedule=[(1500, 0.01, 16)], ntk_ratio=0.97
    )
    return load_run(path)


def test_trajectory_figure(sched_run, tmp_path):
    fig, ax = new_figure()
    artists = plot_sharpness_trajectory(ax, sched_run, batch_sharpness=True)
    assert len(artists) >= 8
    texts = [t.get_text() for t in ax.texts]
    assert any("η→0.01" in t for t in texts)
    _save(fig, tmp_path, "traj")


def test_gap_scaling_figures(tmp_path, rng):
    b = 2.0 ** np.arange(10)
    gap = 3 * b**-0.8 * np.exp(rng.normal(0, 0.03, 10))
    gap[-1] = -0.01
    fig, ax = new_figure()
    artists = plot_gap_points(ax, b, gap, 0.03 * np.abs(gap), label="static")
    artists += plot_fit(ax, fit_power_law(b, gap))
    artists += plot_fit(ax, fit_segmented(b, gap), color="tab:green")
    artists += plot_reference_slopes(ax, (1, 512), (1, 3))
    labels = ax.get_legend_handles_labels()[1]
    assert any("1 ≤ 0 or at machine zero omitted" in lab for lab in labels)
    assert any(lab.startswith("α = 0.") for lab in labels)
    assert len(artists) > 5
    _save(fig, tmp_path, "gap")
    # a point at machine zero (1e-17 at b = n) must not stretch the log axis
    fig, ax = new_figure()
    gap[-1] = 1e-17
    plot_gap_points(ax, b, gap, None, label="static")
    assert ax.get_ylim()[0] > 1e-3
    assert "1 ≤ 0 or at machine zero omitted" in ax.get_legend_handles_labels()[1][0]
    fig, ax = new_figure()
    plot_plateaus_vs_batch(
        ax, b[:4], [1, 1, 1.1, 1], [0.01] * 4, [0.6, 0.7, 0.8, 0.9], [0.01] * 4
    )
    _save(fig, tmp_path, "plateaus")


def test_noise_ntk_symbolic_figures(sched_run, tmp_path):
    fig, ax = new_figure()
    assert len(plot_noise_variants(ax, {"SGD": sched_run, "gaussian": sched_run})) == 5
    _save(fig, tmp_path, "noise")
    fig, axes = new_figure(1, 2)
    plot_ntk_trajectory(axes[0], sched_run)
    mb = sched_run.column("minibs", "minibs")
    plot_ntk_scatter(axes[1], mb, sched_run.column("ntk", "ntk_lambda_max"))
    _save(fig, tmp_path, "ntk")
    fig, ax = new_figure()
    artists = plot_formula_comparison(ax, [("FullBS", 1.0, 1.0), ("MiniBS", 2.0, 1.5)])
    assert [t.get_text() for t in ax.texts] == ["=", "≠"]
    assert len(artists) == 6
    _save(fig, tmp_path, "symbolic")


def test_slope_profile_inverse_b_and_ntk_levels(tmp_path):
    from eoss.analysis.report.plots.gap_scaling import (
        plot_gap_vs_inverse_b,
        plot_slope_profile,
    )
    from eoss.analysis.report.plots.ntk import plot_ntk_vs_batch

    fig, axes = new_figure(1, 3)
    ci = np.array([[0.4, 0.6], [np.nan, np.nan], [0.9, 1.1]])
    plot_slope_profile(axes[0], [2, 4, 8], [0.5, np.nan, 1.0], ci)
    assert [ln.get_ydata()[0] for ln in axes[0].lines[-2:]] == [0.5, 1.0]
    b = np.array([1.0, 2.0, 4.0, 8.0])
    plot_gap_vs_inverse_b(axes[1], b, [4.0, 2.0, np.nan, 1e-17], [0.1] * 4)
    assert "(1 omitted)" in axes[1].get_legend_handles_labels()[1][0]
    assert axes[1].get_xscale() == "linear"
    ones = np.ones(4)
    plot_ntk_vs_batch(axes[2], b[::-1], ones, 0.1 * ones, 0.9 * ones, 0.1 * ones)
    assert axes[2].get_xscale() == "log"
    _save(fig, tmp_path, "paper_helpers")
