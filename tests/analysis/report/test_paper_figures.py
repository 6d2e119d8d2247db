"""Each paper figure is written when the study has its data and skipped when not."""

import pytest
from synthetic_runs import write_gap_table, write_train_run

from eoss.analysis.records.reader import load_run
from eoss.analysis.report.figures import make_figures, noise_figure, table_figures
from eoss.analysis.report.paper_figures import (
    noise_references,
    ntk_batch_figure,
    trained_slopes_figures,
)
from eoss.analysis.report.run_figures import (
    batch_cloud_figure,
    representative_run,
    schedule_figure,
)
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse

SWEEP_B = (10, 20, 40, 80)


def _study(root):
    return analyse(discover_inputs([root]))


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A sweep with NTK tables, a schedule change, noise GD, plain GD, static."""
    root = tmp_path_factory.mktemp("full")
    for i, b in enumerate(SWEEP_B):
        write_train_run(
            root / "sweep",
            f"b{b}",
            batch_size=b,
            gap=0.3 * b**-0.7,
            seed=i,
            ntk_ratio=0.95,
            steps=1000,
        )
    write_train_run(
        root / "sched", "sched", steps=1000, schedule=[(500, 0.01, 16)], seed=5
    )
    write_train_run(
        root / "noise",
        "noisy",
        noise_kind="gaussian",
        steps=1000,
        seed=6,
        batch_size=1024,
        minibs_batch_size=20,
    )
    write_train_run(
        root / "gd",
        "gd",
        optimizer="gd",
        batch_size=1024,
        minibs_batch_size=20,
        steps=1000,
        seed=7,
    )
    write_gap_table(
        root / "static",
        "static",
        [2**k for k in range(8)],
        n=4096,
        config={"n_train": 4096},
    )
    return _study(root)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """Only a static table and one plain run without step_sharpness or ntk."""
    root = tmp_path_factory.mktemp("bare")
    path = write_train_run(root / "runs", "plain", steps=600, seed=1)
    metrics = path / "metrics.jsonl"
    rows = metrics.read_text().splitlines(keepends=True)
    metrics.write_text("".join(r for r in rows if '"step_sharpness"' not in r))
    write_gap_table(root / "static", "static", [2**k for k in range(6)], n=1024)
    return _study(root)


def _written(refs, out, name):
    names = [r.name for r in refs]
    assert names == [name]
    for ext in ("png", "pdf"):
        assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000


def test_batch_cloud(full, bare, tmp_path):
    run = representative_run(full)
    assert run is not None and run.noise_kind in (None, "none")
    refs = batch_cloud_figure(full, tmp_path)
    _written(refs, tmp_path, "batch_cloud")
    assert "grey dots" in refs[0].caption and "Setting: " in refs[0].caption
    assert representative_run(bare) is None
    assert batch_cloud_figure(bare, tmp_path / "b") == []
    assert not (tmp_path / "b" / "figures" / "batch_cloud.png").exists()


def test_schedule_changes(full, bare, tmp_path):
    refs = schedule_figure(full, tmp_path)
    _written(refs, tmp_path, "schedule_changes")
    assert "new 2/η starts at the change" in refs[0].caption
    assert schedule_figure(bare, tmp_path / "b") == []


def test_trained_gap_slopes(full, bare, tmp_path):
    refs = trained_slopes_figures(full, tmp_path)
    _written(refs, tmp_path, "sweep0_gap_slopes")
    assert "b^-0.5 (1/√b)" in refs[0].caption
    assert trained_slopes_figures(bare, tmp_path / "b") == []


def test_static_linear_panel(full, bare, tmp_path):
    refs = table_figures(full, tmp_path)
    _written(refs, tmp_path, "static0_gap")
    assert "against 1/b on linear axes" in refs[0].caption
    assert [r.name for r in table_figures(bare, tmp_path / "b")] == ["static0_gap"]


def test_noise_with_sgd_and_gd(full, bare, tmp_path):
    noisy = [r for r, _ in full.detections if r.noise_kind == "gaussian"]
    labels = sorted(k.split(" (")[0] for k in noise_references(full, noisy))
    assert labels == ["GD", "SGD"]
    refs = noise_figure(full, tmp_path)
    _written(refs, tmp_path, "noise_variants")
    assert "GD, SGD" in refs[0].caption
    assert noise_figure(bare, tmp_path / "b") == []


def test_ntk_across_b(full, bare, tmp_path):
    refs = ntk_batch_figure(full, tmp_path)
    _written(refs, tmp_path, "ntk_vs_batch")
    assert f"{len(SWEEP_B)} runs" in refs[0].caption
    assert ntk_batch_figure(bare, tmp_path / "b") == []


def test_make_figures_skips_missing(bare, tmp_path):
    names = {r.name for r in make_figures(bare, tmp_path)}
    assert not names & {
        "batch_cloud",
        "schedule_changes",
        "ntk_vs_batch",
        "noise_variants",
        "sweep0_gap_slopes",
    }
    (run,) = bare.inputs.runs
    assert not load_run(run.path).has("step_sharpness")
