"""Data-parallel FullBS and MiniBS (gloo, 2 ranks) equal the one-process numbers.

Two ``eoss sharpness`` processes are started with the environment ``torchrun``
gives its workers (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``PORT``), so the
test goes through the command's torchrun branch, ``init_from_env`` and the
sharded operator. In float64 with a 75-parameter MLP and ``tol = 1e-10`` the
Lanczos eigenvalues are exact to rounding, so the only difference left between
2 ranks and 1 is the order of the sums (tolerance 1e-9 relative).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from eoss.analysis.cli.main import main
from eoss.empirical import distributed
from eoss.empirical.distributed import shard_range
from eoss.empirical.operators.hessian import HessianOperator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_data(path) -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 5))
    y = rng.integers(0, 3, 60)
    np.savez(path, X=X, y=y)


ARGS = [
    "--model", "mlp", "--width", "8", "--depth", "1", "--init-scale", "0.5",
    "--batch-size", "8",
    "--batches", "6", "--seed", "1", "--tol", "1e-10", "--dtype", "float64",
    "--chunk-size", "7", "--method", "loop", "--json",
]  # fmt: skip


def _run_ranks(data, out, size: int) -> list[subprocess.Popen]:
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
        cmd = [sys.executable, "-m", "eoss", "sharpness", "--data", str(data)]
        cmd += [*ARGS, "--out", str(out)] if rank == 0 else ARGS
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    return procs


def test_two_gloo_ranks_equal_one_process(tmp_path, capsys):
    data, out = tmp_path / "d.npz", tmp_path / "two.json"
    _write_data(data)
    procs = _run_ranks(data, out, 2)
    assert main(["sharpness", "--data", str(data), *ARGS]) == 0  # meanwhile
    one = json.loads(capsys.readouterr().out)
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
    assert outputs[1][0] == ""  # only rank 0 prints
    two = json.loads(out.read_text())
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["per_batch"]["batch_indices"] == one["per_batch"]["batch_indices"]
    for key in ("fullbs", "minibs", "batch_sharpness", "gap_cv"):
        assert two[key] == pytest.approx(one[key], rel=1e-9, abs=1e-12), key
    for key in ("lambda_max", "batch_sharpness", "cv"):
        np.testing.assert_allclose(
            two["per_batch"][key], one["per_batch"][key], rtol=1e-9, atol=1e-12
        )


def test_shards_weighted_by_rows_sum_to_the_full_operator():
    """Without communication: the shard operators (global 1/N) sum to H."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(11, 4, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 3, (11,), generator=gen)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh())
    model = torch.nn.Sequential(*model, torch.nn.Linear(6, 3)).double()
    full = HessianOperator(model, "ce", X, y)
    v = torch.randn(full.dim, dtype=torch.float64, generator=gen)
    parts = []
    for rank in range(3):
        lo, hi = shard_range(11, rank, 3)
        shard = HessianOperator(model, "ce", X[lo:hi], y[lo:hi], n_total=11)
        parts.append(shard.matvec_torch(v))
    torch.testing.assert_close(sum(parts), full.matvec_torch(v), rtol=1e-12, atol=0)


def test_shard_range_covers_every_item_once():
    for n, size in [(11, 3), (4, 4), (100, 7)]:
        spans = [shard_range(n, r, size) for r in range(size)]
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
        assert max(hi - lo for lo, hi in spans) - min(hi - lo for lo, hi in spans) <= 1
    with pytest.raises(ValueError, match="cannot split 2 items over 3"):
        shard_range(2, 0, 3)


@dataclasses.dataclass(frozen=True)
class _Part:
    lambda_max: np.ndarray
    batch_indices: np.ndarray
    n_matvecs: int = 3
    seconds: float = 0.0
    method: str = "loop"
    self_check_error: float = float("nan")
    fallback_from: str | None = None


def _fake_world(monkeypatch, rank, others):
    """Rank ``rank`` of 2, with the other rank's gathered part given."""
    monkeypatch.setattr(distributed, "rank_and_size", lambda group: (rank, 2))

    def gather(part, group):
        return [part, others] if rank == 0 else [others, part]

    monkeypatch.setattr(distributed, "gather_arrays", gather)


def _solve(rows):
    return _Part(np.arange(len(rows), dtype=float), rows)


def test_a_block_failing_on_one_rank_raises_on_every_rank(monkeypatch):
    """No rank is left waiting: each reaches the gather, then all raise the same."""
    idx = np.zeros((4, 2), dtype=np.int64)
    boom = ValueError("blew up on the other rank")
    _fake_world(monkeypatch, 0, {"error": boom})
    with pytest.raises(ValueError, match="blew up on the other rank"):
        distributed.split_batches(_solve, idx, group="fake")

    def fails(rows):
        raise ArithmeticError("mine")

    _fake_world(monkeypatch, 1, {"error": boom})  # both failed: the lowest rank's
    with pytest.raises(ValueError, match="other rank"):
        distributed.split_batches(fails, idx, group="fake")
    _fake_world(monkeypatch, 1, {"n_matvecs": 1})  # only this rank: its own error
    with pytest.raises(ArithmeticError, match="mine"):
        distributed.split_batches(fails, idx, group="fake")


def test_an_unpicklable_error_travels_as_a_runtime_error():
    class OddError(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}/{b}")

    sent = distributed._picklable(OddError(1, 2))
    assert type(sent) is RuntimeError and "OddError: 1/2" in str(sent)
    plain = ValueError("x")
    assert distributed._picklable(plain) is plain


def test_without_a_group_the_helpers_are_the_identity():
    model = torch.nn.Linear(2, 1)
    before = [p.clone() for p in model.parameters()]
    distributed.broadcast_module(model, None)
    after = list(model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert distributed.agree(True, None) and not distributed.agree(False, None)
    assert distributed.agree(True, None, any_rank=True)
    assert distributed.broadcast_object({"a": 1}, None) == {"a": 1}
