"""``eoss export``: a run's tables as CSV files and as pandas DataFrames."""

import csv
import importlib.util

import pytest

from eoss.analysis import records
from eoss.analysis.cli import export
from eoss.analysis.cli.main import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    argv = ["train", "--preset", "test", "--set", "steps=20"]
    argv += ["--set", "track.fullbs.every=10", "--set", "track.minibs.every=10"]
    argv += ["--out", str(out), "--name", "r", "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    return out / "train" / "r"


def test_csv_has_every_table_and_its_rows(run, tmp_path, capsys):
    assert main(["export", str(run), "--out", str(tmp_path / "x")]) == 0
    folder = tmp_path / "x" / "r"
    assert capsys.readouterr().out.strip() == str(folder)
    tables = export.run_tables(run)
    assert {"train", "fullbs", "minibs"} <= set(tables)
    for name, rows in tables.items():
        with open(folder / f"{name}.csv") as fh:
            got = list(csv.DictReader(fh))
        assert len(got) == len(rows)
        assert [int(r["step"]) for r in got] == [r["step"] for r in rows]
    with open(folder / "fullbs.csv") as fh:
        fullbs = list(csv.DictReader(fh))
    assert float(fullbs[-1]["fullbs"]) == pytest.approx(tables["fullbs"][-1]["fullbs"])
    assert records.read_json(folder / "config.json") == records.read_json(
        run / "config.json"
    )


def test_frames_are_the_same_tables(run):
    pytest.importorskip("pandas")
    frames = export.run_frames(run)
    tables = export.run_tables(run)
    assert set(frames) == set(tables)
    assert list(frames["minibs"]["step"]) == [r["step"] for r in tables["minibs"]]
    assert frames["minibs"]["minibs"].iloc[-1] == tables["minibs"][-1]["minibs"]


def test_optional_targets_say_which_package_is_missing(
    run, tmp_path, monkeypatch, capsys
):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("tensorboard", "wandb") else real(name, *a),
    )
    for target in ("tensorboard", "wandb"):
        out = tmp_path / target
        assert main(["export", str(run), "--to", target, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"pip install {target}" in err and err.count("\n") == 1
        assert not out.exists()
