"""The compact raw records: gzipped tables that read back exactly, and only them."""

import gzip

import numpy as np
import pytest

from eoss.analysis.records.archive import archive_records, metrics_file
from eoss.analysis.records.reader import load_run
from eoss.analysis.study.inputs import discover_inputs
from tests.synthetic_runs import write_derive_json, write_gap_table, write_train_run


def _tree(tmp_path):
    root = tmp_path / "runs"
    run = write_train_run(root / "sweep", "b=16", batch_size=16, seed=3)
    (run / "checkpoints").mkdir(exist_ok=True)
    (run / "checkpoints" / "step_100.pt").write_bytes(b"\0" * 1000)
    (run / "logs").mkdir(exist_ok=True)
    (run / "logs" / "stdout.log").write_text("noise\n")
    (run / "curve.png").write_bytes(b"png")
    write_gap_table(root / "static", "static", [1, 2, 4, 8, 16])
    (root / "derive").mkdir(parents=True)
    write_derive_json(root / "derive" / "derive.json")
    return root, run


def test_archive_keeps_tables_gzipped_and_drops_states_logs_figures(tmp_path):
    root, run = _tree(tmp_path)
    res = archive_records([root / "sweep", root / "static", root / "derive"],
                          tmp_path / "raw", root)  # fmt: skip
    raw = tmp_path / "raw"
    names = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file())
    packed = raw / "sweep" / "train" / "b=16" / "metrics.jsonl.gz"
    assert packed.as_posix().removeprefix(raw.as_posix() + "/") in names
    assert not any(n.endswith((".pt", ".log", ".png")) for n in names)
    assert not any("/checkpoints/" in n or "/logs/" in n for n in names)
    assert (raw / "static" / "static_gap.csv").is_file()
    assert (raw / "derive" / "derive.json").is_file()
    # Byte-exact contents; the gzip header carries no time, so rebuilding is stable.
    assert gzip.decompress(packed.read_bytes()) == (run / "metrics.jsonl").read_bytes()
    first = packed.read_bytes()
    archive_records([root / "sweep"], raw, root)
    assert packed.read_bytes() == first
    assert res.n_files == len(names) and res.n_bytes < res.source_bytes


def test_archived_run_reads_back_identically(tmp_path):
    root, run = _tree(tmp_path)
    archive_records([root / "sweep"], tmp_path / "raw", root)
    copy = tmp_path / "raw" / "sweep" / "train" / "b=16"
    assert metrics_file(copy).name == "metrics.jsonl.gz"
    assert metrics_file(run).name == "metrics.jsonl"
    a, b = load_run(run), load_run(copy)
    assert a.config == b.config and a.status == b.status and a.events == b.events
    for table, cols in a.tables.items():
        assert cols.keys() == b.tables[table].keys()
        for key, values in cols.items():
            np.testing.assert_array_equal(values, b.tables[table][key])


def test_discovery_finds_the_same_inputs_in_the_archive(tmp_path):
    root, _ = _tree(tmp_path)
    archive_records([root], tmp_path / "raw", root)
    a, b = discover_inputs([root]), discover_inputs([tmp_path / "raw"])
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    assert len(a.static) == len(b.static) == 1
    assert len(a.derive) == len(b.derive) == 1


def test_a_source_outside_the_root_is_refused(tmp_path):
    root, _ = _tree(tmp_path)
    with pytest.raises(ValueError, match="is not under"):
        archive_records([tmp_path], tmp_path / "raw", root)


def test_a_truncated_archive_is_named_in_one_error(tmp_path):
    root, _ = _tree(tmp_path)
    archive_records([root / "sweep"], tmp_path / "raw", root)
    packed = tmp_path / "raw" / "sweep" / "train" / "b=16" / "metrics.jsonl.gz"
    packed.write_bytes(packed.read_bytes()[:40])
    with pytest.raises(ValueError, match="not a complete gzip file"):
        load_run(packed.parent)


def test_eoss_report_raw_archives_and_the_archive_rebuilds_the_report(tmp_path):
    from eoss.analysis.cli.main import main

    root, _ = _tree(tmp_path)
    (tmp_path / "rep" / "raw" / "stale").mkdir(parents=True)  # a previous build's
    assert main(["report", str(root), "--out", str(tmp_path / "rep"), "--raw"]) == 0
    raw = tmp_path / "rep" / "raw"
    assert not (raw / "stale").exists()
    assert (raw / "runs" / "sweep" / "train" / "b=16" / "metrics.jsonl.gz").is_file()
    # The archive keeps the input's own folder name: report that folder again.
    assert main(["report", str(raw / "runs"), "--out", str(tmp_path / "again")]) == 0
    a = (tmp_path / "rep" / "claims.csv").read_text()
    assert a == (tmp_path / "again" / "claims.csv").read_text()


def test_archiving_an_archive_keeps_its_gzipped_tables(tmp_path):
    """Records that are already archived (only metrics.jsonl.gz) are archived again
    as they are; a run with both keeps the plain table's bytes."""
    root, run = _tree(tmp_path)
    archive_records([root / "sweep"], tmp_path / "raw", root)
    first = tmp_path / "raw"
    archive_records([first / "sweep"], tmp_path / "raw2", first)
    packed = "sweep/train/b=16/metrics.jsonl.gz"
    assert (tmp_path / "raw2" / packed).read_bytes() == (first / packed).read_bytes()
    a, b = load_run(run), load_run(tmp_path / "raw2" / "sweep" / "train" / "b=16")
    np.testing.assert_array_equal(a.tables["minibs"]["minibs"],
                                  b.tables["minibs"]["minibs"])  # fmt: skip
    # plain and gzipped side by side: the plain one wins, once
    (run / "metrics.jsonl.gz").write_bytes(b"stale")
    archive_records([root / "sweep"], tmp_path / "raw3", root)
    out = tmp_path / "raw3" / packed
    assert gzip.decompress(out.read_bytes()) == (run / "metrics.jsonl").read_bytes()
