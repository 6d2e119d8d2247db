import json
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pytest

from eoss.analysis import records
from eoss.analysis.cli.overrides import apply_overrides, from_dict, to_dict


@dataclass(frozen=True)
class Inner:
    every: int = 10
    kind: Literal["lin", "log"] = "lin"


@dataclass(frozen=True)
class Outer:
    lr: float = 0.1
    steps: int = 5
    quiet: bool = False
    sizes: tuple[int, ...] = (1, 2)
    note: str | None = None
    track: Inner = field(default_factory=Inner)

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


def test_overrides_typed_and_nested():
    cfg = apply_overrides(
        Outer, {}, ["lr=0.5", "quiet=true", "sizes=4,8", "track.kind=log", "note=none"]
    )
    assert cfg == Outer(lr=0.5, quiet=True, sizes=(4, 8), track=Inner(kind="log"))
    assert from_dict(Outer, to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "item, msg",
    [
        ("lr=abc", "lr must be float"),
        ("quiet=yes", "true or false"),
        ("bogus=1", "unknown config key"),
        ("track.kind=cubic", "must be one of"),
        ("lr=-1", "lr must be > 0"),
        ("lr", "key=value"),
    ],
)
def test_overrides_reject_bad_input(item, msg):
    with pytest.raises(ValueError, match=msg):
        apply_overrides(Outer, {}, [item])


def test_from_dict_rejects_unknown_and_wrong_types():
    with pytest.raises(ValueError, match="unknown config key"):
        from_dict(Outer, {"track": {"evry": 3}})
    with pytest.raises(ValueError, match="must be an integer"):
        from_dict(Outer, {"steps": 2.5})


def test_jsonl_survives_torn_last_line(tmp_path):
    path = tmp_path / "m.jsonl"
    with records.JsonlWriter(path) as w:
        w.write({"table": "a", "x": 1.0})
        w.write({"table": "b", "x": float("nan")})
    with open(path, "a") as fh:
        fh.write('{"table": "a", "x": ')  # a kill mid-record
    recs = records.read_jsonl(path)
    assert recs == [{"table": "a", "x": 1.0}, {"table": "b", "x": None}]
    assert records.read_jsonl(path, table="a") == [{"table": "a", "x": 1.0}]


def test_run_dir_and_atomic_files(tmp_path):
    run = records.RunDir.create(tmp_path, "train", {"lr": 0.1}, name="r1", env={"x": 1})
    run.append("history", {"step": 0, "loss": np.float32(1.5)})
    run.close()
    assert run.status["status"] == "running"
    run.set_status("finished", wall_s=1.0)
    again = records.RunDir.open(run.path)
    assert again.config == {"lr": 0.1}
    assert again.records("history") == [{"table": "history", "step": 0, "loss": 1.5}]
    assert again.status["status"] == "finished"
    with pytest.raises(FileExistsError):
        records.RunDir.create(tmp_path, "train", {"lr": 0.1}, name="r1")
    records.write_csv(tmp_path / "t.csv", [{"a": 1, "b": None}, {"a": 2, "c": "x"}])
    assert records.read_csv(tmp_path / "t.csv") == [
        {"a": "1", "b": "", "c": ""},
        {"a": "2", "b": "", "c": "x"},
    ]
    assert not list(tmp_path.glob("**/*.tmp"))
    json.loads(records.dumps({"a": np.arange(3), "b": float("inf")}))
