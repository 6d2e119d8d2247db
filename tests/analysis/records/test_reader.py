"""The one reader of run directories: declared tables, config accessors, discovery."""

import re
from pathlib import Path

import pytest
from synthetic_runs import write_gap_table, write_train_run

from eoss.analysis.cli.main import main
from eoss.analysis.cli.overrides import apply_overrides, from_dict, to_dict
from eoss.analysis.records.io import read_json, write_json
from eoss.analysis.records.reader import (
    CONFIG_FIELDS,
    RunTables,
    config_value,
    dataclass_paths,
    load_run,
)
from eoss.analysis.records.run_dir import RunDir
from eoss.analysis.study.inputs import declared_kind, discover_inputs
from eoss.empirical.training.config import TrainConfig
from eoss.empirical.training.presets import preset
from eoss.empirical.training.rows import COLUMN_TABLES, COLUMNS

ROOT = Path(__file__).resolve().parents[3]
PATHS = dataclass_paths(TrainConfig)
GROUPS = {p for p in PATHS if any(q[: len(p)] == p and q != p for q in PATHS)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short ``eoss train`` run with non-default config values."""
    out = tmp_path_factory.mktemp("reader")
    sets = ["steps=30", "seed=3", "data.n_train=48", "optim.sampling=iid"]
    sets += ["track.ntk.every=30", "lr=0.04", "batch_size=6"]
    args = ["train", "--preset", "test", "--out", str(out), "--name", "r", "--quiet"]
    assert main([*args, "--device", "cpu", *[f"--set={s}" for s in sets]]) == 0
    return load_run(out / "train" / "r")


def test_accessors_equal_the_train_config(trained):
    cfg = from_dict(TrainConfig, trained.config)
    assert (trained.lr, trained.batch_size) == (cfg.lr, cfg.batch_size) == (0.04, 6)
    assert (trained.steps, trained.seed) == (cfg.steps, cfg.seed) == (30, 3)
    assert trained.n_train == cfg.data.n_train == 48
    assert trained.optimizer == cfg.optim.name == "sgd"
    assert trained.sampling == cfg.optim.sampling == "iid"
    assert trained.noise_kind == cfg.noise.kind == "none"


def test_tables_read_back_with_the_declared_columns(trained):
    assert trained.status["kind"] == "train" and trained.status["status"] == "finished"
    for table in COLUMN_TABLES:
        assert trained.has(table), table
        assert set(trained.tables[table]) <= set(COLUMNS[table]), table
        assert len(trained.column(table, "step")) > 0


@pytest.mark.parametrize("name", sorted(CONFIG_FIELDS))
def test_every_config_field_is_a_train_config_field(name):
    path = CONFIG_FIELDS[name]
    assert path in PATHS and path not in GROUPS, path  # a leaf field of TrainConfig
    assert isinstance(getattr(RunTables, name), property)


@pytest.mark.parametrize(
    "sets",
    [
        ["optim.name=noisy_gd", "noise.kind=diagonal", "noise.batch_size=4"],
        ["optim.name=momentum", "optim.sampling=iid", "data.n_train=32", "seed=7"],
    ],
)
def test_accessors_read_a_stored_config(tmp_path, sets):
    cfg = apply_overrides(TrainConfig, preset("test"), sets)
    run = RunDir.create(tmp_path, "train", to_dict(cfg), name="c", env={})
    run.close()
    tables = load_run(run.path)
    for name, path in CONFIG_FIELDS.items():
        value = cfg
        for key in path:
            value = getattr(value, key)
        assert getattr(tables, name) == value, name
        assert config_value(tables.config, path) == value


def test_accessors_of_a_partial_config_are_none():
    run = RunTables(Path("x"), "x", {"lr": 0.1, "noise": {}}, {}, {}, {})
    assert run.lr == 0.1 and run.batch_size is None and run.noise_kind is None
    assert config_value({"data": 3}, ("data", "n_train")) is None
    assert config_value({"data": {"n": 1}}, ("data",)) is None  # a group, not a value


def test_analysis_reads_only_declared_columns():
    """Every literal ``.column("table", "key")`` in the analysis names a declared
    column, so renaming a row field fails here instead of reading empty arrays."""
    pairs = set()
    for path in sorted((ROOT / "analysis").rglob("*.py")):
        text = path.read_text()
        pairs |= set(re.findall(r'\.column\(\s*"(\w+)",\s*"(\w+)"\s*\)', text))
        for table, keys in re.findall(
            r'\.column\(\s*"(\w+)",\s*k\s*\)\s*for\s+k\s+in\s+\(([^)]*)\)', text
        ):
            pairs |= {(table, k) for k in re.findall(r'"(\w+)"', keys)}
    assert len(pairs) > 10
    assert {(t, k) for t, k in pairs if k not in COLUMNS.get(t, ())} == set()


# ---- status.json kind and discovery ----------------------------------------------


def test_run_dir_records_and_keeps_its_kind(tmp_path):
    run = RunDir.create(tmp_path, "static-gap", {"step": 0}, name="s", env={})
    assert run.kind == "static-gap" and run.status["kind"] == "static-gap"
    RunDir(run.path).set_status("finished", n_rows=0)  # a later writer keeps it
    status = read_json(run.path / "status.json")
    assert (status["status"], status["kind"], status["n_rows"]) == (
        "finished",
        "static-gap",
        0,
    )
    assert declared_kind(run.path) == "static-gap"


def test_old_folders_without_a_kind_keep_none(tmp_path):
    write_json(tmp_path / "config.json", {"lr": 0.1})
    write_json(tmp_path / "status.json", {"status": "running"})
    run = RunDir.open(tmp_path)
    assert run.kind is None
    run.set_status("finished")
    assert "kind" not in read_json(tmp_path / "status.json")
    assert declared_kind(tmp_path) is None


def test_discovery_by_declared_kind(tmp_path):
    run = write_train_run(tmp_path / "runs", "a", steps=200)
    # A static-gap measurement that failed: config.json and metrics.jsonl, but no
    # static_gap.csv. It declares its kind, so it is not mistaken for a run.
    failed = RunDir.create(tmp_path / "runs", "static-gap", {"step": 0}, name="f")
    failed.append("fullbs", {"step": 0, "fullbs": 1.0})
    failed.set_status("failed", reason="boom")
    failed.close()
    sim = write_gap_table(tmp_path / "sim", "simulate", [1, 2, 4], n=64)
    doc = read_json(sim / "results.json")
    write_json(sim / "results.json", {"kind": "simulate", **doc})
    found = discover_inputs([tmp_path])
    assert [r.path for r in found.runs] == [run]
    assert [t.path for t in found.simulate] == [sim] and found.static == ()
    assert declared_kind(run) == "train" and declared_kind(sim) == "simulate"


def test_discovery_falls_back_to_file_names_for_old_folders(tmp_path):
    run = write_train_run(tmp_path, "old", steps=200)
    status = read_json(run / "status.json")
    write_json(run / "status.json", {k: v for k, v in status.items() if k != "kind"})
    static = write_gap_table(
        tmp_path / "st", "static", [1, 2, 4], config={"n_train": 64}
    )
    sim = write_gap_table(tmp_path / "sim", "simulate", [1, 2], config={"n": 32})
    found = discover_inputs([tmp_path])
    assert [r.path for r in found.runs] == [run]
    assert [t.path for t in found.static] == [static]
    assert [t.path for t in found.simulate] == [sim]
    assert (found.static[0].n, found.simulate[0].n) == (64, 32)


def test_gap_table_accessors(tmp_path):
    st = write_gap_table(
        tmp_path / "st", "static", [1, 2], config={"n_train": 64, "sampling": "without"}
    )
    sim = write_gap_table(tmp_path / "sim", "simulate", [1, 2], config={"n": 10})
    found = discover_inputs([tmp_path])
    (static,), (simulate,) = found.static, found.simulate
    assert static.path == st and (static.n, static.sampling) == (64, "without")
    assert simulate.path == sim and (simulate.n, simulate.sampling) == (10, None)
