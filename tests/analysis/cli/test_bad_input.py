"""Every subcommand, driven with bad input: exit 2, one line, no traceback, no files.

Each case runs ``main([...])`` in-process in a scratch working directory (so
default output folders would land there too) and checks that

* the exit code is 2;
* stderr is exactly one line, names the problem (a needle from the case) and
  holds no traceback;
* no file or folder was created, removed or changed anywhere under the scratch
  tree (the fixture's runs, data files and outputs included).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from eoss.analysis import records
from eoss.analysis.cli.main import main

OFF = [
    "--set",
    "track.fullbs.every=0",
    "--set",
    "track.minibs.every=0",
    "--set",
    "track.step_sharpness.every=0",
]


def _train(out: Path, name: str, *extra: str) -> Path:
    argv = ["train", "--preset", "test", *OFF, "--set", "steps=20"]
    argv += ["--set", "checkpoint.every=10", "--out", str(out), "--name", name]
    assert main([*argv, "--quiet", "--device", "cpu", *extra]) == 0
    return out / "train" / name


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Runs, data files and outputs, good and bad, under one scratch folder."""
    base = tmp_path_factory.mktemp("bad_input")
    runs = base / "runs"
    good = _train(runs, "good")
    wide = _train(runs, "wide", "--set", "model.width=4")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4)).astype(np.float32)
    y = np.arange(16) % 2
    files = base / "files"
    files.mkdir()
    np.savez(files / "ok.npz", X=X, y=y)
    np.savez(files / "nan_y.npz", X=X, y=np.where(y > 0, np.nan, 1.0))
    np.savez(files / "inf_x.npz", X=np.full_like(X, np.inf), y=y)
    np.savez(files / "huge_x.npz", X=np.full((16, 4), 1e30), y=y)
    np.savez(files / "huge_label.npz", X=X, y=np.where(y > 0, 10**9, 0))
    np.savez(files / "no_y.npz", X=X)
    np.savez(files / "int_x.npz", X=np.zeros((16, 4), dtype=bool), y=y)
    (files / "text.npz").write_text("not an archive")
    (files / "a_file").write_text("x")
    (files / "bad.json").write_text("{not json")
    (files / "list.json").write_text("[1, 2]")
    (files / "bad.csv").write_text("b,gap\n1,x\n")
    (files / "empty.csv").write_text("")
    # checkpoints: corrupt, of another architecture, marked diverged
    corrupt = runs / "train" / "corrupt"
    shutil.copytree(good, corrupt)
    for ck in (corrupt / "checkpoints").glob("*.pt"):
        ck.write_bytes(ck.read_bytes()[:100])
    foreign = runs / "train" / "foreign"
    shutil.copytree(good, foreign)
    for ck in (foreign / "checkpoints").glob("*.pt"):
        shutil.copy(wide / "checkpoints" / ck.name, ck)
    diverged = runs / "train" / "diverged"
    shutil.copytree(good, diverged)
    (diverged / "checkpoints" / "step_20.pt").rename(
        diverged / "checkpoints" / "step_20.diverged.pt"
    )
    for run in (corrupt, foreign, diverged):
        records.RunDir(run).set_status("interrupted", step=20)
    edited = runs / "train" / "edited"
    shutil.copytree(good, edited)
    records.RunDir(edited).set_status("interrupted", step=20)
    cfg = records.read_json(edited / "config.json")
    records.write_json(edited / "config.json", {**cfg, "lr": 0.5})
    # a run on an npz that was overwritten afterwards
    np.savez(files / "later.npz", X=X, y=y)
    npz_run = _train(runs, "npz", "--data", str(files / "later.npz"))
    records.RunDir(npz_run).set_status("interrupted", step=20)
    np.savez(files / "later.npz", X=X + 1, y=y)
    # records of the wrong type
    bad_rec = runs / "train" / "badrec"
    shutil.copytree(good, bad_rec)
    with open(bad_rec / "metrics.jsonl", "a") as fh:
        fh.write('{"table": "eval", "step": "ten", "train_loss": 1.0}\n{"x": 1}\n')
    (base / "empty_dir").mkdir()
    return base


def _snapshot(base: Path) -> dict[str, str]:
    out = {}
    for p in sorted(base.rglob("*")):
        key = str(p.relative_to(base))
        if p.is_dir():
            out[key] = "dir"
        elif p.name == ".lock":  # an unheld lock file is empty (its pid is wiped)
            out[key] = "lock" if p.read_bytes() == b"" else "held"
        else:
            out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


R, F = "runs/train", "files"

CASES: dict[str, list[tuple[list[str], str]]] = {
    "derive": [
        (["derive", "nope"], "invalid choice"),
        (["derive", "diagonal-network", "--param", "x"], "invalid choice"),
        (["derive", "diagonal-network", "--loss-scale", "x"], "invalid choice"),
        (["derive", "diagonal-network", "--at", "a1"], "expected name=value"),
        (["derive", "diagonal-network", "--at", "a1=x"], "not a number"),
        (["derive", "diagonal-network", "--at", "a1=nan"], "finite"),
        (["derive", "diagonal-network", "--at", "a1=inf"], "finite"),
        (["derive", "diagonal-network", "--at", "a1=1,a1=2"], "twice"),
        (["derive", "diagonal-network", "--at", "zz=1"], "needs exactly"),
        (["derive", "diagonal-network", "--at", "a1=1,b1=1"], "missing"),
        (["derive", "diagonal-network", "--at", ""], "expected name=value"),
        (["derive", "lemma41", "--at", "a1=1"], "only to the diagonal"),
        (["derive", "all", "--seed", "x"], "invalid int"),
        (["derive", "all", "--seed", "-1"], "--seed"),
        (["derive"], "required"),
        (["derive", "all", "--bogus"], "unrecognized"),
    ],
    "simulate": [
        (["simulate"], "required"),
        (["simulate", "gap", "--family", "nope"], "family"),
        (["simulate", "gap", "--dim", "0"], "dim"),
        (["simulate", "gap", "--dim", "x"], "invalid int"),
        (["simulate", "gap", "--n", "0"], "n"),
        (["simulate", "gap", "--batch-sizes", "0"], "positive"),
        (["simulate", "gap", "--batch-sizes", "a"], "not an integer"),
        (["simulate", "gap", "--batches", "1"], "n_batches"),
        (["simulate", "gap", "--tol", "nan"], "tol"),
        (["simulate", "gap", "--tol", "2"], "tol"),
        (["simulate", "gap", "--config", f"{F}/missing.json"], "no config file"),
        (["simulate", "gap", "--config", f"{F}/bad.json"], "not valid JSON"),
        (["simulate", "gap", "--config", f"{F}/list.json"], "JSON object"),
        (["simulate", "gap", "--set", "bogus=1"], "unknown config key"),
        (["simulate", "gap", "--sampling", "x"], "sampling"),
        (["simulate", "gap", "--window", "1"], "window"),
        (["simulate", "gap", "--seed", "-1"], "seed"),
        (["simulate", "gap", "--out", f"{F}/a_file"], "a_file"),
        (["simulate", "gap", "--dim", "100000000"], "memory"),
    ],
    "sharpness": [
        (["sharpness", "--batch-size", "2"], "required"),
        (["sharpness", "--data", f"{F}/missing.npz", "--batch-size", "2"], "no data"),
        (["sharpness", "--data", f"{F}/text.npz", "--batch-size", "2"], "not an .npz"),
        (["sharpness", "--data", f"{F}/no_y.npz", "--batch-size", "2"], "'y'"),
        (["sharpness", "--data", f"{F}/nan_y.npz", "--batch-size", "2"], "y contains"),
        (["sharpness", "--data", f"{F}/inf_x.npz", "--batch-size", "2"], "X contains"),
        (["sharpness", "--data", f"{F}/huge_x.npz", "--batch-size", "2"], "too large"),
        (
            ["sharpness", "--data", f"{F}/huge_label.npz", "--batch-size", "2"],
            "memory",
        ),
        (["sharpness", "--data", f"{F}/int_x.npz", "--batch-size", "2"], "X must"),
        (["sharpness", "--data", f"{F}/ok.npz", "--batch-size", "0"], "--batch-size"),
        (["sharpness", "--data", f"{F}/ok.npz", "--batch-size", "99"], "exceeds"),
        (["sharpness", "--data", f"{F}/ok.npz", "--batch-size", "2", "--batches", "1"],
         "--batches"),
        (["sharpness", "--data", f"{F}/ok.npz", "--batch-size", "2", "--tol", "nan"],
         "--tol"),
        (
            ["sharpness", "--data", f"{F}/ok.npz", "--batch-size", "2",
             "--init-scale", "inf"],
            "init_scale",
        ),
        (
            ["sharpness", "--data", f"{F}/ok.npz", "--batch-size", "2",
             "--width", "1000000000"],
            "memory",
        ),
        (
            ["sharpness", "--data", f"{F}/ok.npz", "--batch-size", "2", "--out",
             "empty_dir"],
            "folder",
        ),
        (
            ["sharpness", "--dataset", "synthetic", "--n", "10000000000",
             "--batch-size", "2"],
            "memory",
        ),
        (["sharpness", "--dataset", "synthetic", "--n", "0", "--batch-size", "2"],
         "--n"),
        (["sharpness", "--checkpoint", f"{R}/missing", "--batch-size", "2"],
         "not a run directory"),
        (["sharpness", "--checkpoint", f"{R}/corrupt", "--batch-size", "2"],
         "not a readable checkpoint"),
        (["sharpness", "--checkpoint", f"{R}/foreign", "--batch-size", "2"],
         "does not fit"),
        (["sharpness", "--checkpoint", f"{R}/diverged:20", "--batch-size", "2"],
         "marked diverged"),
    ],
    "train": [
        (["train", "--preset", "test", "--set", "lr=inf"], "lr must be"),
        (["train", "--preset", "test", "--set", "lr=nan"], "lr must be"),
        (["train", "--preset", "test", "--set", "model.init_scale=inf"], "init_scale"),
        (["train", "--preset", "test", "--set", "schedule.lr_at=5",
          "--set", "schedule.lr_values=inf"], "lr_values"),
        (["train", "--preset", "test", "--set", "data.n_train=10000000000"],
         "memory"),
        (["train", "--preset", "test", "--set", "model.width=1000000000"], "memory"),
        (["train", "--preset", "nope"], "preset"),
        (["train", "--preset", "test", "--set", "bogus=1"], "unknown config key"),
        (["train", "--config", f"{F}/missing.json"], "no config file"),
        (["train", "--preset", "test", "--data", f"{F}/nan_y.npz"], "y contains"),
        (["train", "--preset", "test", "--data", f"{F}/huge_label.npz"], "memory"),
        (["train", "--preset", "test", "--data", f"{F}/text.npz"], "not an .npz"),
        (["train", "--preset", "test", "--device", "meta"], "cpu and cuda"),
        (["train", "--preset", "test", "--device", "mps"], "cpu and cuda"),
        (["train", "--preset", "test", "--device", "gpu7"], "--device"),
        (["train", "--preset", "test", "--name", "../../x"], "plain folder name"),
        (["train", "--preset", "test", "--name", "a/b"], "plain folder name"),
        (["train", "--preset", "test", "--out", f"{F}/a_file"], "a_file"),
        (["train", "--preset", "test", "--out", "runs", "--name", "good"],
         "already exists"),
        (["train", "--resume", f"{R}/missing"], "not a run directory"),
        (["train", "--resume", f"{R}/corrupt"], "not a readable checkpoint"),
        (["train", "--resume", f"{R}/foreign"], "does not fit"),
        (["train", "--resume", f"{R}/edited"], "differs from the config"),
        (["train", "--resume", f"{R}/npz"], "differ from the ones"),
        (["train", "--fork", f"{R}/diverged:20", "--set", "lr=0.01"],
         "marked diverged"),
        (["train", "--fork", f"{R}/good:999", "--set", "lr=0.01"], "no checkpoint"),
        (["train", "--fork", f"{R}/good", "--set", "seed=3"], "cannot change"),
        (["train", "--fork", f"{R}/corrupt", "--set", "lr=0.01"], "not a readable"),
    ],
    "sweep": [
        (["sweep", "--preset", "test", "--grid", "lr=0.1,0.1"], "repeated"),
        (["sweep", "--preset", "test", "--grid", "lr=0.1,1e-1"], "repeats"),
        (["sweep", "--preset", "test", "--grid", "lr=inf"], "lr must be"),
        (["sweep", "--preset", "test", "--grid", "bogus=1"], "unknown config key"),
        (["sweep", "--preset", "test", "--grid", "lr"], "KEY=V1"),
        (["sweep", "--preset", "test", "--grid", "lr=1", "--jobs", "0"], "--jobs"),
        (["sweep", "--preset", "test", "--grid", "lr=1", "--data",
          f"{F}/nan_y.npz"], "y contains"),
        (["sweep", "--preset", "test", "--grid", "lr=1", "--data",
          f"{F}/missing.npz"], "no data file"),
        (["sweep", "--preset", "test", "--grid", "lr=1", "--device", "meta"],
         "cpu and cuda"),
        (["sweep", "--preset", "test", "--grid", "lr=1", "--out", f"{F}/a_file"],
         "a_file"),
        (["sweep", "--preset", "test", "--grid", "batch_size=100000"], "exceeds"),
        (["sweep", "--preset", "test", "--grid", "lr=1", "--set",
          "optim.momentum=nan"], "momentum"),
        (["sweep", "--preset", "test", "--grid", "model.init_scale=1,inf"],
         "init_scale"),
        (["sweep", "--config", f"{F}/missing.json", "--grid", "lr=1"],
         "no config file"),
        (["sweep", "--preset", "test", "--grid", "data.n_train=10000000000"],
         "memory"),
        (["sweep", "--preset", "test", "--grid", "model.width=1000000000"],
         "memory"),
        (["sweep", "--preset", "test"], "required"),
    ],
    "static-gap": [
        (["static-gap", f"{R}/missing", "--batch-sizes", "2"], "not a run directory"),
        (["static-gap", f"{R}/corrupt", "--batch-sizes", "2"], "not a readable"),
        (["static-gap", f"{R}/foreign", "--batch-sizes", "2"], "does not fit"),
        (["static-gap", f"{R}/diverged:20", "--batch-sizes", "2"], "marked diverged"),
        (["static-gap", f"{R}/good:10", "--checkpoint", "20", "--batch-sizes", "2"],
         "give one of them"),
        (["static-gap", f"{R}/good", "--checkpoint", "999", "--batch-sizes", "2"],
         "no checkpoint"),
        (["static-gap", f"{R}/good", "--batch-sizes", "0"], "--batch-sizes"),
        (["static-gap", f"{R}/good", "--batch-sizes", "a"], "--batch-sizes"),
        (["static-gap", f"{R}/good", "--batch-sizes", "100000"], "exceeds"),
        (["static-gap", f"{R}/good", "--batch-sizes", "2", "--batches", "1"],
         "--batches"),
        (["static-gap", f"{R}/good", "--batch-sizes", "2", "--tol", "nan"], "--tol"),
        (["static-gap", f"{R}/good", "--batch-sizes", "2", "--seed", "-1"], "--seed"),
        (["static-gap", f"{R}/good", "--batch-sizes", "2", "--device", "meta"],
         "cpu and cuda"),
        (["static-gap", f"{R}/good", "--batch-sizes", "2", "--out", f"{F}/a_file"],
         "a_file"),
        (["static-gap", f"{R}/good", "--batch-sizes", "2", "--name", "../x"],
         "plain folder name"),
        (["static-gap", f"{R}/good", "--batch-sizes", "2", "--bn-mode", "x"],
         "invalid choice"),
        (["static-gap", f"{R}/good"], "required"),
    ],
    "fit": [
        (["fit", f"{F}/missing.csv", "--x", "b", "--y", "gap"], "no such file"),
        (["fit", f"{F}/bad.csv", "--x", "b", "--y", "gap"], "not numeric"),
        (["fit", f"{F}/empty.csv", "--x", "b", "--y", "gap"], "empty"),
        (["fit", f"{F}/bad.csv", "--x", "b", "--y", "nope"], "no column"),
        (["fit", f"{F}/bad.csv", "--x", "b", "--y", "gap", "--se", "se"],
         "no column"),
        (["fit", f"{F}/bad.csv", "--x", "b", "--y", "gap", "--window", "1"],
         "--window"),
        (["fit", f"{F}/bad.csv", "--x", "b", "--y", "gap", "--window", "5,1"],
         "--window"),
        (["fit", f"{F}/bad.csv", "--x", "b", "--y", "gap", "--window", "a,b"],
         "--window"),
        (["fit", f"{F}/bad.csv", "--x", "b", "--y", "gap", "--segments", "4"],
         "invalid choice"),
        (["fit", f"{F}/bad.csv", "--x", "b", "--y", "gap", "--scale", "x"],
         "invalid choice"),
        (["fit", f"{F}/bad.csv", "--x", "b", "--y", "gap", "--alpha", "x"],
         "invalid float"),
        (["fit", f"{F}/bad.csv", "--x", "b"], "required"),
        (["fit", f"{F}/ok.npz", "--x", "b", "--y", "gap"], "CSV"),
        (["fit", "empty_dir", "--x", "b", "--y", "gap"], "no such file"),
        (["fit", f"{F}/text.npz", "--x", "b", "--y", "gap"], "no data rows"),
    ],
    "report": [
        (["report", "nope", "--out", "rep"], "nope"),
        (["report", "empty_dir", "--out", "rep"], "no eoss outputs"),
        (["report", f"{R}/good", "--out", f"{F}/a_file"], "a_file"),
        (["report", f"{R}/good", "--out", "rep", "--reach-tol", "2"], "--reach-tol"),
        (["report", f"{R}/good", "--out", "rep", "--reach-tol", "nan"],
         "--reach-tol"),
        (["report", f"{R}/good", "--out", "rep", "--reach-tol", "0"], "--reach-tol"),
        (["report", f"{R}/good", "--out", "rep", "--max-trajectories", "-1"],
         "--max-trajectories"),
        (["report", f"{R}/good", "--out", "rep", "--max-trajectories", "x"],
         "invalid int"),
        (["report", f"{R}/badrec", "--out", "rep"], "metrics.jsonl:"),
        (["report", f"{F}/bad.json", "--out", "rep"], "bad.json"),
        (["report", f"{F}/list.json", "--out", "rep"], "list.json"),
        (["report", f"{R}/good"], "required"),
        (["report", "--out", "rep"], "required"),
        (["report", f"{F}/a_file", "--out", "rep"], "a_file"),
        (["report", f"{R}/good", "--out", "rep", "--bogus"], "unrecognized"),
    ],
    "export": [
        (["export"], "required"),
        (["export", "nowhere"], "nowhere"),
        (["export", f"{F}"], "no metrics.jsonl"),
        (["export", "empty_dir"], "no metrics.jsonl"),
        (["export", f"{F}/ok.npz"], "ok.npz"),
        (["export", f"{R}/good", "--to", "excel"], "invalid choice"),
        (["export", f"{R}/good", "--to", "CSV"], "invalid choice"),
        (["export", f"{R}/good", f"{R}/missing"], "missing"),
        (["export", f"{R}/good", "--out", f"{F}/ok.npz"], "ok.npz"),
        (["export", f"{R}/good", f"{R}/good"], "share the folder name"),
        (["export", f"{R}/badrec"], "metrics.jsonl:"),
        (["export", f"{R}/good", f"{R}/badrec", "--out", "x"], "metrics.jsonl:"),
        (["export", f"{R}/good", "nowhere", "--out", "x"], "nowhere"),
        (["export", f"{R}/good", "--bogus"], "unrecognized"),
        (["export", f"{R}/good", "--to"], "expected one argument"),
    ],
    "reproduce": [
        (["reproduce", "--preset", "nope"], "invalid choice"),
        (["reproduce", "--preset", "smoke", "--device", "meta"], "cpu and cuda"),
        (["reproduce", "--preset", "smoke", "--device", "mps", "--dry-run"],
         "cpu and cuda"),
        (["reproduce", "--preset", "smoke", "--device", "x", "--dry-run"],
         "--device"),
        (["reproduce", "--preset", "smoke", "--runs-root", f"{F}/a_file"],
         "a_file"),
        (["reproduce", "--preset", "smoke", "--out", f"{F}/a_file", "--dry-run"],
         "a_file"),
        (["reproduce", "--preset", "quick", "--data-root", f"{F}/a_file"],
         "a_file"),
        (["reproduce", "--preset", "quick", "--data-root", f"{F}/a_file",
          "--dry-run"], "a_file"),
        (["reproduce", "--preset", "quick", "--data-root", "nowhere", "--dry-run"],
         "does not exist"),
        (["reproduce", "--preset", "quick", "--data-root", ""], "--data-root"),
        (["reproduce", "--preset", "quick", "--data-root", "", "--dry-run"],
         "--data-root"),
        (["reproduce", "--preset", "smoke", "--runs-root", f"{F}/a_file",
          "--dry-run"], "a_file"),
        (["reproduce", "--preset", "smoke", "--out", f"{F}/a_file"], "a_file"),
        (["reproduce", "--bogus"], "unrecognized"),
        (["reproduce", "--preset", "smoke", "--device", "cuda:x"], "--device"),
    ],
}

PARAMS = [
    pytest.param(argv, needle, id=f"{cmd}-{i}")
    for cmd, cases in CASES.items()
    for i, (argv, needle) in enumerate(cases)
]


def test_every_subcommand_has_15_bad_inputs():
    from eoss.analysis.cli.main import COMMANDS

    names = {c.replace("_", "-") for c in COMMANDS}
    assert names <= set(CASES)
    assert all(len(CASES[n]) >= 15 for n in names)


@pytest.mark.parametrize(("argv", "needle"), PARAMS)
def test_bad_input_is_one_clean_line(world, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(world)
    monkeypatch.delenv("EOSS_DATA_ROOT", raising=False)
    before = _snapshot(world)
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.split("\n") if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and needle in lines[0], err
    assert _snapshot(world) == before, err
