"""``eoss simulate gap``: smoke, schema, reproducibility, bad input."""

import json

import numpy as np
import pytest

from eoss.analysis.cli import simulate
from eoss.analysis.cli.main import main
from eoss.analysis.cli.simulate import blas_threads, parse_batch_sizes
from eoss.analysis.records.io import read_csv, read_json

SMALL = [
    "simulate",
    "gap",
    "--family",
    "spiked",
    "--dim",
    "16",
    "--n",
    "32",
    "--sampling",
    "without",
    "--batch-sizes",
    "1,2,4,...,32",
    "--batches",
    "20",
    "--seed",
    "0",
]
ROW_KEYS = {
    "batch_size",
    "n_batches",
    "minibs",
    "minibs_se",
    "fullbs",
    "gap",
    "gap_se",
    "gap_cv",
    "gap_cv_se",
    "path",
}


def _run(capsys, args):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_smoke_writes_schema_and_prints_rows(tmp_path, capsys):
    code, out, err = _run(capsys, [*SMALL, "--out", str(tmp_path), "--json"])
    assert code == 0
    rows = json.loads(out)
    assert [r["batch_size"] for r in rows] == [1, 2, 4, 8, 16, 32]
    assert all(set(r) >= ROW_KEYS for r in rows)
    assert rows[-1]["gap"] == 0.0  # b = n without replacement
    assert "b=32 (6/6)" in err  # progress on stderr
    csv_rows = read_csv(tmp_path / "results.csv")
    assert set(csv_rows[0]) >= ROW_KEYS and len(csv_rows) == 6
    doc = read_json(tmp_path / "results.json")
    assert doc["status"] == "finished"
    assert doc["config"]["seed"] == 0 and doc["config"]["batch_sizes"][-1] == 32
    assert set(doc["theory"]) == {
        "batch_sizes",
        "bernstein",
        "rmt",
        "slopes",
        "perturbation",
    }
    assert doc["fullbs"]["value"] == rows[0]["fullbs"]
    for ext in ("png", "pdf"):
        assert (tmp_path / f"gap_vs_batch.{ext}").stat().st_size > 0


def test_same_seed_same_numbers(tmp_path, capsys):
    def rows(sub, seed):
        code, out, _ = _run(
            capsys,
            [*SMALL[:-1], seed, "--out", str(tmp_path / sub), "--json", "--no-figure"],
        )
        assert code == 0
        return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(out)]

    assert rows("a", "5") == rows("b", "5")
    assert rows("c", "6") != rows("a", "5")


def test_config_file_and_set_overrides(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(
        json.dumps(
            {
                "family": "isotropic",
                "dim": 8,
                "n": 16,
                "batch_sizes": [1, 4],
                "n_batches": 4,
            }
        )
    )
    code, out, _ = _run(
        capsys,
        [
            "simulate",
            "gap",
            "--config",
            str(cfg),
            "--dim",
            "10",
            "--set",
            "n_batches=6",
            "--out",
            str(tmp_path / "o"),
            "--json",
            "--no-figure",
        ],
    )
    assert not (tmp_path / "o" / "gap_vs_batch.png").exists()
    assert code == 0
    doc = read_json(tmp_path / "o" / "results.json")
    assert (doc["config"]["family"], doc["config"]["dim"]) == ("isotropic", 10)
    assert [r["n_batches"] for r in json.loads(out)] == [6, 6]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--batch-sizes", "1,64"], "without replacement"),
        (["--batch-sizes", "0,2"], "positive"),
        (["--batch-sizes", "-4"], "positive"),
        (["--batch-sizes", "1,x"], "not an integer"),
        (["--family", "wishart"], "unknown family"),
        (["--sampling", "maybe"], "sampling"),
        (["--batches", "1"], "n_batches"),
        (["--set", "colour=red"], "unknown config key"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path, capsys):
    code, _, err = _run(capsys, [*SMALL, *args, "--out", str(tmp_path)])
    assert code == 2
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_simulate_without_model_is_a_usage_error(capsys):
    code, _, err = _run(capsys, ["simulate"])
    assert code == 2 and err.startswith("eoss")


def test_simulate_gap_help(capsys):
    assert main(["simulate", "gap", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: eoss simulate gap") and "--family" in out


def test_simulate_dispatches_to_the_model_handler(monkeypatch):
    seen = []
    monkeypatch.setitem(simulate.MODELS, "gap", lambda args: seen.append(args) or 7)
    assert main(SMALL) == 7
    assert seen[0].model == "gap" and seen[0].dim == 16


def test_parse_batch_sizes():
    assert parse_batch_sizes("1,2,4,...,32") == (1, 2, 4, 8, 16, 32)
    assert parse_batch_sizes("1,3,...,27,100") == (1, 3, 9, 27, 100)
    assert parse_batch_sizes("5, 7") == (5, 7)
    for bad in ("", "1,...,8", "2,3,...,9", "1,2,..."):
        with pytest.raises(ValueError):
            parse_batch_sizes(bad)


def test_blas_threads_restores_the_setting():
    x = np.ones((64, 64))
    with blas_threads(1):
        y = x @ x
    np.testing.assert_array_equal(y, 64.0)
    with blas_threads(0):  # no-op
        pass
