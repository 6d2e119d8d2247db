"""Lemma 4.1: exact counterexample, rank-one closed form, random-matrix checks."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from eoss.toy_models.derivations.result import Derivation
from eoss.toy_models.derivations.subadditivity import (
    COUNTEREXAMPLE,
    COUNTEREXAMPLE_INDEFINITE,
    cos,
    l1,
    l2,
    lambda_max_exact,
    lemma41,
    subadditivity_gap,
    verify_lemma41,
)

EPS = np.finfo(np.float64).eps


def test_counterexample_is_exact_and_satisfies_the_hypothesis():
    M1, M2 = COUNTEREXAMPLE
    assert M1 != M2
    for M in (M1, M2):
        ev = list(M.eigenvals())
        assert max(ev) > abs(
            min(ev)
        )  # the lemma's hypothesis lambda_max > |lambda_min|
    assert lambda_max_exact(M1) + lambda_max_exact(M2) == lambda_max_exact(M1 + M2) == 3
    # Shared top eigenvector e_1.
    e1 = sp.Matrix([1, 0])
    assert M1 * e1 == 2 * e1 and M2 * e1 == 1 * e1


def test_hypothesis_is_unnecessary():
    N1, N2 = COUNTEREXAMPLE_INDEFINITE
    ev2 = list(N2.eigenvals())
    assert max(ev2) < abs(min(ev2))  # violates the hypothesis
    assert lemma41().expressions["indefinite_example_gap"] == 0


def test_rank_one_closed_form_exact():
    d = lemma41()
    top = d.expressions["rank_one_sum_top"]
    # The closed form is a root of the characteristic polynomial of the 2x2 Gram
    # matrix [[l1, sqrt(l1 l2) rho], [sqrt(l1 l2) rho, l2]] of l1 uu^T + l2 ww^T.
    G = sp.Matrix([[l1, sp.sqrt(l1 * l2) * cos], [sp.sqrt(l1 * l2) * cos, l2]])
    mu = sp.Symbol("mu")
    assert sp.simplify(G.charpoly(mu).as_expr().subs(mu, top)) == 0
    # Gap certificate: ((l1+l2)/2)^2 - ((l1-l2)/2)^2 - l1 l2 rho^2 = l1 l2 (1 - rho^2).
    lhs = ((l1 + l2) / 2) ** 2 - ((l1 - l2) / 2) ** 2 - l1 * l2 * cos**2
    assert sp.expand(lhs - d.expressions["rank_one_gap_certificate"]) == 0
    # Equality iff rho^2 = 1; max(l1, l2) iff rho = 0.
    gap_at_1 = d.expressions["rank_one_gap"].subs(cos, 1)
    factored = gap_at_1.replace(
        lambda e: e.is_Pow and e.exp == sp.S.Half,
        lambda e: sp.sqrt(sp.factor(e.base)),  # sqrt(((l1 + l2)/2)^2), l_i >= 0
    )
    assert sp.simplify(factored) == 0
    t = sp.Symbol("t", nonnegative=True)  # case split: l2 = l1 + t or l1 = l2 + t
    assert sp.simplify(top.subs(cos, 0).subs(l2, l1 + t) - (l1 + t)) == 0
    assert sp.simplify(top.subs(cos, 0).subs(l1, l2 + t) - (l2 + t)) == 0


def test_inequality_random_numeric():
    rng = np.random.default_rng(5)
    for _ in range(100):
        A = rng.standard_normal((4, 6, 6)) * rng.uniform(0.1, 5.0)
        A = A + A.transpose(0, 2, 1)
        # eigvalsh is backward stable: errors ~ d * eps * |A| per eigenvalue.
        assert subadditivity_gap(A) >= -100 * EPS * np.abs(A).sum(axis=0).max()


def test_equality_needs_common_top_eigenvector_not_identity():
    rng = np.random.default_rng(6)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    mats = np.stack([(Q * np.array([3.0, 1.0, 0.0, -2.0])) @ Q.T,
                     (Q * np.array([1.0, -1.0, 0.5, 0.2])) @ Q.T])  # fmt: skip
    assert np.abs(mats[0] - mats[1]).max() > 0.5
    assert subadditivity_gap(mats) == pytest.approx(0.0, abs=100 * EPS)
    # Rotate the second matrix's top eigenvector away: strict inequality.
    R, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    mats[1] = R @ mats[1] @ R.T
    assert subadditivity_gap(mats) > 1e-3


def test_verify_passes():
    v = lemma41().verify(np.random.default_rng(0))
    assert v.passed, [c for c in v.checks if not c.passed]


def test_verify_detects_a_wrong_closed_form():
    good = lemma41()
    exprs = dict(good.expressions)
    exprs["rank_one_sum_top"] = l1 + l2  # would claim equality for every angle
    bad = Derivation(good.name, good.title, exprs, good.claims, good.notes, None)
    v = verify_lemma41(np.random.default_rng(0), derivation=bad)
    assert not v.check("rank-one sum: closed-form top eigenvalue vs eigvalsh").passed


def test_claims():
    claims = lemma41().claims
    assert claims[0].verdict == "holds" and claims[0].status.value == "holds"
    assert claims[1].verdict == "fails" and claims[1].status.value == "fails"
