"""A report of a study with every data kind holds the whole paper figure set.

The study has what ``eoss reproduce`` can produce: a b sweep with per-step batch
sharpness and NTK tables (one run still drifting), an η change and a b change in
a schedule, an η fork from a sweep run, noise-injected GD with plain GD and SGD,
a static curve frozen from a sweep run, a simulation and derivations. Each
required figure type must be written, every trained-network caption must state
its setting, and report.html must keep formulas literal and tables in a box.
"""

import json
import re

import pytest
from synthetic_runs import write_derive_json, write_gap_table, write_train_run

from eoss.analysis.report.build import build_report
from eoss.analysis.report.figures import sweep_figures
from eoss.analysis.report.paper_figures import trained_slopes_figures
from eoss.analysis.report.plots.canvas import new_figure, plain_minor_log_labels
from eoss.analysis.report.plots.gap_scaling import plot_gap_points
from eoss.analysis.report.plots.trajectories import (
    Fork,
    drawn_phases,
    plot_sharpness_trajectory,
)
from eoss.analysis.report.run_figures import fork_of, schedule_figure
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse

SWEEP_B = (10, 20, 40, 80)

#: Required figure type → file stem (report.md links ``figures/<stem>.png``).
FIGURE_SET = {
    "Fig. 1: MiniBS and FullBS vs step, all b": "sweep0_overview",
    "Fig. 2: per-step λ_max(H_B) cloud": "batch_cloud",
    "Figs. 3-5: η and b changes": "schedule_changes",
    "Fig. 6: plateaus vs b": "sweep0_plateaus",
    "Figs. 8, 14: trained gap vs b with fitted regimes": "sweep0_gap",
    "Figs. 15-16: 1/√b, 1/b and local slopes": "sweep0_gap_slopes",
    "Fig. 9: static gap, log-log and linear in 1/b": "static0_gap",
    "Fig. 10: noise variants with SGD and GD": "noise_variants",
    "Fig. 17: MiniBS vs averaged NTK across b": "ntk_vs_batch",
    "appendix: per-run grid": "trajectories",
}

#: Trained-network figures: their captions state model, n, η, b, loss, steps, seed.
TRAINED = (
    "sweep0_overview",
    "batch_cloud",
    "schedule_changes",
    "sweep0_plateaus",
    "sweep0_gap",
    "sweep0_gap_slopes",
    "noise_variants",
    "ntk_vs_batch",
    "trajectories",
)


def _fork(root, name, source, step, lr_old, lr_new, total):
    """A run forked from ``source`` at ``step`` with η ``lr_old`` → ``lr_new``."""
    path = write_train_run(root, name, lr=lr_new, steps=total, seed=11)
    metrics = path / "metrics.jsonl"
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    rows = [r for r in rows if r.get("step", step) >= step]  # a fork's own steps
    rows += [
        {"table": "event", "step": step, "kind": "fork", "old": str(source)},
        {"table": "event", "step": step, "kind": "lr", "old": lr_old, "new": lr_new},
    ]
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("all-kinds")
    paths = {}
    for i, b in enumerate(SWEEP_B):
        paths[b] = write_train_run(
            root / "sweep",
            f"b{b}",
            batch_size=b,
            gap=0.3 * b**-0.7,
            seed=i,
            ntk_ratio=0.95,
            steps=1000,
            jpeg=True,  # the derivations' sympy text and the caveat both render
        )
    write_train_run(  # reached 2/η, still drifting: drawn open, never fitted
        root / "sweep", "b160", batch_size=160, steps=1000, seed=4, drift=0.4,
        jpeg=True,
    )  # fmt: skip
    write_train_run(
        root / "sched", "lr-change", steps=1000, schedule=[(500, 0.01, 16)], seed=5
    )
    write_train_run(
        root / "sched", "b-change", steps=1000, schedule=[(500, 0.02, 64)], seed=6
    )
    _fork(root / "forks", "lr-down", paths[20], 1000, 0.02, 0.01, 1500)
    for name, kw in (
        ("noisy", {"noise_kind": "gaussian"}),
        ("gd", {"optimizer": "gd"}),
    ):
        write_train_run(
            root / "noise",
            name,
            steps=1000,
            seed=7,
            batch_size=1024,
            minibs_batch_size=20,
            **kw,
        )
    write_gap_table(
        root / "static",
        "static",
        [2**k for k in range(8)],
        n=1024,
        config={"n_train": 1024, "run": str(paths[20]), "step": 1000},
    )
    write_gap_table(root / "simulate", "simulate", [2**k for k in range(8)])
    derive = write_derive_json(root / "derive.json")
    doc = json.loads(derive.read_text())  # sympy's spelling, as eoss derive prints
    doc["diagonal-network"]["claims"][0]["explanation"] = "exact: a1**2 + b1**2"
    derive.write_text(json.dumps(doc))
    out = tmp_path_factory.mktemp("out")
    return build_report([root], out, title="All kinds", max_trajectories=3)


def _captions(report):
    """File stem → caption, read from report.md (``*caption* ([PDF](...))``)."""
    text = report.markdown.read_text()
    found = re.findall(r"^\*(.+)\* \(\[PDF\]\(figures/([^)]+)\.pdf\)\)$", text, re.M)
    return {stem: cap for cap, stem in found}


def test_every_required_figure_type_is_written_and_linked(report):
    stems = {p.stem for p in report.figures if p.suffix == ".png"}
    missing = {k: v for k, v in FIGURE_SET.items() if v not in stems}
    assert not missing, f"figure types not drawn: {missing}"
    captions = _captions(report)
    assert set(FIGURE_SET.values()) <= set(captions)
    for stem in FIGURE_SET.values():
        assert (report.out / "figures" / f"{stem}.png").stat().st_size > 1000


def test_trained_figures_state_their_setting(report):
    captions = _captions(report)
    for stem in TRAINED:
        setting = captions[stem].split("Setting")[-1]
        for word in ("MLP", "n = ", "η = ", "b = ", "loss ", " steps", "seed "):
            assert word in setting, f"{stem}: no {word!r} in {setting!r}"
    assert "Frozen network: run b20 (MLP" in captions["static0_gap"]


def test_captions_name_the_marks_drawn(report):
    captions = _captions(report)
    assert "grey dots" in captions["batch_cloud"]
    assert "fork step" in captions["schedule_changes"]
    assert "open markers: 1 run(s)" in captions["sweep0_gap"]
    assert "open markers: 1 run(s)" in captions["sweep0_plateaus"]
    assert "b^-0.5 (1/√b)" in captions["sweep0_gap_slopes"]
    assert "against 1/b on linear axes" in captions["static0_gap"]
    assert "GD, SGD" in captions["noise_variants"]
    assert "MiniBS blue circles, NTK orange squares" in captions["ntk_vs_batch"]


def test_html_keeps_formulas_as_code_and_wraps_tables(report):
    page = report.html.read_text()
    assert "**2" in page and re.search(r"<code>[^<]*\*\*2[^<]*</code>", page)
    assert not re.search(r"\w<strong>", page)  # no sympy ** turned into bold
    n_tables = page.count("<table>")
    assert n_tables >= 5 and page.count('<div class="table-wrap"><table>') == n_tables
    assert page.count("<img") >= len(FIGURE_SET)


@pytest.fixture(scope="module")
def forked(tmp_path_factory):
    root = tmp_path_factory.mktemp("fork")
    src = write_train_run(root / "sweep", "src", steps=1000, seed=1)
    _fork(root / "forks", "down", src, 1000, 0.02, 0.01, 1500)
    return analyse(discover_inputs([root]))


def test_fork_is_drawn_after_its_source(forked, tmp_path):
    runs = {r.run_id: r for r, _ in forked.detections}
    fork = fork_of(forked, runs["down"])
    assert fork.step == 1000 and fork.source is runs["src"]
    spans = [(p.start, p.end, p.lr) for p in drawn_phases(runs["down"], fork)]
    assert spans == [(0, 1000, 0.02), (1000, 1500, 0.01)]  # old 2/η, then new
    _, ax = new_figure()
    plot_sharpness_trajectory(ax, runs["down"], fork=fork)
    assert [t.get_text() for t in ax.texts] == ["η→0.01"]
    assert min(ax.lines[0].get_xdata()) == 0  # the source's MiniBS from step 0
    refs = schedule_figure(forked, tmp_path)
    assert [r.name for r in refs] == ["schedule_changes"]
    assert "η = 0.01–0.02" in refs[0].caption
    # without its source (records moved) the fork's 2/η starts at the fork step
    alone = drawn_phases(runs["down"], Fork(1000, None))
    assert [(p.start, p.lr) for p in alone] == [(1000, 0.01)]


def test_sweep_without_a_run_at_eoss_is_drawn_open(tmp_path):
    root = tmp_path / "in"
    for i, b in enumerate((8, 16, 32)):
        write_train_run(root, f"b{b}", batch_size=b, steps=1000, seed=i, drift=0.4)
    study = analyse(discover_inputs([root]))
    assert len(study.sweeps[0].batch_size) == 0  # none stationary: no curve, no fit
    refs = {r.name: r.caption for r in sweep_figures(study, tmp_path / "out")}
    for name in ("sweep0_gap", "sweep0_plateaus"):
        assert "no run at EoSS; open markers: 3 run(s)" in refs[name]
        assert "non_stationary" in refs[name]
    assert "no power-law fit" in refs["sweep0_gap"]
    # Figs. 15-16 still drawn, from the same open-marker levels, and say so
    (slopes,) = trained_slopes_figures(study, tmp_path / "out")
    assert slopes.name == "sweep0_gap_slopes"
    assert "no run at EoSS, so no fit: open markers: 3 run(s)" in slopes.caption
    assert "descriptive only" in slopes.caption


def test_gap_points_keep_the_axis_labels_and_skip_empty_entries():
    _, ax = new_figure()
    plot_gap_points(ax, [1, 2, 4], [3.0, 2.0, 1.0])
    plain_minor_log_labels(ax)
    formatter = ax.yaxis.get_minor_formatter()
    assert plot_gap_points(ax, [8], [-1.0], label="none left") == []
    assert ax.yaxis.get_minor_formatter() is formatter  # scale not reset
    assert "none left" not in ax.get_legend_handles_labels()[1]
