"""``eoss train`` on two gloo ranks equals the one-process run; rank 1 writes nothing.

Two ``eoss train`` processes are started with the environment ``torchrun`` gives
its workers (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``PORT``), so the test goes
through the command's torchrun branch (:mod:`eoss.analysis.cli.train_ranks`), the
loop's agreed verdicts and the tracker's split FullBS and MiniBS. Rank 1 is given
another ``--out`` and working directory: both must stay empty (it writes
nothing, whatever its arguments say).

Tolerances (float64, 64 rows, a 314-parameter MLP): the updates are replicated, so
the training losses are the one-process ones bit for bit (rank 0 runs the same
operations; the broadcast of its own parameters changes nothing). FullBS sums
each product over two shards of 32 rows (chunks of 16) instead of one loop of 4
chunks, a reordering of 4 terms: a few ulp per product, and Lanczos to
``track.tol=1e-10`` amplifies that by no more than its conditioning, far below
1e-9 relative. MiniBS solves the second half of the batches on rank 1 from other
random start vectors; with a residual ≤ 1e-10 |λ| each λ_max(H_B) is exact to
≲ (1e-10 |λ|)² / gap plus rounding, so 1e-9 relative bounds every difference
(observed: at most 1.1e-14, for the SE of the control-variate gap).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from eoss.analysis.cli.main import UsageError, main
from eoss.analysis.cli.overrides import from_dict
from eoss.analysis.cli.train_ranks import Leader
from eoss.empirical.training.config import TrainConfig
from eoss.empirical.training.presets import preset

SET = [
    "dtype=float64", "steps=30", "track.tol=1e-10", "track.chunk_size=16",
    "track.eval.every=10", "track.fullbs.every=10", "track.minibs.every=10",
    "track.step_sharpness.every=15", "checkpoint.every=15",
]  # fmt: skip
ARGS = ["train", "--preset", "test", "--device", "cpu", "--quiet", "--name", "r"]
ARGS += [x for kv in SET for x in ("--set", kv)]

# Per table, the fields that depend on the work split (timings, solver paths).
NOT_COMPARED = {"seconds", "n_matvecs", "method", "residual", "residual_max"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_ranks(argv_of, cwd_of, size: int = 2) -> list[subprocess.Popen]:
    port = _free_port()
    procs = []
    for rank in range(size):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(size),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        cmd = [sys.executable, "-m", "eoss", *argv_of(rank)]
        procs.append(
            subprocess.Popen(
                cmd,
                env=env,
                cwd=cwd_of(rank),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def _finish(procs) -> list[tuple[int, str, str]]:
    outs = [p.communicate(timeout=300) for p in procs]
    return [(p.returncode, o, e) for p, (o, e) in zip(procs, outs, strict=True)]


def _records(run_dir) -> dict[str, list[dict]]:
    tables: dict[str, list[dict]] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        tables.setdefault(rec.pop("table"), []).append(rec)
    return tables


def _max_rel_diff(one: dict, two: dict) -> dict[str, float]:
    """Largest relative difference of every numeric field, per table.field."""
    out: dict[str, float] = {}
    assert one.keys() == two.keys()
    for table, rows in one.items():
        assert len(rows) == len(two[table]), table
        for a, b in zip(rows, two[table], strict=True):
            assert a.keys() == b.keys() and a["step"] == b["step"]
            for key, x in a.items():
                y = b[key]
                if key in NOT_COMPARED or not isinstance(x, float):
                    assert key in NOT_COMPARED or x == y, (table, key, x, y)
                    continue
                rel = abs(x - y) / max(abs(x), 1e-300)
                name = f"{table}.{key}"
                out[name] = max(out.get(name, 0.0), rel)
    return out


def test_two_gloo_ranks_train_like_one_process(tmp_path, capsys):
    two, elsewhere = tmp_path / "two", tmp_path / "rank1-out"
    cwd = {0: tmp_path, 1: tmp_path / "rank1-cwd"}
    cwd[1].mkdir()
    out_of = {0: two, 1: elsewhere}
    procs = _start_ranks(lambda r: [*ARGS, "--out", str(out_of[r])], cwd.get)
    assert main([*ARGS, "--out", str(tmp_path / "one")]) == 0  # meanwhile
    capsys.readouterr()
    (code0, out0, err0), (code1, out1, err1) = _finish(procs)
    assert code0 == 0, err0[-3000:]
    assert code1 == 0, err1[-3000:]
    assert out1 == "" and err1 == ""  # rank 1 says nothing ...
    assert not elsewhere.exists() and not any(cwd[1].iterdir())  # ... writes nothing
    run_one, run_two = tmp_path / "one" / "train" / "r", two / "train" / "r"
    assert out0.strip() == str(run_two)
    assert sorted(p.name for p in run_two.rglob("*")) == sorted(
        p.name for p in run_one.rglob("*")
    )
    env = json.loads((run_two / "env.json").read_text())
    assert env["world_size"] == 2
    status = json.loads((run_two / "status.json").read_text())
    assert status["status"] == "finished" and status["step"] == 30
    one, two_recs = _records(run_one), _records(run_two)
    assert len(one["fullbs"]) == 4 and len(one["minibs"]) == 4
    diffs = _max_rel_diff(one, two_recs)
    print(json.dumps(diffs, indent=1))  # shown with -s: the observed differences
    assert diffs["train.loss"] == 0.0  # replicated updates: bit for bit
    for name, rel in diffs.items():
        assert rel <= 1e-9, (name, rel)


@pytest.mark.slow  # ~11 s on 2 loaded cores (two processes start eoss and torch)
def test_bad_input_under_torchrun_fails_once_before_any_folder(tmp_path):
    """Rank 0 says why in one line; rank 1 exits with the same code, silently."""
    argv = [*ARGS, "--set", "steps=-3", "--out", str(tmp_path / "out")]
    results = _finish(_start_ranks(lambda r: argv, lambda r: tmp_path))
    (code0, _, err0), (code1, out1, err1) = results
    assert (code0, code1) == (2, 2)
    assert len(err0.strip().splitlines()) == 1 and "steps" in err0
    assert out1 == "" and err1 == ""
    assert not (tmp_path / "out").exists()


def test_more_ranks_than_batches_is_refused():
    cfg = from_dict(TrainConfig, preset("test"))  # 64 rows, n_batches = 4
    Leader(None, 4).check(cfg, 64)
    with pytest.raises(UsageError, match=r"track.n_batches >= 5 \(got 64 rows"):
        Leader(None, 5).check(cfg, 64)
    with pytest.raises(UsageError, match="at least 4 training rows"):
        Leader(None, 4).check(cfg, 3)


def test_a_stop_seen_by_rank_1_alone_stops_both(tmp_path):
    """SIGTERM to rank 1 only: the stop request is agreed; both end interrupted."""
    argv = [*ARGS, "--set", "steps=100000", "--set", "checkpoint.every=100000"]
    argv += ["--out", str(tmp_path / "out")]
    procs = _start_ranks(lambda r: argv, lambda r: tmp_path)
    metrics = tmp_path / "out" / "train" / "r" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.stat().st_size > 2000):
        assert time.monotonic() < deadline and procs[0].poll() is None
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGTERM)
    (code0, _, err0), (code1, _, err1) = _finish(procs)
    assert (code0, code1) == (130, 130), err0[-2000:] + err1[-2000:]
    status = json.loads(metrics.with_name("status.json").read_text())
    assert status["status"] == "interrupted" and 0 < status["step"] < 100000
    assert status["last_checkpoint"] == status["step"]  # written on the way out
