"""The paper-setting presets: ``paper-cpu`` (2 CPU cores, <= 3 h), ``paper`` (GPU)."""

import numpy as np
import pytest

from eoss.analysis.cli.main import main
from eoss.analysis.cli.plan import PRESETS, plan
from eoss.analysis.cli.presets import check_study
from eoss.empirical.training.config import Cadence
from eoss.empirical.training.schedules import cadence_steps


@pytest.fixture
def paper_cpu_stages(tmp_path):
    stages = plan(PRESETS["paper-cpu"], tmp_path / "runs", tmp_path / "report")
    return {s.name: s for s in stages}, tmp_path / "runs"


def test_paper_cpu_is_the_papers_fig19_setting_until_stationary(paper_cpu_stages):
    stages, root = paper_cpu_stages
    check_study(PRESETS["paper-cpu"].study)
    sweep = stages["sweep"]
    cfg = sweep.config.config
    assert cfg["lr"] == 0.01 and cfg["data"]["n_train"] == 8192
    assert cfg["data"]["name"] == "cifar10" and cfg["loss"] == "mse"
    assert (cfg["model"]["name"], cfg["model"]["width"], cfg["model"]["depth"]) == (
        "mlp", 512, 2,
    )  # fmt: skip
    assert cfg["stop"]["until_stationary"] and cfg["steps"] == 20000  # the cap
    argv = " ".join(sweep.argv)
    assert "batch_size=4,8,16,32,64,128,256 " in argv and "seed=0,1" in argv
    b512 = stages["run b512-seed0"].config.config  # b = 512: one seed (cost)
    assert (b512["batch_size"], b512["seed"], b512["steps"]) == (512, 0, 20000)


def test_paper_cpu_plans_the_expected_runs(paper_cpu_stages):
    stages, root = paper_cpu_stages
    train = [n for n in stages if n.startswith(("fork", "run", "static", "noise"))]
    assert train == [
        "static source", "static-gap", "fork lr-up", "fork b-up", "fork b-down",
        "run b512-seed0", "run eta0.02-b16", "run eta0.02-b64", "run eta0.02-b256",
    ]  # fmt: skip
    src = stages["static source"]
    assert src.argv[:2] == ("train", "--fork")
    assert src.argv[2].endswith("sweep/train/batch_size=256,seed=0")
    static_cfg = src.config.config
    assert static_cfg["batch_size"] == 256
    assert not static_cfg["stop"]["until_stationary"]
    assert static_cfg["steps"] > stages["sweep"].config.config["steps"]
    assert stages["static-gap"].argv[1] == str(root / "static-source/train/b256")
    for name, change in (("lr-up", ("lr", 0.02)), ("b-up", ("batch_size", 256)),
                         ("b-down", ("batch_size", 16))):  # fmt: skip
        fork = stages[f"fork {name}"]
        assert fork.argv[2].endswith("sweep/train/batch_size=64,seed=0")
        assert fork.config.config[change[0]] == change[1]
        assert fork.config.config["stop"]["until_stationary"]
    for b in (16, 64, 256):
        run = stages[f"run eta0.02-b{b}"].config.config
        assert (run["lr"], run["batch_size"], run["seed"]) == (0.02, b, 0)


def test_paper_cpu_cadences_keep_eight_tail_points_and_thin_out(paper_cpu_stages):
    stages, _ = paper_cpu_stages
    track = stages["sweep"].config.config["track"]
    stop = stages["sweep"].config.config["stop"]
    for q in ("fullbs", "minibs", "eval"):
        cad = Cadence(**track[q])
        for cap in (20000, 26000, 60000):
            s = cadence_steps(cad, cap)
            assert ((s >= 0.8 * cap) & (s <= cap)).sum() >= stop["min_points"]
        thinned = cadence_steps(cad, 60000)
        assert np.diff(thinned[thinned > 45000]).min() == 2 * cad.every
        assert len(thinned) < len(cadence_steps(Cadence(every=cad.every), 60000))
    # every stop check (a multiple of check_every) is a thinned measurement step
    s = set(cadence_steps(Cadence(**track["fullbs"]), 26000).tolist())
    assert set(range(stop["check_every"], 26000, stop["check_every"])) <= s


def test_paper_cpu_projection_fits_three_hours_and_dry_run_prints_it(
    capsys, tmp_path
):
    preset = PRESETS["paper-cpu"]
    assert preset.projected_minutes <= 180
    code = main([
        "reproduce", "--preset", "paper-cpu", "--runs-root", str(tmp_path / "r"),
        "--out", str(tmp_path / "o"), "--data-root", str(tmp_path), "--dry-run",
        "--no-probe",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert f"projected wall time: {preset.projected_minutes:.0f} min" in out
    assert "note: given up to fit 3 h" in out


def test_paper_preset_is_paper_cpu_at_eta_0004_with_more_seeds(tmp_path):
    cpu, gpu = PRESETS["paper-cpu"].study, PRESETS["paper"].study
    check_study(gpu)
    stages = {s.name: s for s in plan(PRESETS["paper"], tmp_path, tmp_path / "r")}
    cfg = stages["sweep"].config.config
    assert cfg["lr"] == 0.004 and cfg["stop"]["until_stationary"]
    assert len(gpu.seeds) > len(cpu.seeds)
    assert set(cpu.batch_sizes) <= set(gpu.batch_sizes)
    noise = {c.path.stem: c.config for c in stages["noise"].points}
    assert set(noise) == {name for name, _ in gpu.noise}
    assert {c["optim"]["name"] for c in noise.values()} == {"gd", "noisy_gd"}
    assert all(c["data"]["n_train"] == 8192 for c in noise.values())
    b_noise = {c["batch_size"] for c in noise.values()}
    assert b_noise <= set(gpu.batch_sizes)  # the sweep run at that b: SGD control
    assert np.all([f"run {n}" in stages for n, _ in gpu.runs])
