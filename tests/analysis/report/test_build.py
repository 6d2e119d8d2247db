import json

import pytest
from synthetic_runs import write_derive_json, write_gap_table, write_train_run

from eoss.analysis.claims.table import CLAIMS, VERDICTS
from eoss.analysis.cli.main import main
from eoss.analysis.report.build import build_report, evaluate_claims
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse

SWEEP_B = (10, 20, 40, 80)


def _gap(b: float) -> float:
    return 0.3 * b**-0.7  # units of 2/η; the paper's trained regime


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    for i, b in enumerate(SWEEP_B):
        write_train_run(
            root / "sweep", f"b{b}", batch_size=b, gap=_gap(b), seed=i, jpeg=True
        )
    write_train_run(root / "flat", "never", level=0.6, converge=True, seed=9)
    write_gap_table(
        root / "static",
        "static",
        [2**k for k in range(11)],
        n=65536,
        config={"n_train": 65536},
    )
    write_derive_json(root / "derive.json")
    return root


@pytest.fixture(scope="module")
def report(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report([inputs], out, title="Fixture study", max_trajectories=1)


def test_report_files_are_written(report):
    for path in (report.markdown, report.html, report.fits_json, *report.tables):
        assert path.is_file() and path.stat().st_size > 0
    pngs = [p for p in report.figures if p.suffix == ".png"]
    names = sorted(p.stem for p in pngs)
    assert names == [
        "batch_cloud",
        "static0_gap",
        "static_vs_trained0",
        "sweep0_gap",
        "sweep0_gap_slopes",
        "sweep0_overview",
        "sweep0_plateaus",
        "symbolic0_0",
        "trajectories",
    ]
    assert all(p.stat().st_size > 1000 for p in pngs)
    doc = json.loads(report.fits_json.read_text())
    assert set(doc) >= {"claims", "runs", "sweeps", "static", "criteria"}


def test_every_claim_has_a_row_with_a_valid_verdict(report):
    keys = {c.key for c in report.claims}
    assert keys == set(CLAIMS)
    assert all(c.verdict in VERDICTS for c in report.claims)
    text = report.markdown.read_text()
    assert text.count("\n| ") >= len(report.claims)


def test_verdicts_on_designed_fixtures(report):
    by_key = {}
    for c in report.claims:
        by_key.setdefault(c.key, []).append(c)
    assert by_key["minibs_band"][0].verdict == "supported"  # level 1.05 in [1, 2]
    # four runs cannot show |α − 0.7| ≤ 0.1 (TOST); the point null cannot reject
    assert by_key["trained_gap_b_minus_0_7"][0].verdict == "inconclusive"
    assert "TOST |α − 0.7| ≤ 0.1" in by_key["trained_gap_b_minus_0_7"][0].criterion
    assert by_key["trained_gap_b_minus_1"][0].verdict == "not measured"  # no b > 100
    assert by_key["static_gap_b_minus_1"][0].verdict == "supported"
    assert by_key["fullbs_lower_small_b"][0].verdict == "supported"
    assert by_key["noise_full_covariance_only"][0].verdict == "not measured"
    symbolic = [c.verdict for c in by_key["symbolic"]]
    # "holds under diagonal B" is not supported as stated
    assert symbolic == ["not supported", "supported", "not supported", "inconclusive"]
    # the run that converged first is reported as such, not silently dropped
    assert "converged_before_eoss" in by_key["minibs_band"][0].note


def test_point_null_policy_is_available(inputs):
    from eoss.analysis.claims.policy import ClaimPolicy

    study = analyse(discover_inputs([inputs]))
    rows = evaluate_claims(study, ClaimPolicy(exponent_rule="point"))
    (mid,) = [r for r in rows if r.key == "trained_gap_b_minus_0_7"]
    assert mid.verdict == "supported" and mid.criterion.startswith("point-null rule")


def test_simulation_verdicts(tmp_path):
    # claims only (no figures): analyse + evaluate_claims
    root = tmp_path / "in"
    # finite-population steepening: gap ∝ b^-1 (1 - b/n), local exponent 1 + b/(n-b)
    sizes = [1, 2, 4, 8, 16, 32, 64, 256, 384, 512, 768, 1024]
    config = {"n": 1024, "sampling": "without"}
    write_gap_table(root / "sim", "simulate", sizes, n=1024, rel_se=0.01, config=config)
    online = {"n": 1024, "sampling": "online"}  # a pure b^-1 law: no 1/sqrt(b) regime
    write_gap_table(root / "sim_online", "simulate", sizes, rel_se=0.01, config=online)
    study = analyse(discover_inputs([root]))
    verdicts = {(c.key, c.source): c.verdict for c in evaluate_claims(study)}
    assert verdicts[("steeper_near_n", "simulation sim")] == "supported"
    assert verdicts[("random_matrix_b_minus_1", "sim")] == "supported"
    assert verdicts[("random_matrix_b_minus_1", "sim_online")] == "supported"
    assert verdicts[("random_matrix_sqrt_large_b", "sim_online")] == "not supported"


def test_report_sections_caveat_and_html(report):
    text = report.markdown.read_text()
    for heading in (
        "## Claims",
        "## Training runs",
        "## Batch-size sweeps",
        "## Static gap curves",
        "## Static vs trained exponents",
        "## Provenance",
        "## Methods",
    ):
        assert heading in text
    assert "JPEG" in text and "0123456789abcdef" in text
    assert "20" not in text.split("\n")[0]  # no date in the title line
    html = report.html.read_text()
    assert html.count("data:image/png;base64,") == text.count("![")
    assert 'src="figures/' not in html and "<table>" in html


def test_same_inputs_give_identical_files(tmp_path):
    root = tmp_path / "in"
    config = {"n": 1024, "sampling": "without"}  # drawn with eoss simulate's own plot
    write_gap_table(root / "sim", "simulate", [1, 2, 4, 8, 16, 32], config=config)
    write_derive_json(root / "derive.json")
    a = build_report([root], tmp_path / "a")
    b = build_report([root], tmp_path / "b")
    files_a = sorted(p.relative_to(a.out) for p in a.out.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b.out) for p in b.out.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) >= 10
    for rel in files_a:
        assert (a.out / rel).read_bytes() == (b.out / rel).read_bytes(), rel


def test_only_derivations_gives_not_measured_rows(tmp_path):
    path = write_derive_json(tmp_path / "d.json")
    res = build_report([path], tmp_path / "out")
    verdicts = {c.key: c.verdict for c in res.claims if c.key != "symbolic"}
    assert set(verdicts.values()) == {"not measured"}


def test_cli_report(inputs, tmp_path, capsys):
    static = inputs / "static"
    assert (
        main(["report", str(static), "--out", str(tmp_path / "r"), "--title", "T"]) == 0
    )
    out = capsys.readouterr().out
    assert "report.md" in out and "claims —" in out
    assert (tmp_path / "r" / "report.html").is_file()


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_cli_bad_inputs_one_line_exit_2(tmp_path, capsys, make):
    target = tmp_path / "nothing"
    if make == "empty":
        target.mkdir()
    assert main(["report", str(target), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().split("\n")
    assert err[-1].startswith("eoss report: error:")
    assert len([e for e in err if "error" in e]) == 1
