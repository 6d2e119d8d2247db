"""Claim verdicts are a :class:`Verdict` enum; rows carry their primary number."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats
from synthetic_runs import write_gap_table

from eoss.analysis.claims.evaluate import EVALUATORS, evaluate_claims
from eoss.analysis.claims.table import (
    VERDICTS,
    ClaimRow,
    band_verdict,
    interval,
    not_measured,
    ordering_verdict,
    row,
)
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.records.io import dumps, write_csv
from eoss.analysis.report.html import markdown_to_html
from eoss.analysis.report.markdown import claims_md
from eoss.analysis.stats.batch_means import Level
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse


def test_values_are_todays_text():
    assert [v.value for v in Verdict] == [
        "supported",
        "not supported",
        "inconclusive",
        "not measured",
    ]
    assert tuple(v.value for v in Verdict) == VERDICTS
    v = Verdict.NOT_SUPPORTED
    assert str(v) == f"{v}" == f"{v:>13}".strip() == "not supported"
    assert v == "not supported" and Verdict("not supported") is v
    assert v.css_class == "v-not-supported"


def test_rules_return_members():
    lv = Level(1.5, 0.01, (1.4, 1.6), 10, 3, None)
    assert band_verdict([lv], 1.0, 2.0) is Verdict.SUPPORTED
    assert band_verdict([lv], 2.0, 3.0) is Verdict.NOT_SUPPORTED
    assert band_verdict([], 1.0, 2.0) is Verdict.INCONCLUSIVE
    assert ordering_verdict(5.0, 1.0) is Verdict.SUPPORTED
    assert ordering_verdict(-5.0, 1.0, 4) is Verdict.NOT_SUPPORTED
    assert ordering_verdict(1.0, np.nan) is Verdict.INCONCLUSIVE
    assert not_measured("symbolic").verdict is Verdict.NOT_MEASURED


def test_row_converts_text_and_carries_numbers():
    r = row(
        "static_gap_b_minus_1",
        "static",
        "α = 1 [0.9, 1.1]",
        "supported",
        "rule",
        estimate=np.float64(1.0),
        ci=(0.9, 1.1),
        units="α",
    )
    assert r.verdict is Verdict.SUPPORTED
    assert (r.estimate, r.ci, r.units) == (1.0, (0.9, 1.1), "α")
    assert type(r.estimate) is float
    assert (
        ClaimRow("k", "c", "s", "m", "inconclusive", "r").verdict
        is Verdict.INCONCLUSIVE
    )
    with pytest.raises(ValueError):
        ClaimRow("k", "c", "s", "m", "maybe", "r")


def test_to_dict_is_plain_json_and_csv(tmp_path):
    rows = [
        row(
            "minibs_band",
            "1 run",
            "m",
            Verdict.SUPPORTED,
            "r",
            estimate=1.5,
            ci=(1.4, 1.6),
        ),
        row(
            "ntk_tracks_minibs",
            "2 runs",
            "m",
            Verdict.INCONCLUSIVE,
            "r",
            ci=(np.nan, 1.0),
        ),
        not_measured("symbolic"),
    ]
    d = rows[0].to_dict()
    assert type(d["verdict"]) is str and d["verdict"] == "supported"
    assert (d["estimate"], d["ci_lo"], d["ci_hi"], d["units"]) == (1.5, 1.4, 1.6, "")
    assert "ci" not in d
    doc = json.loads(dumps([r.to_dict() for r in rows]))
    assert [r["verdict"] for r in doc] == ["supported", "inconclusive", "not measured"]
    assert doc[1]["ci_lo"] is None and doc[2]["estimate"] is None
    path = write_csv(tmp_path / "claims.csv", [r.to_dict() for r in rows])
    with path.open() as fh:
        back = list(csv.DictReader(fh))
    assert [r["verdict"] for r in back] == ["supported", "inconclusive", "not measured"]
    assert back[0]["ci_hi"] == "1.6" and back[2]["ci_lo"] == ""


def test_interval_is_two_sided_95():
    q = stats.t.ppf(0.975, 7)
    assert interval(1.0, 0.5, 7) == pytest.approx((1 - q * 0.5, 1 + q * 0.5))
    z = stats.norm.ppf(0.975)
    assert interval(0.0, 1.0) == pytest.approx((-z, z))
    assert interval(0.0, 1.0, float("inf")) == pytest.approx((-z, z))


def test_report_formats_the_enum_like_the_old_text():
    rows = [
        not_measured("symbolic"),
        row("minibs_band", "s", "m", "not supported", "r"),
    ]
    md = claims_md(rows)
    assert "supported: 0, not supported: 1, inconclusive: 0, not measured: 1." in md
    assert "| **not supported** |" in md and "| **not measured** |" in md
    html = markdown_to_html(md, title="T")
    assert '<td class="v-not-supported"><strong>not supported</strong></td>' in html
    assert '<td class="v-not-measured"><strong>not measured</strong></td>' in html


def test_exponent_row_has_its_exponent_and_interval(tmp_path):
    sizes = [1, 2, 4, 8, 16, 32, 64]
    write_gap_table(tmp_path / "st", "static", sizes, exponent=1.0, rel_se=0.01)
    rows = evaluate_claims(analyse(discover_inputs([tmp_path])))
    assert len(EVALUATORS) == 16
    (st,) = [r for r in rows if r.key == "static_gap_b_minus_1"]
    assert st.verdict is Verdict.SUPPORTED
    lo, hi = st.ci
    assert lo < st.estimate < hi and abs(st.estimate - 1.0) < 0.05
    assert st.units.startswith("α") and "α = " in st.measured
    missing = [r for r in rows if r.verdict is Verdict.NOT_MEASURED]
    assert missing and all(r.estimate is None and r.ci is None for r in missing)


def test_evaluate_claims_is_exported_from_the_claims_package():
    import eoss.analysis as analysis
    from eoss.analysis.report import build

    assert analysis.evaluate_claims is evaluate_claims
    assert build.evaluate_claims is evaluate_claims
