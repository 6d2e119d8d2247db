import sys

import pytest

from eoss.analysis import records
from eoss.analysis.cli import sweep as sweep_cmd
from eoss.analysis.cli.main import main
from eoss.analysis.cli.overrides import apply_overrides, to_dict
from eoss.analysis.cli.sweep import parse_grid, point_name
from eoss.empirical.training.config import TrainConfig
from eoss.empirical.training.presets import preset

OFF = [
    "--set",
    "track.fullbs.every=0",
    "--set",
    "track.minibs.every=0",
    "--set",
    "track.step_sharpness.every=0",
    "--set",
    "steps=20",
]


def sweep(out, *extra):
    return main(
        [
            "sweep",
            "--preset",
            "test",
            *OFF,
            "--grid",
            "batch_size=4,8",
            "--grid",
            "lr=0.05",
            "--jobs",
            "2",
            "--out",
            str(out),
            "--quiet",
            "--device",
            "cpu",
            *extra,
        ]
    )


def test_sweep_writes_one_resolved_config_per_point(tmp_path, monkeypatch, capsys):
    # Children run in-process (fast); what matters is what the sweep hands them.
    children = []

    def run_in_process(self, task, env):
        cmd = task.command()
        assert cmd[:3] == [sys.executable, "-m", "eoss"]
        children.append(cmd[3:])
        return main(cmd[3:]), ""

    monkeypatch.setattr(sweep_cmd._Runner, "launch", run_in_process)
    grid = ["--grid", "batch_size=4,8", "--grid", "lr=1e-2", "--grid", "seed=0,1"]
    argv = ["sweep", "--preset", "test", *OFF, "--set", "steps=6", *grid]
    argv += ["--out", str(tmp_path), "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    index = records.read_json(tmp_path / "sweep.json")["points"]
    assert len(index) == len(children) == 4
    assert sorted(p.name for p in (tmp_path / "points").iterdir()) == sorted(
        f"{p['name']}.json" for p in index
    )
    for point, child in zip(index, children, strict=True):
        assert child[0] == "train" and "--set" not in child
        assert child[child.index("--config") + 1] == point["config"]
        resolved = records.read_json(point["config"])
        assert records.read_json(f"{point['run_dir']}/config.json") == resolved
        # the same config the child built from --set strings before
        sets = [*OFF[1::2], "steps=6", *(kv for kv in point["name"].split(","))]
        assert resolved == to_dict(apply_overrides(TrainConfig, preset("test"), sets))
        assert point["overrides"]["lr"] == resolved["lr"] == 0.01
    assert index[0]["name"] == "batch_size=4,lr=1e-2,seed=0"
    children.clear()
    assert main(argv) == 0 and children == []  # every point finished: all skipped
    assert "skip" not in capsys.readouterr().err  # --quiet


@pytest.mark.slow
def test_sweep_runs_skips_and_resumes(tmp_path, capsys):
    assert sweep(tmp_path) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "sweep.json")
    index = records.read_json(tmp_path / "sweep.json")
    names = [p["name"] for p in index["points"]]
    assert names == ["batch_size=4,lr=0.05", "batch_size=8,lr=0.05"]
    for p in index["points"]:
        assert p["status"] == "finished" and p["exit_code"] == 0
        cfg = records.read_json(f"{p['run_dir']}/config.json")
        assert (
            cfg["batch_size"]
            == p["overrides"]["batch_size"]
            == (int(p["name"].split(",")[0].split("=")[1]))
        )
    # Simulate a point that was interrupted: re-running resumes only that one.
    run4 = tmp_path / "train" / names[0]
    records.RunDir(run4).set_status("interrupted", step=20)
    assert sweep(tmp_path) == 0
    index = records.read_json(tmp_path / "sweep.json")
    assert [p["status"] for p in index["points"]] == ["finished", "finished"]
    assert "exit_code" in index["points"][0]  # it ran again (as a resume)
    assert "exit_code" not in index["points"][1]  # skipped
    kinds = [r.get("kind") for r in records.read_jsonl(run4 / "metrics.jsonl")]
    assert kinds.count("resume") == 1


def test_sweep_refuses_changed_configs_and_bad_grids(tmp_path, capsys):
    # An existing point folder whose config differs from the plan (no processes).
    clash = tmp_path / "train" / "batch_size=4,lr=0.05"
    clash.mkdir(parents=True)
    records.write_json(clash / "config.json", {"lr": 1.0})
    assert sweep(tmp_path) == 2
    assert "different config" in capsys.readouterr().err
    assert not (tmp_path / "sweep.json").exists()
    assert (
        main(
            [
                "sweep",
                "--preset",
                "test",
                "--grid",
                "lr=-1",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert (
        main(
            ["sweep", "--preset", "test", "--grid", "lr", "--out", str(tmp_path / "x")]
        )
        == 2
    )
    assert (
        main(
            [
                "sweep",
                "--preset",
                "test",
                "--grid",
                "lr=1",
                "--jobs",
                "0",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    for bad in ("bogus=1,2", "batch_size=four", "track.minibs=5"):
        code = main(
            ["sweep", "--preset", "test", "--grid", bad, "--out", str(tmp_path / "x")]
        )
        assert code == 2
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="twice"):
        parse_grid(["lr=1", "lr=2"])
    assert (
        point_name([("model.name", "mlp"), ("lr", "1e-3")]) == "model.name=mlp,lr=1e-3"
    )


def test_sweep_named_points_run_their_config_files(tmp_path, monkeypatch, capsys):
    # --point NAME=CONFIG: heterogeneous runs (e.g. the noise variants) in one sweep
    children = []

    def run_in_process(self, task, env):
        children.append(task.command()[3:])
        return main(task.command()[3:]), ""

    monkeypatch.setattr(sweep_cmd._Runner, "launch", run_in_process)
    base = to_dict(
        apply_overrides(TrainConfig, preset("test"), [*OFF[1::2], "steps=6"])
    )
    gd = {**base, "optim": {**base["optim"], "name": "gd"}}
    records.write_json(tmp_path / "sgd.json", base)
    records.write_json(tmp_path / "gd.json", gd)
    out = tmp_path / "noise"
    argv = ["sweep", "--point", f"sgd={tmp_path / 'sgd.json'}"]
    argv += ["--point", f"gd={tmp_path / 'gd.json'}", "--set", "lr=0.02"]
    argv += ["--out", str(out), "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    index = records.read_json(out / "sweep.json")["points"]
    assert [p["name"] for p in index] == ["sgd", "gd"] and len(children) == 2
    for p, want in zip(index, (base, gd), strict=True):
        stored = records.read_json(out / "train" / p["name"] / "config.json")
        assert stored == {**want, "lr": 0.02}  # the file plus --set
        assert p["status"] == "finished"
    children.clear()
    assert main(argv) == 0 and children == []  # finished points are skipped


@pytest.mark.parametrize(
    "point, message",
    [
        ("sgd", "NAME=CONFIG"),
        ("../x={cfg}", "use letters"),
        ("a=missing.json", "not found"),
    ],
)
def test_sweep_named_points_refuse_bad_items(tmp_path, capsys, point, message):
    cfg = tmp_path / "c.json"
    records.write_json(cfg, to_dict(apply_overrides(TrainConfig, preset("test"), [])))
    out = tmp_path / "o"
    argv = ["sweep", "--point", point.format(cfg=cfg), "--out", str(out)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err and not out.exists()
    twice = ["sweep", "--point", f"a={cfg}", "--point", f"a={cfg}", "--out", str(out)]
    assert main(twice) == 2 and "given twice" in capsys.readouterr().err
    mixed = ["sweep", "--point", f"a={cfg}", "--grid", "lr=0.1", "--out", str(out)]
    assert main(mixed) == 2 and "--point takes full configs" in capsys.readouterr().err
    assert not out.exists()
