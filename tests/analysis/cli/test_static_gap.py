import numpy as np
import torch

from eoss.analysis import records
from eoss.analysis.cli.main import main
from eoss.analysis.cli.runs import load_model

N = 64


def linear_run(tmp_path):
    code = main(
        [
            "train",
            "--preset",
            "test",
            "--set",
            "model.name=linear",
            "--set",
            "dtype=float64",
            "--set",
            "steps=20",
            "--set",
            "track.fullbs.every=0",
            "--set",
            "track.minibs.every=0",
            "--set",
            "track.step_sharpness.every=0",
            "--out",
            str(tmp_path),
            "--name",
            "lin",
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    return tmp_path / "train" / "lin"


def test_static_gap_of_a_linear_model(tmp_path, capsys):
    run = linear_run(tmp_path)
    capsys.readouterr()
    code = main(
        [
            "static-gap",
            f"{run}:20",
            "--batch-sizes",
            "64,1,4",
            "--batches",
            "6",
            "--out",
            str(tmp_path),
            "--name",
            "sg",
            "--quiet",
            "--device",
            "cpu",
            "--tol",
            "1e-6",
        ]
    )
    assert code == 0
    out = tmp_path / "static-gap" / "sg"
    assert capsys.readouterr().out.strip() == str(out)
    rows = records.read_csv(out / "static_gap.csv")
    data = records.read_json(out / "static_gap.json")
    assert [int(r["batch_size"]) for r in rows] == [1, 4, N]
    assert [r["batch_size"] for r in data["rows"]] == [1, 4, N]
    assert data["config"]["step"] == 20 and data["config"]["n_batches"] == 6
    # Closed form: mse on a linear model f = W x + c has the Hessian
    # (2/N) I_C kron [x;1][x;1]^T summed, so FullBS = 2/N * lambda_max(X1^T X1).
    _, _, _, train = load_model(f"{run}:20")
    X1 = torch.cat([train.X.reshape(N, -1), torch.ones(N, 1, dtype=torch.float64)], 1)
    exact = 2 / N * torch.linalg.eigvalsh(X1.T @ X1)[-1].item()
    fullbs = float(rows[0]["fullbs"])
    assert abs(fullbs - exact) <= 1e-5 * exact  # solver residual tol 1e-6, eps-level
    for r in data["rows"]:
        assert r["gap"] == r["minibs"] - r["fullbs"] and r["gap_se"] == r["minibs_se"]
        # lambda_max(H_B) >= v^T H_B v for every batch (Rayleigh): gap_cv >= 0.
        assert r["gap_cv"] >= -1e-6 * fullbs
    full = data["rows"][-1]  # b = N: every batch is the whole set
    assert abs(full["gap"]) <= 1e-5 * fullbs and full["minibs_se"] <= 1e-6 * fullbs
    assert data["rows"][0]["minibs"] > data["rows"][1]["minibs"] > fullbs
    one = [
        r
        for r in records.read_jsonl(out / "metrics.jsonl")
        if r["table"] == "static_gap"
    ]
    assert (
        len(one) == 3 and records.read_json(out / "status.json")["status"] == "finished"
    )


def test_static_gap_bad_input(tmp_path, capsys):
    run = linear_run(tmp_path)
    capsys.readouterr()
    assert main(["static-gap", str(run), "--batch-sizes", "0,2"]) == 2
    assert main(["static-gap", str(run), "--batch-sizes", "a"]) == 2
    assert (
        main(["static-gap", str(run), "--batch-sizes", "65", "--out", str(tmp_path)])
        == 2
    )
    assert (
        main(
            [
                "static-gap",
                str(run),
                "--checkpoint",
                "7",
                "--batch-sizes",
                "2",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert main(["static-gap", str(tmp_path / "nope"), "--batch-sizes", "2"]) == 2
    errs = capsys.readouterr().err.strip().split("\n")
    assert len(errs) == 5 and "no checkpoint at step 7" in errs[3]
    assert np.all([e.startswith("eoss static-gap: error:") for e in errs])


def test_batch_sizes_accept_ellipsis_ranges():
    import pytest

    from eoss.analysis.cli.static_gap import parse_sizes

    doubling = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    assert parse_sizes("1,2,4,...,1024") == doubling
    assert parse_sizes("1,2,4,…,1024") == doubling  # the README's Unicode ellipsis
    assert parse_sizes("8,4,16") == [4, 8, 16]
    for bad, match in (
        ("1,2,...,1000", "not on the progression"),  # ambiguous end
        ("1,...,8", "needs 'a,b,...,c'"),
        ("3,4,...,16", "needs 'a,b,...,c'"),
        ("1,x", "integer"),
        ("0,1", "positive"),
    ):
        with pytest.raises(ValueError, match=match) as info:
            parse_sizes(bad)
        assert str(info.value).startswith("--batch-sizes") and "\n" not in str(
            info.value
        )


def test_static_gap_reads_the_runs_recorded_data_root(tmp_path):
    from eoss.analysis.cli.static_gap import recorded_data_root

    run, data = tmp_path / "run", tmp_path / "data" / "cifar-10-batches-py"
    run.mkdir()
    data.mkdir(parents=True)
    assert recorded_data_root(run) is None  # no env.json
    records.write_json(
        run / "env.json", {"data_root": "relative/gone", "data": {"folder": str(data)}}
    )
    assert recorded_data_root(run) == str(data)
    records.write_json(run / "env.json", {"data_root": str(data.parent)})
    assert recorded_data_root(run) == str(data.parent)
    records.write_json(run / "env.json", {"data_root": str(tmp_path / "moved")})
    assert recorded_data_root(run) is None  # moved away: fall back to the default
