"""``eoss derive``: in-process smoke tests and bad-input handling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eoss.analysis.cli.derive import parse_point
from eoss.analysis.cli.main import UsageError, main
from eoss.toy_models.derivations.diagonal_network import evaluate
from eoss.toy_models.derivations.result import (
    Check,
    Derivation,
    Status,
    Verification,
)

EPS = np.finfo(np.float64).eps


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_all_json_is_one_valid_document(capsys):
    code, out, _ = _run(capsys, ["derive", "all", "--json"])
    assert code == 0
    doc = json.loads(out)
    assert set(doc["topics"]) == {
        "diagonal-network",
        "eos-threshold",
        "lemma41",
        "bernstein",
    }
    assert doc["all_verified"] is True
    for topic in doc["topics"].values():
        assert topic["verification"]["passed"] is True
        assert topic["derivation"]["claims"]
        assert all("latex" in e for e in topic["derivation"]["expressions"].values())
        for claim in topic["derivation"]["claims"]:
            keys = ["claim", "verdict", "status", "explanation", "scope"]
            assert list(claim) == keys
            assert claim["status"] in {s.value for s in Status}


def test_diagonal_network_json_at_point(capsys):
    at = "a1=1,b1=0.5,a2=2,b2=-1,b12=1,b21=0.25"
    argv = ["derive", "diagonal-network", "--param", "full", "--at", at, "--json"]
    code, out, _ = _run(capsys, argv + ["--no-verify"])
    assert code == 0
    doc = json.loads(out)
    point = dict(a1=1.0, b1=0.5, a2=2.0, b2=-1.0, b12=1.0, b21=0.25)
    ev = evaluate("full", "half", point)
    assert doc["per_sample_top_eigenvalues"] == pytest.approx(
        ev.per_sample_top_eigenvalues.tolist(), rel=4 * EPS
    )
    assert len(doc["per_sample_top_eigenvalues"]) == 2
    for key in (
        "fullbs",
        "minibs_b1",
        "minibs_b2_with_replacement",
        "minibs_b2_without_replacement",
    ):
        assert doc[key] == pytest.approx(getattr(ev, key), rel=4 * EPS)
    # Independent check of the closed forms at this interpolating point:
    # lambda_i = 2c |grad f_i|^2 with c = 1/2, grad f_1 = (b1, a1, b21, 0, 0, a2).
    assert doc["per_sample_top_eigenvalues"][0] == pytest.approx(
        0.5**2 + 1 + 0.25**2 + 4, rel=4 * EPS
    )
    assert doc["verification"] is None


def test_default_point_and_markdown(capsys):
    code, out, _ = _run(capsys, ["derive", "diagonal-network", "--loss-scale", "full"])
    assert code == 0
    assert "PASSED" in out and "$$" in out and "default balanced" in out
    # Balanced point, loss (f - y)^2: lambda_i = 4c = 4.
    assert "| lambda_1 | 4 |" in out


@pytest.mark.parametrize("topic", ["eos-threshold", "lemma41", "bernstein"])
def test_markdown_topics(capsys, topic):
    code, out, _ = _run(capsys, ["derive", topic])
    assert code == 0
    assert out.startswith("## ") and "The paper's claims" in out and "PASSED" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["derive", "nope"],
        ["derive", "diagonal-network", "--at", "a1=1,b1"],
        ["derive", "diagonal-network", "--at", "a1=1,,b1=2"],
        ["derive", "diagonal-network", "--at", "a1=x,b1=1,a2=1,b2=1"],
        ["derive", "diagonal-network", "--at", "a1=inf,b1=1,a2=1,b2=1"],
        ["derive", "diagonal-network", "--at", "a1=1,b1=1,a2=1"],  # missing b2
        ["derive", "diagonal-network", "--at", "a1=1,b1=1,a2=1,b2=1,q=2"],
        [
            "derive",
            "diagonal-network",
            "--param",
            "full",
            "--at",
            "a1=1,b1=1,a2=1,b2=1",
        ],
        ["derive", "diagonal-network", "--at", "a1=1,a1=2,a2=1,b2=1"],
        ["derive", "lemma41", "--at", "a1=1"],
        ["derive", "diagonal-network", "--param", "triangular"],
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv):
    code, out, err = _run(capsys, argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0]
    assert "Traceback" not in err


def test_parse_point():
    assert parse_point("a1=1, b1=-2.5e-1") == {"a1": 1.0, "b1": -0.25}
    with pytest.raises(UsageError):
        parse_point("a1")


def test_failed_verification_exits_1(capsys, monkeypatch):
    import eoss.toy_models.derivations.subadditivity as sub

    good = sub.lemma41()

    def failing(rng):
        return Verification((Check("forced failure", 1.0, 0.0),), "test")

    bad = Derivation(
        good.name, good.title, good.expressions, good.claims, good.notes, failing
    )
    monkeypatch.setattr(sub, "lemma41", lambda: bad)
    code, out, err = _run(capsys, ["derive", "lemma41", "--json"])
    assert code == 1
    assert json.loads(out)["all_verified"] is False
    assert "FAILED" in err
