import json

import numpy as np
import pytest

from eoss.analysis.cli.main import main


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.fixture
def gap_csv(tmp_path):
    b = 2 ** np.arange(10)
    gap = 2.0 * b**-0.8
    lines = ["batch_size,gap,gap_se,label"]
    lines += [
        f"{x},{float(g)!r},{0.05 * float(g)!r},r{x}"
        for x, g in zip(b, gap, strict=True)
    ]
    lines.append("1024,-0.001,0.01,neg")  # a non-positive gap: excluded and counted
    return _write(tmp_path / "gaps.csv", "\n".join(lines) + "\n")


def test_json_output_has_required_keys(gap_csv, capsys):
    rc = main(
        ["fit", gap_csv, "--x", "batch_size", "--y", "gap", "--se", "gap_se", "--json"]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["exponent"] == pytest.approx(0.8, rel=1e-12)
    assert len(out["exponent_ci"]) == 2
    assert out["n_used"] == 10 and out["n_excluded"] == {"non_positive_y": 1}
    assert {"p_alpha_1", "p_alpha_0_7", "method"} <= set(out) and out["method"] == "wls"


def test_window_and_segments(gap_csv, capsys):
    argv = ["fit", gap_csv, "--x", "batch_size", "--y", "gap", "--window", "2,256"]
    assert main([*argv, "--segments", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_used"] == 8 and out["n_excluded"]["outside_window"] == 2
    assert len(out["segmented"]["exponents"]) == 2
    assert [r["n_segments"] for r in out["model_comparison"]] == [1, 2]


def test_text_output(gap_csv, capsys):
    assert main(["fit", gap_csv, "--x", "batch_size", "--y", "gap"]) == 0
    text = capsys.readouterr().out
    for key in ("exponent", "exponent_ci", "p_alpha_1", "p_alpha_0_7", "n_used"):
        assert key in text


@pytest.mark.parametrize(
    "content, extra, match",
    [
        ("batch_size,gap\n1,1\n2,0.5\n4,0.25\n", ["--se", "gap_se"], "no column"),
        ("batch_size,gap\n1,1\n2,abc\n4,0.25\n", [], "not numeric"),
        ("batch_size,gap\n", [], "no data rows"),
        ("", [], "empty"),
        ("batch_size,gap\n1,1\n2,0.5\n", [], "at least 3"),
        ("batch_size,gap\n1,1\n2,0.5\n4,0.25\n", ["--window", "5"], "LO,HI"),
        ("batch_size,gap\n1,1\n2,0.5\n4,0.25\n", ["--window", "9,1"], "LO <= HI"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, content, extra, match):
    path = _write(tmp_path / "bad.csv", content)
    assert main(["fit", path, "--x", "batch_size", "--y", "gap", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("eoss fit: error:") and match in err


def test_binary_and_missing_files(tmp_path, capsys):
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x89PNG\x00\xff\xfe")
    assert main(["fit", str(binary), "--x", "a", "--y", "b"]) == 2
    assert main(["fit", str(tmp_path / "none.csv"), "--x", "a", "--y", "b"]) == 2
    errs = capsys.readouterr().err.strip().split("\n")
    assert len(errs) == 2 and all(e.startswith("eoss fit: error:") for e in errs)


def test_null_and_margin_give_the_tost_verdict_and_p_values(gap_csv, capsys):
    argv = ["fit", gap_csv, "--x", "batch_size", "--y", "gap", "--se", "gap_se"]
    assert main([*argv, "--null", "0.7", "--margin", "0.05", "--json"]) == 0
    eq = json.loads(capsys.readouterr().out)["equivalence"]
    assert eq["verdict"] == "not supported"  # α = 0.8 exactly, noiseless
    assert {"p_lower", "p_upper", "p_tost", "ci90", "rule"} <= set(eq)
    assert main([*argv, "--null", "0.7", "--margin", "0.2", "--json"]) == 0
    eq = json.loads(capsys.readouterr().out)["equivalence"]
    assert eq["verdict"] == "supported" and eq["p_tost"] < 0.05
    assert eq["rule"].startswith("TOST |α − 0.7| ≤ 0.2")


def test_profile_gives_local_slopes(gap_csv, capsys):
    argv = ["fit", gap_csv, "--x", "batch_size", "--y", "gap", "--profile"]
    assert main([*argv, "--json"]) == 0
    ls = json.loads(capsys.readouterr().out)["local_slopes"]
    assert len(ls["exponent"]) == 9 and all(abs(a - 0.8) < 1e-9 for a in ls["exponent"])
    assert main(argv) == 0 and "slope 1→2" in capsys.readouterr().out


def test_segments_with_too_few_points_is_a_one_line_error(tmp_path, capsys):
    path = _write(tmp_path / "few.csv", "batch_size,gap\n1,1\n2,0.5\n4,0.25\n8,0.1\n")
    assert (
        main(["fit", path, "--x", "batch_size", "--y", "gap", "--segments", "3"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--segments 3" in err and "got 4" in err
