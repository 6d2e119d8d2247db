"""The scripts in examples/ run at toy size (``--small``), in-process."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from eoss.analysis.records.io import read_json, read_jsonl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", EXAMPLES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_own_loop_writes_a_run_eoss_reads(tmp_path, capsys):
    out = _load("own_loop").main(["--small", "--out", str(tmp_path)])
    path = out["path"]
    assert path.parent == tmp_path / "train" and str(path) in capsys.readouterr().out
    recs = read_jsonl(path / "metrics.jsonl")
    assert [r["step"] for r in recs if r["table"] == "minibs"] == [0, 3, 6]
    assert [r["step"] for r in recs if r["table"] == "train"] == list(range(6))
    assert read_json(path / "status.json")["status"] == "finished"
    assert set(out["last"]) == {"train_loss", "fullbs", "minibs"}


def _check_sharpness(out):
    for key in ("fullbs", "minibs", "batch_sharpness"):
        assert math.isfinite(out[key]) and out[key] > 0, key
    # Rayleigh quotient of each H_B: batch sharpness <= MiniBS
    assert out["batch_sharpness"] <= out["minibs"] * (1 + 1e-6)


def test_tiny_transformer_on_integer_tokens(capsys):
    mod = _load("tiny_transformer")
    X, y = mod.token_data(8, 5, 16, seed=0)
    assert X.dtype == torch.int64 and y.shape == (8, 5)
    out = mod.main(["--small"])
    _check_sharpness(out)
    assert out["gap_cv"] >= -1e-3 * out["minibs"]  # Jensen, up to the solver tol
    assert "fullbs" in capsys.readouterr().out


@pytest.mark.parametrize("norm", ["group", "batch"])
def test_normalised_cnn(norm, capsys):
    out = _load("norm_cnn").main(["--small", "--norm", norm])
    _check_sharpness(out)
    assert out["bn_mode"] == ("train" if norm == "batch" else "eval")


def test_monitor_with_per_token_loss_on_token_ids(tmp_path):
    import eoss

    mod = _load("tiny_transformer")
    X, y = mod.token_data(16, 5, 16, seed=0)
    torch.manual_seed(0)
    model = mod.TinyTransformer(16, 5, 16)
    with eoss.SharpnessMonitor(
        model, mod.per_token_ce, (X, y), tmp_path, every=1, batch_size=4, n_batches=2
    ) as mon:
        rows = {r.table: r for r in mon.step(0)}
    assert set(rows) == {"eval", "fullbs", "minibs"}
    assert 0 <= rows["eval"].train_acc <= 1  # per-token accuracy
    with torch.no_grad():
        ref = float(mod.per_token_ce(model(X), y).mean())
    assert rows["eval"].train_loss == pytest.approx(ref, rel=1e-6)
