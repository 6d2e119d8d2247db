"""``eoss export --to tensorboard|wandb``: the run's tables, read back from the files.

Both targets are optional extras; each test skips cleanly when its package is
missing. The TensorBoard events are read with tensorboard's own
``EventAccumulator`` (no TensorFlow needed); the offline W&B run is read from its
``run-<id>.wandb`` file (a LevelDB-style log of protobuf ``Record`` s, the format
``wandb sync`` uploads).
"""

import json
import struct
from pathlib import Path

import pytest
from synthetic_runs import write_train_run

from eoss.analysis.cli import export
from eoss.analysis.cli.main import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small synthetic run: train, eval, fullbs, minibs, step_sharpness tables."""
    root = tmp_path_factory.mktemp("loggers")
    return write_train_run(root, "tiny", steps=200, every=50, seed=3)


def _expected(run_path):
    """(table/field) → [(step, value)] of every numeric field, in file order."""
    out: dict[str, list[tuple[int, float]]] = {}
    for table, rows in export.run_tables(run_path).items():
        for i, r in enumerate(rows):
            for key, val in r.items():
                numeric = isinstance(val, (int, float)) and not isinstance(val, bool)
                if key != "step" and numeric:
                    out.setdefault(f"{table}/{key}", []).append((r.get("step", i), val))
    return out


def test_tensorboard_scalars_equal_the_run_tables(run, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    out = tmp_path / "tb"
    assert main(["export", str(run), "--to", "tensorboard", "--out", str(out)]) == 0
    folder = out / run.name
    assert capsys.readouterr().out.strip() == str(folder)
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    expected = _expected(run)
    assert set(acc.Tags()["scalars"]) == set(expected)
    assert {"minibs/minibs", "fullbs/fullbs", "train/loss"} <= set(expected)
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in points], tag
        # event files store float32
        assert [v for _, v in got] == pytest.approx([v for _, v in points], rel=1e-6)


_BLOCK, _HEADER = 32768, 7  # LevelDB log: 32 KiB blocks, 7-byte record headers
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _wandb_records(path: Path) -> list[bytes]:
    """The records of a ``.wandb`` file (W&B's LevelDB-style transaction log)."""
    data = path.read_bytes()
    ident, magic, version = struct.unpack("<4sHB", data[:_HEADER])
    if (ident, magic, version) != (b":W&B", 0xBEE1, 0):
        pytest.skip(f"unknown .wandb file header {ident!r} {magic:#x} v{version}")
    records, pending, pos = [], b"", _HEADER
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:  # a block's tail too short for a header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        chunk = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == _FULL:
            records.append(chunk)
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            records.append(pending + chunk)
        elif kind == 0 and length == 0:  # zero padding at the end of the file
            break
    return records


def _wandb_history(folder: Path) -> list[dict]:
    from wandb.proto import wandb_internal_pb2 as pb

    (log,) = folder.glob("run-*.wandb")
    rows = []
    for raw in _wandb_records(log):
        rec = pb.Record()
        rec.ParseFromString(raw)
        if rec.WhichOneof("record_type") == "history":
            items = rec.history.item
            rows.append(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in items
                }
            )
    return rows


def test_wandb_offline_run_holds_every_record(run, tmp_path, monkeypatch, capsys):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-dir"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "wb"
    assert main(["export", str(run), "--to", "wandb", "--out", str(out)]) == 0
    printed = Path(capsys.readouterr().out.strip().splitlines()[-1])
    (folder,) = (out / "wandb").glob("offline-run-*")
    assert printed == folder
    history = _wandb_history(folder)
    tables = export.run_tables(run)
    # one history row per record that has a numeric field
    assert len(history) == sum(len(rows) for rows in tables.values())
    expected = _expected(run)
    for tag, points in expected.items():
        table = tag.split("/")[0]
        got = [(h[f"{table}/step"], h[tag]) for h in history if tag in h]
        assert got == [(int(s), pytest.approx(v)) for s, v in points], tag
