"""EoS thresholds: exact sympy identities, then float64 GD simulation."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from eoss.toy_models.derivations.eos_threshold import (
    a,
    b,
    eos_threshold,
    eos_threshold_derivation,
    eta,
    p,
    quadratic_loss_change,
    r,
    s,
    scalar_net_parts,
    verify_eos,
    y,
)
from eoss.toy_models.derivations.result import Derivation

EPS = np.finfo(np.float64).eps
HALF = sp.Rational(1, 2)


def _on_point(expr):
    """Replace the shorthand symbols s, p, r by their values in a, b, y."""
    return expr.subs({s: a**2 + b**2, p: a * b, r: a * b - y})


def test_quadratic_loss_change_is_exact():
    assert quadratic_loss_change(2) == 0
    assert quadratic_loss_change(3) == 0


def test_eos_threshold():
    assert eos_threshold(4.0) == 0.5
    assert eos_threshold(sp.Symbol("l", positive=True)) == 2 / sp.Symbol(
        "l", positive=True
    )
    with pytest.raises(ValueError):
        eos_threshold(0.0)


@pytest.mark.parametrize("coef", [HALF, sp.Integer(1)])
def test_residual_after_step_and_branches(coef):
    parts = scalar_net_parts(coef)
    ec = 2 * coef * eta
    r_new = parts["residual_after_step"]
    assert sp.expand(r_new - parts["residual_after_step_factored"]) == 0
    # r' + r = -eta_c r * flip_condition and r' - r = -eta_c r * noflip_condition.
    rr = a * b - y
    flip, noflip = (
        _on_point(parts["flip_condition"]),
        _on_point(parts["noflip_condition"]),
    )
    assert sp.simplify(r_new + rr + ec * rr * flip) == 0
    assert sp.simplify(r_new - rr + ec * rr * noflip) == 0


@pytest.mark.parametrize("coef", [HALF, sp.Integer(1)])
def test_eta_star_solves_the_flip_condition(coef):
    parts = scalar_net_parts(coef)
    cond = parts["flip_condition"].subs(eta, parts["eta_star"])
    assert sp.simplify(sp.radsimp(cond)) == 0
    # and it tends to 2 / (2 c s) as r -> 0
    assert sp.limit(parts["eta_star"], r, 0) == 1 / (coef * s)


def test_series_of_lambda_max_on_the_branch():
    """Hand derivation (c = 1/2): lambda = s + r(2p + r)/s + O(r^2/s^3) with
    1/s = eta/2 + O(eta^3) gives 2/eta + eta (2 r y + 5 r^2 / 2) + O(eta^3)."""
    parts = scalar_net_parts(HALF)
    expected = 2 / eta + eta * (2 * r * y + sp.Rational(5, 2) * r**2)
    assert sp.expand(parts["lambda_max_on_flip_series"] - expected) == 0
    directional = 2 / eta + eta * (2 * r * y + 2 * r**2)
    assert sp.expand(parts["directional_on_flip_series"] - directional) == 0


def test_paper_formula_reading():
    L = sp.Symbol("L", positive=True)
    gn = scalar_net_parts(HALF)["lambda_gn_on_flip"]
    # y = 1, r = ±sqrt(L) (ab > 1 or ab < 1): 2/eta + eta L ± eta sqrt L.
    for sign in (1, -1):
        val = gn.subs({y: 1, r: sign * sp.sqrt(L)})
        assert sp.simplify(val - (2 / eta + eta * L + sign * eta * sp.sqrt(L))) == 0
    gn_full = scalar_net_parts(sp.Integer(1))["lambda_gn_on_flip"].subs(
        {y: 1, r: sp.sqrt(L)}
    )
    assert sp.simplify(gn_full - (2 / eta + eta * L + eta * sp.sqrt(L))) != 0


def test_claim_verdicts():
    half = eos_threshold_derivation("half").claims[-1]
    full = eos_threshold_derivation("full").claims[-1]
    assert half.verdict.startswith("holds under lambda := a^2 + b^2")
    assert half.status.value == "holds_under_reading"
    assert full.verdict == "fails" and full.status.value == "fails"


# ------------------------------------------------------ float64 simulation
def _grad(ab, c):
    a_, b_ = ab
    r_ = a_ * b_ - 1.0
    return 2 * c * r_ * np.array([b_, a_])


def _loss(ab, c):
    return c * (ab[0] * ab[1] - 1.0) ** 2


@pytest.mark.parametrize(("scale", "c"), [("half", 0.5), ("full", 1.0)])
def test_gd_step_at_eta_star_keeps_the_loss(scale, c):
    d = eos_threshold_derivation(scale)
    rng = np.random.default_rng(7)
    for _ in range(6):
        # eta_star is real iff s^2 >= 8 r p; p = ab in (0, 2] guarantees it,
        # because s >= 2p and 4 p^2 >= 8 p (p - 1) there.
        a_, p_ = rng.uniform(0.3, 3.0), rng.uniform(0.1, 1.9)
        ab = np.array([a_, p_ / a_])
        s_ = ab @ ab
        eta_ = float(d.evaluate("eta_star", s=s_, p=p_, r=p_ - 1.0))
        l0, l1 = _loss(ab, c), _loss(ab - eta_ * _grad(ab, c), c)
        # One step of a cubic map on O(1) numbers: rounding ~ a few hundred eps.
        assert l1 == pytest.approx(l0, rel=1e4 * EPS)
        # Two steps return (to rounding) to a 2-cycle of the residual only at
        # first order; here just check the step flips the residual's sign.
        ab1 = ab - eta_ * _grad(ab, c)
        assert np.sign(ab1[0] * ab1[1] - 1.0) == -np.sign(p_ - 1.0)


@pytest.mark.parametrize(("scale", "c"), [("half", 0.5), ("full", 1.0)])
def test_lambda_max_closed_form_vs_eigvalsh(scale, c):
    d = eos_threshold_derivation(scale)
    rng = np.random.default_rng(11)
    for _ in range(5):
        ab = rng.standard_normal(2) * 1.5
        h = 1e-4

        # central differences of the analytic (cubic) gradient, Richardson-extrapolated
        def fd(step, ab=ab):
            cols = [
                (_grad(ab + step * e, c) - _grad(ab - step * e, c)) / (2 * step)
                for e in np.eye(2)
            ]
            return np.stack(cols, axis=1)

        H = (4 * fd(h / 2) - fd(h)) / 3
        s_, p_ = ab @ ab, ab[0] * ab[1]
        lam = float(d.evaluate("lambda_max", s=s_, p=p_, r=p_ - 1.0))
        # Rounding of the difference quotient ~ eps |g| / h ~ 1e-11.
        assert lam == pytest.approx(np.linalg.eigvalsh((H + H.T) / 2)[-1], abs=1e-8)


@pytest.mark.parametrize("scale", ["half", "full"])
def test_verify_passes(scale):
    v = eos_threshold_derivation(scale).verify(np.random.default_rng(0))
    assert v.passed, [c for c in v.checks if not c.passed]


def test_verify_detects_a_wrong_threshold():
    good = eos_threshold_derivation("half")
    exprs = dict(good.expressions)
    exprs["eta_star"] = 2 / s  # drops the O(r) correction
    bad = Derivation(good.name, good.title, exprs, good.claims, good.notes, None)
    v = verify_eos(0.5, np.random.default_rng(0), derivation=bad)
    assert not v.check(
        "f = ab: one GD step with eta = eta_star leaves the loss unchanged"
    ).passed


def test_bad_loss_scale():
    with pytest.raises(ValueError):
        eos_threshold_derivation("quarter")
