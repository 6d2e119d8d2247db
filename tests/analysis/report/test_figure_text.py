"""Captions say what is drawn; legends and tick labels do not collide."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from synthetic_runs import write_gap_table, write_train_run

from eoss.analysis.records.reader import load_run
from eoss.analysis.report.curves import curve_caption, draw_curve, table_setting
from eoss.analysis.report.plots.canvas import (
    new_figure,
    plain_minor_log_labels,
    shared_legend,
    step_axis,
)
from eoss.analysis.report.plots.gap_simulation import plot_gap_curve
from eoss.analysis.report.plots.symbolic import plot_formula_comparison
from eoss.analysis.report.plots.trajectories import (
    LABELS,
    plot_sharpness_trajectory,
    trajectory_series,
)
from eoss.analysis.report.run_figures import trajectory_caption, trajectory_figures
from eoss.analysis.report.sections import tables_md
from eoss.analysis.stats.compare import GapCurve
from eoss.analysis.study.gap_fits import fit_curve
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse


def _without_step_sharpness(path):
    metrics = path / "metrics.jsonl"
    rows = metrics.read_text().splitlines(keepends=True)
    metrics.write_text("".join(r for r in rows if '"step_sharpness"' not in r))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run with per-step batch sharpness, and one without."""
    root = tmp_path_factory.mktemp("captions")
    with_steps = write_train_run(root, "with", steps=1200, seed=0)
    without = write_train_run(root, "without", steps=1500, seed=1)
    return root, load_run(with_steps), load_run(_without_step_sharpness(without))


def _data_labels(ax):
    labels = set(ax.get_legend_handles_labels()[1])
    return labels - {"2/η", "4/η"}


def test_legend_and_caption_follow_the_series_drawn(runs):
    _, with_steps, without = runs
    for run in (with_steps, without):
        for bs in (False, True):
            _, ax = new_figure()
            plot_sharpness_trajectory(ax, run, batch_sharpness=bs)
            series = trajectory_series(run, batch_sharpness=bs)
            assert _data_labels(ax) == {LABELS[k] for k in series}
    cap = trajectory_caption([without], batch_sharpness=True)
    assert "each measured step" not in cap and "grey dots" not in cap
    assert "FullBS = λ_max of the full-batch Hessian (red dots)" in cap
    assert "batch sharpness" in cap and "2/η (solid black)" in cap
    assert "batch sharpness" not in trajectory_caption([without], batch_sharpness=False)
    assert "grey dots" in trajectory_caption(
        [with_steps, without], batch_sharpness=False
    )


def test_appendix_caption_of_a_study_without_step_sharpness(runs, tmp_path):
    _, _, without = runs
    study = analyse(discover_inputs([without.path]))
    (ref,) = trajectory_figures(study, tmp_path)
    assert "grey dots" not in ref.caption and "(red dots)" in ref.caption
    assert "Setting: " in ref.caption


def _extents(fig, artists):
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    return [a.get_window_extent(renderer) for a in artists]


def test_grid_legend_sits_outside_every_panel(runs):
    _, with_steps, without = runs
    fig, axes = new_figure(2, 3, size=(4.2, 2.9))
    for ax, run in zip(axes, [with_steps, without, without, with_steps], strict=False):
        plot_sharpness_trajectory(ax, run, batch_sharpness=True)
    for ax in axes[4:]:
        ax.set_visible(False)
    shared_legend(axes)
    assert all(ax.get_legend() is None for ax in axes)
    (legend,) = fig.legends
    texts = {t.get_text() for t in legend.get_texts()}
    assert texts == set(LABELS.values()) | {"2/η", "4/η"}
    box, *panels = _extents(fig, [legend, *axes[:4]])
    assert not any(box.overlaps(p) for p in panels)


def test_step_ticks_do_not_collide_and_share_a_unit():
    # 18k steps on a 4.2-inch panel: the default ticks 10000 12500 … overlapped
    fig, ax = new_figure(size=(4.2, 2.9))
    ax.plot([0, 18000], [0, 1])
    step_axis(ax)
    fig.draw_without_rendering()
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    boxes = _extents(fig, labels)
    for a, b in zip(boxes, boxes[1:], strict=False):
        assert not a.overlaps(b)
    texts = [t.get_text() for t in labels]
    assert all(t == "0" or t.endswith("k") for t in texts), texts
    fig, ax = new_figure()
    ax.plot([0, 3000], [0, 1])
    step_axis(ax)
    fig.draw_without_rendering()
    assert not any(t.get_text().endswith("k") for t in ax.get_xticklabels())


def test_log_axis_under_a_decade_has_plain_labels():
    fig, ax = new_figure()
    ax.plot([4, 4], [150, 175], "o")
    ax.set_yscale("log")
    plain_minor_log_labels(ax)
    fig.draw_without_rendering()
    texts = [t.get_text() for t in ax.get_yticklabels(minor=True) if t.get_text()]
    assert texts and all(t.replace(".", "").isdigit() for t in texts), texts


def _fits(b, gap, n=None):
    b = np.asarray(b, float)
    return fit_curve(GapCurve.of(b, gap, 0.03 * np.asarray(gap), "curve"), n)


def test_curve_caption_names_exactly_the_fits_and_guides_drawn():
    one_b = _fits([4, 4], [150.0, 170.0])
    _, ax = new_figure()
    draw_curve(ax, one_b, ("all", "mid", "large"), "one b")
    assert ax.get_legend_handles_labels()[1] == ["curve"]
    cap = curve_caption(one_b, ("all", "mid", "large"))
    assert cap == "no power-law fit (too few usable batch sizes)"
    b = 2.0 ** np.arange(9)
    many = _fits(b, 3 * b**-0.8, n=4096)
    _, ax = new_figure()
    draw_curve(ax, many, ("all", "far", "near"), "many")
    labels = ax.get_legend_handles_labels()[1]
    cap = curve_caption(many, ("all", "far", "near"))
    assert any(lab.startswith("all: α") for lab in labels) and "'all'" in cap
    assert any(lab.startswith("far: α") for lab in labels) and "'far'" in cap
    assert not any(lab.startswith("near") for lab in labels) and "near" not in cap
    assert {"b^-1", "b^-0.7"} <= set(labels) and "b^-0.7 (dash-dot)" in cap
    segmented = any("segments: α" in lab for lab in labels)
    assert segmented == ("segment fit in black" in cap)


def test_simulation_overlay_without_a_prediction_has_no_legend_entry():
    b = [1, 2, 4, 8]
    rows = [
        {"batch_size": x, "fullbs": 1.0, "gap": 1 / x, "gap_se": 0.01}
        | {"gap_cv": 1 / x, "gap_cv_se": 0.01}
        for x in b
    ]
    theory = {
        "perturbation": {"gap": [0.0] * 4},  # coefficient 0: nothing to draw
        "rmt": {"label": "exact (order statistics)", "gap": [1, 0.5, 0.25, 0.12]},
    }
    _, ax = new_figure()
    plot_gap_curve(ax, rows, theory=theory)
    labels = ax.get_legend_handles_labels()[1]
    assert "exact (order statistics)" in labels
    assert not any("2nd order" in lab for lab in labels)


def test_with_replacement_simulation_states_its_n(tmp_path):
    config = {"n": 1024, "sampling": "with", "n_batches": 200, "family": "spiked"}
    write_gap_table(
        tmp_path / "sim", "simulate", [2**k for k in range(8)], config=config
    )
    study = analyse(discover_inputs([tmp_path]))
    text = tables_md(study, [])
    assert "n = 1024; batches drawn with replacement" in text
    assert "unknown" not in text
    setting = table_setting(study.inputs.simulate[0])
    assert "batches per b = 200" in setting and "K =" not in setting


def test_agreement_marks_sit_inside_the_axes():
    fig, ax = new_figure(size=(4.5, 3.5))
    plot_formula_comparison(ax, [("FullBS", 1.0, 1.0), ("MiniBS (b=1)", 2.0, 2.0)])
    frame, *marks = _extents(fig, [ax, *ax.texts])
    assert [t.get_text() for t in ax.texts] == ["=", "="]
    # clear of the top spine by at least a mark's height, not touching it
    assert all(frame.y1 - m.y1 > m.height for m in marks)
