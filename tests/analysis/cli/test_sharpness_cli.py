"""``eoss sharpness`` in-process: JSON schema, agreement with the library, errors."""

import json

import numpy as np
import pytest

from eoss.analysis.cli.main import main

KEYS = {
    "fullbs",
    "minibs",
    "minibs_se",
    "batch_sharpness",
    "batch_sharpness_se",
    "gap",
    "gap_se",
    "gap_cv",
    "gap_cv_se",
    "loss",
    "loss_formula",
    "solver",
    "batch_size",
    "n_batches",
    "seed",
    "model",
    "data",
    "per_batch",
    "warnings",
}


@pytest.fixture
def npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, X=rng.standard_normal((60, 7)), y=rng.integers(0, 3, 60))
    return path


def run(capsys, *argv):
    code = main(["sharpness", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_output_and_consistency(capsys, npz, tmp_path):
    argv = [
        "--model",
        "mlp",
        "--width",
        "6",
        "--depth",
        "1",
        "--data",
        npz,
        "--batch-size",
        "5",
        "--batches",
        "4",
        "--seed",
        "3",
        "--dtype",
        "float64",
        "--tol",
        "1e-8",
        "--json",
        "--out",
        tmp_path / "r.json",
    ]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    res = json.loads(out)
    assert set(res) >= KEYS
    assert res["loss"] == "mse" and "onehot" in res["loss_formula"]
    assert res["gap"] == pytest.approx(res["minibs"] - res["fullbs"])
    assert res["gap_se"] == pytest.approx(res["minibs_se"])
    assert res["minibs"] == pytest.approx(np.mean(res["per_batch"]["lambda_max"]))
    assert res["solver"]["minibs"]["n_converged"] == 4 and res["warnings"] == []
    assert json.loads((tmp_path / "r.json").read_text()) == res
    assert "FullBS" in err  # progress goes to stderr
    # same seed, same numbers; the library call reproduces them
    assert json.loads(run(capsys, *argv)[1])["per_batch"] == res["per_batch"]
    import torch

    from eoss.empirical.data.arrays import load_npz
    from eoss.empirical.estimators.full_batch import full_sharpness
    from eoss.empirical.losses import Loss
    from eoss.empirical.models import ModelSpec, build_model
    from eoss.empirical.rng import numpy_rng, torch_gen

    data = load_npz(npz).to("cpu", torch.float64)
    model = build_model(
        ModelSpec("mlp", 6, 1), (7,), 3, torch_gen(3, "init"), dtype=torch.float64
    )
    fs = full_sharpness(model, Loss("mse"), data, rng=numpy_rng(3, "fullbs"), tol=1e-8)
    assert res["fullbs"] == pytest.approx(fs.fullbs, rel=1e-7)


def test_table_output(capsys, npz):
    code, out, _ = run(
        capsys,
        "--model",
        "linear",
        "--data",
        npz,
        "--batch-size",
        "4",
        "--batches",
        "3",
        "--loss",
        "ce",
    )
    assert code == 0
    assert "MiniBS" in out and "gap, control variate" in out and "ce" in out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--batch-size", "500"], "exceeds"),
        (["--batch-size", "0"], "batch-size"),
        (["--batch-size", "4", "--batches", "1"], "batches"),
        (["--batch-size", "4", "--tol", "2"], "tol"),
        (["--batch-size", "4", "--loss", "hinge"], "invalid choice"),
        (["--batch-size", "4", "--width", "0"], "width"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, npz, extra, needle):
    code, _, err = run(capsys, "--model", "mlp", "--data", npz, *extra)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1


def test_missing_or_broken_data_file(capsys, tmp_path):
    code, _, err = run(
        capsys, "--model", "mlp", "--data", tmp_path / "no.npz", "--batch-size", "2"
    )
    assert code == 2 and "no data file" in err
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    code, _, err = run(capsys, "--model", "mlp", "--data", bad, "--batch-size", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_listed_in_help(capsys):
    assert main(["--help"]) == 0
    assert "sharpness" in capsys.readouterr().out


def test_non_convergence_is_a_warning_not_silence(capsys, npz):
    code, out, err = run(
        capsys,
        "--model",
        "mlp",
        "--width",
        "6",
        "--data",
        npz,
        "--batch-size",
        "5",
        "--batches",
        "2",
        "--max-iter",
        "3",
        "--json",
    )
    assert code == 0
    res = json.loads(out)
    assert len(res["warnings"]) == 2 and "warning" in err
    assert res["solver"]["minibs"]["n_converged"] == 0


def test_named_dataset_and_conv_model(capsys):
    code, out, err = run(
        capsys,
        "--dataset",
        "synthetic",
        "--n",
        "40",
        "--model",
        "linear",
        "--batch-size",
        "8",
        "--batches",
        "3",
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"]["source"] == "init"
    assert doc["model"]["data_provenance"]["source"] == "synthetic"
    assert doc["minibs"] >= doc["batch_sharpness"] - 4 * doc["batch_sharpness_se"]


def test_checkpoint_is_measured_on_its_own_data(capsys, tmp_path):
    from eoss.analysis.cli.runs import load_model
    from eoss.empirical.estimators.full_batch import full_sharpness
    from eoss.empirical.losses import Loss
    from eoss.empirical.rng import numpy_rng

    assert (
        main(
            [
                "train",
                "--preset",
                "test",
                "--set",
                "steps=20",
                "--out",
                str(tmp_path),
                "--name",
                "r",
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    run_dir = tmp_path / "train" / "r"
    code, out, err = run(
        capsys,
        "--checkpoint",
        f"{run_dir}:20",
        "--batch-size",
        "8",
        "--batches",
        "3",
        "--seed",
        "5",
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"]["source"] == "checkpoint" and doc["model"]["step"] == 20
    # FullBS equals the library's value for the same network, data and seed stream
    model, cfg, _, data = load_model(f"{run_dir}:20")
    ref = full_sharpness(model, Loss(cfg.loss), data, rng=numpy_rng(5, "fullbs"))
    assert doc["fullbs"] == pytest.approx(ref.fullbs, rel=1e-5)
    code, _, err = run(capsys, "--checkpoint", f"{run_dir}:7", "--batch-size", "8")
    assert code == 2 and len(err.strip().splitlines()) == 1
