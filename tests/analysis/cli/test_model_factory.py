"""--model pkg.module:factory: a user's network in eoss sharpness and eoss train."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from eoss.analysis import records
from eoss.analysis.cli.main import UsageError, main
from eoss.analysis.cli.model_factory import build_from_factory, load_factory

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

USER_MODULE = """
import torch
from torch import nn

def make_net(input_shape, num_classes):
    d = 1
    for s in input_shape:
        d *= s
    return nn.Sequential(
        nn.Flatten(), nn.Linear(d, 8), nn.GroupNorm(2, 8), nn.Tanh(),
        nn.Linear(8, num_classes),
    )

def no_args():
    return nn.Linear(4, 3)

def broken(input_shape, num_classes):
    raise RuntimeError("boom")

def not_a_module():
    return 3

VALUE = 3
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_nets.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_nets"


@pytest.fixture
def npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, X=rng.standard_normal((40, 4)), y=np.arange(40) % 3)
    return path


def test_the_factory_runs_seeded_and_leaves_the_global_rng(user_module):
    state = torch.random.get_rng_state()
    a = build_from_factory(f"{user_module}:make_net", (4,), 3, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = build_from_factory(f"{user_module}:make_net", (4,), 3, seed=7)
    c = build_from_factory(f"{user_module}:make_net", (4,), 3, seed=8)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert isinstance(
        build_from_factory(f"{user_module}:no_args", (4,), 3, 0), torch.nn.Linear
    )


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("no_colon_here", None),  # a registry name: not a factory spec
        ("user_nets:", "expected pkg.module:factory"),
        (":make_net", "expected pkg.module:factory"),
        ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
        ("user_nets:missing", "has no attribute 'missing'"),
        ("user_nets:VALUE", "not callable"),
    ],
)
def test_bad_specs_are_one_line(user_module, spec, needle):
    if needle is None:
        with pytest.raises(UsageError):
            load_factory(spec)
        return
    with pytest.raises(UsageError, match=needle):
        load_factory(spec)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("user_nets:broken", "the factory raised RuntimeError: boom"),
        ("user_nets:not_a_module", "returned int, not an nn.Module"),
        ("user_nets:missing", "has no attribute"),
    ],
)
def test_sharpness_cli_reports_factory_errors(capsys, user_module, npz, spec, needle):
    code = main(["sharpness", "--model", spec, "--data", str(npz), "--batch-size", "4"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and "\n" not in err


def test_sharpness_cli_measures_a_user_model(capsys, user_module, npz):
    argv = ["sharpness", "--model", f"{user_module}:make_net", "--data", str(npz)]
    argv += ["--batch-size", "4", "--batches", "4", "--loss", "ce", "--json"]
    argv += ["--dtype", "float64"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["model"]["source"] == "factory"
    assert res["model"]["name"] == "user_nets:make_net"
    assert res["model"]["n_params"] == 4 * 8 + 8 + 16 + 8 * 3 + 3
    assert np.isfinite(res["fullbs"]) and np.isfinite(res["minibs"])
    assert main(argv) == 0  # same seed, same init, same numbers
    again = json.loads(capsys.readouterr().out)
    assert again["fullbs"] == res["fullbs"]


def test_sharpness_cli_on_token_ids(capsys, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    rng = np.random.default_rng(0)
    path = tmp_path / "tokens.npz"
    np.savez(path, X=rng.integers(0, 16, (24, 5)), y=np.arange(24) % 2)
    argv = ["sharpness", "--model", "tiny_transformer:make_classifier"]
    argv += ["--data", str(path), "--loss", "ce", "--batch-size", "4"]
    argv += ["--batches", "2", "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert np.isfinite(res["fullbs"]) and res["fullbs"] > 0


def test_train_cli_trains_resumes_and_forks_a_user_model(capsys, user_module, tmp_path):
    base = ["train", "--preset", "test", "--out", str(tmp_path), "--quiet"]
    base += ["--device", "cpu", "--model", f"{user_module}:make_net"]
    code = main([*base, "--name", "a", "--set", "steps=30", "--set", "loss=ce"])
    assert code == 0
    run = tmp_path / "train" / "a"
    cfg = records.read_json(run / "config.json")
    assert cfg["model"]["name"] == "user_nets:make_net"
    rows = records.read_jsonl(run / "metrics.jsonl")
    assert {r["table"] for r in rows} >= {"train", "eval", "fullbs", "minibs"}
    from eoss.analysis.cli.runs import load_model

    model, *_ = load_model(str(run))
    assert isinstance(model[2], torch.nn.GroupNorm)  # the user's net, not an MLP
    # the factory's own init is kept (no Kaiming re-init), seeded by the init stream
    from eoss.empirical.models import ModelSpec, build_model
    from eoss.empirical.rng import torch_gen

    built = build_model(ModelSpec("user_nets:make_net"), (8,), 10, torch_gen(0, "init"))
    seed = int(torch.randint(0, 2**62, (1,), generator=torch_gen(0, "init")))
    ref = build_from_factory("user_nets:make_net", (8,), 10, seed=seed)
    for a, b in zip(built.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
    capsys.readouterr()
    assert (
        main(
            [
                "sharpness",
                "--checkpoint",
                str(run),
                "--batch-size",
                "4",
                "--batches",
                "2",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["model"]["name"] == "user_nets:make_net"
    fork = ["train", "--fork", f"{run}:20", "--out", str(tmp_path), "--quiet"]
    assert main([*fork, "--device", "cpu", "--name", "b", "--set", "steps=30"]) == 0
    status = records.read_json(tmp_path / "train" / "b" / "status.json")
    assert status["status"] == "finished"
