"""write_report takes an already computed Study and claim rows."""

import pytest
from synthetic_runs import write_derive_json, write_gap_table, write_train_run

from eoss.analysis.claims.evaluate import evaluate_claims
from eoss.analysis.report.build import build_report, write_report
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("in")
    for i, b in enumerate((10, 20, 40)):
        write_train_run(
            root / "sweep", f"b{b}", batch_size=b, gap=0.3 * b**-0.7, seed=i
        )
    write_gap_table(root / "static", "static", [2**k for k in range(8)], n=4096)
    write_derive_json(root / "derive.json")
    return analyse(discover_inputs([root]))


def test_write_report_on_a_computed_study(study, tmp_path):
    claims = evaluate_claims(study)
    res = write_report(study, claims, tmp_path / "out", title="T")
    assert res.study is study and res.claims == claims
    for path in (res.markdown, res.html, res.fits_json, *res.tables):
        assert path.is_file() and path.stat().st_size > 0
    assert res.markdown.read_text().startswith("# T")
    assert {p.stem for p in res.figures} >= {"sweep0_gap", "static0_gap"}


def test_write_report_uses_the_given_claims(study, tmp_path):
    # the writer renders what it is given; it does not re-evaluate the claims
    claims = evaluate_claims(study)[:2]
    res = write_report(study, claims, tmp_path / "out")
    assert res.claims == claims
    lines = (tmp_path / "out" / "claims.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + len(claims)


def test_build_report_is_discover_analyse_evaluate_write(study, tmp_path):
    a = write_report(study, evaluate_claims(study), tmp_path / "a", title="same")
    b = build_report([study.inputs.root], tmp_path / "b", title="same")
    assert a.claims == b.claims
    files = sorted(p.relative_to(a.out) for p in a.out.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(b.out) for p in b.out.rglob("*") if p.is_file()
    )
    for rel in files:
        assert (a.out / rel).read_bytes() == (b.out / rel).read_bytes(), rel
