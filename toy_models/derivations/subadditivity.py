r"""Lemma 4.1: subadditivity of the top eigenvalue, and its equality case.

For symmetric :math:`M_1, \dots, M_k` and the largest *algebraic* eigenvalue,

.. math:: \lambda_{\max}\Big(\sum_i M_i\Big) \le \sum_i \lambda_{\max}(M_i),

because :math:`\lambda_{\max}(A) = \max_{\|v\|=1} v^\top A v` (Courant-Fischer)
and a max of a sum is at most the sum of the maxima. No sign hypothesis such as
:math:`\lambda_{\max} > |\lambda_{\min}|` is needed.

Equality holds **iff the** :math:`M_i` **share a common top eigenvector**. If
:math:`v` is a top eigenvector of every :math:`M_i`, then
:math:`v^\top(\sum M_i)v = \sum\lambda_{\max}(M_i)`, which is an upper bound,
so equality. Conversely, take a unit top eigenvector :math:`v` of
:math:`\sum M_i`; equality gives :math:`\sum_i v^\top M_i v = \sum_i
\lambda_{\max}(M_i)` with every term :math:`v^\top M_i v \le
\lambda_{\max}(M_i)`, so each term is equal, and a Rayleigh quotient attains
:math:`\lambda_{\max}` only on the top eigenspace. Hence "equality only if all
:math:`M_i` are identical" is false: :math:`\mathrm{diag}(2, 1) +
\mathrm{diag}(1, 1/2)` has :math:`\lambda_{\max} = 3 = 2 + 1`.

For two PSD rank-one terms :math:`\lambda_1 uu^\top + \lambda_2 ww^\top` with
:math:`\cos\varphi = u^\top w`, the sum has top eigenvalue
:math:`\tfrac{\lambda_1+\lambda_2}2 + \sqrt{(\tfrac{\lambda_1-\lambda_2}2)^2 +
\lambda_1\lambda_2\cos^2\varphi}`, which is :math:`\lambda_1 + \lambda_2` iff
:math:`\cos^2\varphi = 1` and :math:`\max(\lambda_1, \lambda_2)` iff
:math:`\cos\varphi = 0` (the diagonal network's case).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from eoss.toy_models.derivations.result import (
    Check,
    ClaimVerdict,
    Derivation,
    Status,
    Verification,
)

EPS = np.finfo(np.float64).eps
l1, l2 = sp.symbols("lambda_1 lambda_2", nonnegative=True)
cos = sp.Symbol("rho", real=True)  # rho = u^T w = cos(phi)
x, w, z = sp.symbols("x w z", real=True)

# Satisfies the paper's hypothesis (lambda_max > |lambda_min|), distinct, equality.
COUNTEREXAMPLE = (sp.diag(2, 1), sp.diag(1, sp.Rational(1, 2)))
# Violates the hypothesis (lambda_max = 1 < 3 = |lambda_min|) and still equality.
COUNTEREXAMPLE_INDEFINITE = (sp.diag(2, 1), sp.diag(1, -3))


_NOTES = (
    "lambda_max is the largest algebraic eigenvalue; the inequality follows "
    "from lambda_max(A) = max_{|v|=1} v^T A v and needs no sign hypothesis.",
    "Equality iff some unit v is a top eigenvector of every M_i.",
    "EoSS consequence: lambda_max(H_B) <= mean over i in B of lambda_max(H_i), "
    "so MiniBS(b) <= MiniBS(1); and by convexity E lambda_max(H_B) >= "
    "lambda_max(H), with equality iff a.s. H_B shares H's top eigenvector.",
)
_CLAIMS = (
    ClaimVerdict(
        "lambda_max(sum M_i) <= sum lambda_max(M_i) for M_i with "
        "lambda_max > |lambda_min|",
        "holds",
        "True for every symmetric M_i (Courant-Fischer); the hypothesis "
        "lambda_max > |lambda_min| is unnecessary: diag(2,1) + diag(1,-3) "
        "violates it and the inequality holds (with equality).",
        "largest algebraic eigenvalue",
        status=Status.HOLDS,
    ),
    ClaimVerdict(
        "equality holds only if all M_i are identical",
        "fails",
        "Equality holds iff the M_i share a common top eigenvector; "
        "counterexample diag(2,1) + diag(1,1/2): lambda_max = 3 = 2 + 1 "
        "although the matrices differ (both satisfy the lemma's hypothesis).",
        "any dimension >= 1",
        status=Status.FAILS,
    ),
)


def lambda_max_exact(M: sp.Matrix) -> sp.Expr:
    """Largest algebraic eigenvalue of a symmetric sympy matrix.

    Args:
        M: Symmetric matrix with numeric (rational) entries.

    Returns:
        The exact eigenvalue.
    """
    return sp.Max(*M.eigenvals().keys())


def subadditivity_gap(mats: np.ndarray) -> float:
    r""":math:`\sum_i\lambda_{\max}(M_i) - \lambda_{\max}(\sum_i M_i)` (>= 0).

    Args:
        mats: Array of shape (k, d, d), symmetric.

    Returns:
        The gap.
    """
    tops = np.linalg.eigvalsh(mats)[:, -1]
    return float(tops.sum() - np.linalg.eigvalsh(mats.sum(axis=0))[-1])


@cache
def lemma41() -> Derivation:
    """Lemma 4.1, its equality condition, the counterexample, rank-one closed form.

    Returns:
        A :class:`~eoss.toy_models.derivations.result.Derivation` verified on random
        matrices.
    """
    rank_one_top = (l1 + l2) / 2 + sp.sqrt(((l1 - l2) / 2) ** 2 + l1 * l2 * cos**2)
    M1, M2 = COUNTEREXAMPLE
    N1, N2 = COUNTEREXAMPLE_INDEFINITE
    exprs: dict[str, sp.Basic] = {
        "lambda_max_2x2": (x + w) / 2 + sp.sqrt(((x - w) / 2) ** 2 + z**2),
        "rank_one_sum_top": rank_one_top,  # rho = u^T w
        "rank_one_gap": l1 + l2 - rank_one_top,
        # ((l1 + l2)/2)^2 - ((l1 - l2)/2)^2 - l1 l2 cos^2 = l1 l2 sin^2 >= 0
        "rank_one_gap_certificate": l1 * l2 * (1 - cos**2),
        "counterexample_M1": M1,
        "counterexample_M2": M2,
        "counterexample_gap": lambda_max_exact(M1)
        + lambda_max_exact(M2)
        - lambda_max_exact(M1 + M2),
        "indefinite_example_gap": lambda_max_exact(N1)
        + lambda_max_exact(N2)
        - lambda_max_exact(N1 + N2),
    }
    return Derivation(
        name="lemma41",
        title="Lemma 4.1: subadditivity of lambda_max and its equality case",
        expressions=exprs,
        claims=_CLAIMS,
        notes=_NOTES,
        verifier=lambda rng: verify_lemma41(rng, derivation=lemma41()),
        latex_names={"rho": r"\cos\varphi"},
    )


def _common_top_family(rng: np.random.Generator, k: int, d: int) -> np.ndarray:
    """Draw k distinct symmetric matrices sharing the top eigenvector Q[:, 0]."""
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    mats = []
    for _ in range(k):
        spec = np.sort(rng.uniform(-3.0, 2.0, d))[::-1]
        spec[0] = spec[1] + rng.uniform(0.5, 2.0)  # a gap keeps Q[:, 0] on top
        mats.append((Q * spec) @ Q.T)
    return np.stack(mats)


def _equality_family_errors(
    rng: np.random.Generator, k: int, d: int
) -> tuple[float, float, float]:
    """|gap|, eigenvector residual and min distance over 20 common-top families."""
    eq_gap, eq_res, distinct = 0.0, 0.0, np.inf
    for _ in range(20):
        mats = _common_top_family(rng, k, d)
        eq_gap = max(eq_gap, abs(subadditivity_gap(mats)))
        v = np.linalg.eigh(mats.sum(axis=0))[1][:, -1]
        tops = np.linalg.eigvalsh(mats)[:, -1]
        res = [np.linalg.norm(M @ v - t * v) for M, t in zip(mats, tops, strict=True)]
        eq_res = max(eq_res, max(res))
        distinct = min(distinct, np.abs(mats[0] - mats[1]).max())
    return eq_gap, eq_res, distinct


def verify_lemma41(
    rng: np.random.Generator, *, derivation: Derivation, trials: int = 200
) -> Verification:
    """Random symmetric matrices (indefinite ones included) and the equality family.

    Args:
        rng: Random source.
        derivation: The derivation whose closed forms are checked.
        trials: Random triples for the inequality.

    Returns:
        The :class:`Verification`.
    """
    k, d = 3, 5
    gaps = []
    for _ in range(trials):
        A = rng.standard_normal((k, d, d))
        gaps.append(subadditivity_gap(A + A.transpose(0, 2, 1)))
    eq_gap, eq_res, distinct = _equality_family_errors(rng, k, d)
    r1_err = 0.0
    for _ in range(20):
        la, lb = rng.uniform(0.1, 3.0, 2)
        u, ww = (q / np.linalg.norm(q) for q in rng.standard_normal((2, 4)))
        top = np.linalg.eigvalsh(la * np.outer(u, u) + lb * np.outer(ww, ww))[-1]
        closed = derivation.evaluate(
            "rank_one_sum_top", lambda_1=la, lambda_2=lb, rho=u @ ww
        )
        r1_err = max(r1_err, abs(top - closed))
    cex = np.array([np.diag([2.0, 1.0]), np.diag([1.0, 0.5])])
    tol = 1e3 * EPS * 10  # eigvalsh of O(5)-norm matrices: ~ d eps |M| each
    checks = (
        Check("inequality on random indefinite symmetric triples (min gap >= 0)",
              max(0.0, -min(gaps)), tol, f"{trials} triples, d = {d}"),
        Check("strict inequality for generic matrices (min gap > 1e-6)",
              float(min(gaps) <= 1e-6), 0.0, "1 if a generic triple had gap <= 1e-6"),
        Check("equality for distinct matrices with a common top eigenvector",
              eq_gap, tol, "|gap|; 20 random families"),
        Check("top eigenvector of the sum is top for every M_i (equality case)",
              eq_res, tol, "max |M_i v - lambda_max(M_i) v|"),
        Check("the equality family is not identical (min max|M_1 - M_2| > 0.1)",
              float(distinct <= 0.1), 0.0, "1 if two matrices coincided"),
        Check("rank-one sum: closed-form top eigenvalue vs eigvalsh", r1_err, tol,
              "20 random (lambda_1, lambda_2, u, w)"),
        Check("counterexample diag(2,1) + diag(1,1/2): gap",
              abs(subadditivity_gap(cex)), tol, "numeric eigvalsh"),
    )  # fmt: skip
    return Verification(checks, f"{trials} random triples + 20 equality families")
