"""Symbolic claims: the claim verdict comes from the derivation's ``status``."""

from __future__ import annotations

import json

import pytest
from synthetic_runs import write_derive_json

from eoss.analysis.claims.symbolic import (
    PROSE_VERDICT,
    STATUS_VERDICT,
    claim_verdict,
    symbolic,
)
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse
from eoss.toy_models.derivations.result import Status


def test_every_status_has_a_verdict():
    assert set(STATUS_VERDICT) == {s.value for s in Status}


@pytest.mark.parametrize(
    "status, verdict",
    [
        (Status.HOLDS, Verdict.SUPPORTED),
        # holding only under another reading is not supported *as stated*
        (Status.HOLDS_UNDER_READING, Verdict.NOT_SUPPORTED),
        (Status.FAILS, Verdict.NOT_SUPPORTED),
        (Status.INCONCLUSIVE, Verdict.INCONCLUSIVE),
    ],
)
def test_status_decides_not_the_prose(status, verdict):
    # the prose is deliberately misleading: the status wins
    assert claim_verdict({"claim": "c", "verdict": "x", "status": status.value}) is (
        verdict
    )


def test_documents_without_status_fall_back_to_the_prose_rule():
    def v(text):
        return claim_verdict({"claim": "c", "verdict": text})

    assert v("holds") is Verdict.SUPPORTED
    assert v("holds under b = 1") is Verdict.NOT_SUPPORTED
    assert v("fails") is Verdict.NOT_SUPPORTED
    assert v("ambiguous") is Verdict.INCONCLUSIVE
    assert v("who knows") is Verdict.INCONCLUSIVE
    assert set(PROSE_VERDICT) == {"holds under", "holds", "fails", "ambiguous"}
    unknown = {"claim": "c", "verdict": "holds", "status": "new-status"}
    assert claim_verdict(unknown) is Verdict.INCONCLUSIVE


def _doc(status_of_second: str, passed: bool = True) -> dict:
    claims = [
        {"claim": "a", "verdict": "holds", "status": "holds", "explanation": "e"},
        {
            "claim": "b",
            "verdict": "holds under a reading",
            "status": status_of_second,
            "explanation": "e",
            "scope": "s",
        },
    ]
    return {
        "topics": {
            "t": {
                "topic": "t",
                "derivation": {"name": "t", "claims": claims},
                "verification": {"passed": passed, "checks": []},
            }
        }
    }


def test_symbolic_rows_from_status(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(_doc("holds_under_reading")))
    rows = symbolic(analyse(discover_inputs([path])))
    assert [r.verdict for r in rows] == [Verdict.SUPPORTED, Verdict.NOT_SUPPORTED]
    assert rows[1].measured == "derived: holds under a reading; paper: b"
    # the note says it is not supported as stated, and under which reading it holds
    assert rows[1].note.startswith("not supported as stated; holds under a reading")
    assert "(s)" in rows[1].note and rows[1].kind == "symbolic"
    assert rows[1].source.endswith("t [s]")
    path.write_text(json.dumps(_doc("inconclusive")))
    rows = symbolic(analyse(discover_inputs([path])))
    assert rows[1].verdict is Verdict.INCONCLUSIVE


def test_symbolic_rows_from_old_documents(tmp_path):
    path = write_derive_json(tmp_path / "d.json")  # no status fields
    rows = symbolic(analyse(discover_inputs([path])))
    assert [r.verdict.value for r in rows] == [
        "not supported",  # "holds under diagonal B"
        "supported",
        "not supported",
        "inconclusive",
    ]
