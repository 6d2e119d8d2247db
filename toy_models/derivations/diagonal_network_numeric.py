r"""Independent numerics for the diagonal network (no sympy).

They check :mod:`eoss.toy_models.derivations.diagonal_network`. The gradient
of :math:`\ell_i = c (a^\top B x_i - y_i)^2` is written by hand
(:math:`\nabla_a = 2c\,r\,Bx`, :math:`\nabla_B = 2c\,r\,a x^\top`) and
differentiated once more by the complex step,
:math:`H_{:,j} = \mathrm{Im}\,\nabla\ell(\theta + i h e_j) / h`, which for a
polynomial gradient is exact up to rounding (no subtractive cancellation).
Spectra come from dense ``numpy.linalg.eigvalsh``.
"""

from __future__ import annotations

import numpy as np

from eoss.toy_models.derivations.diagonal_network_point import (
    NAMES,
    DiagonalNetEvaluation,
    evaluate_point,
)
from eoss.toy_models.derivations.result import Check, Derivation, Verification

EPS = np.finfo(np.float64).eps
# Hessian entries are degree-2 polynomials of O(1) numbers and eigvalsh is
# backward stable (error ~ p * eps * |H|), so 1e3 * eps relative to the largest
# entry leaves a wide margin while still catching any algebra error (which is
# O(1) relative).
REL = 1e3 * EPS
TARGETS = (1.0, -1.0)


def _unpack(theta: np.ndarray, param: str) -> tuple[np.ndarray, np.ndarray]:
    v = dict(zip(NAMES[param], theta, strict=True))
    zero = 0.0 * theta[0]
    a = np.array([v["a1"], v["a2"]])
    B = np.array([[v["b1"], v.get("b12", zero)], [v.get("b21", zero), v["b2"]]])
    return a, B


def loss_gradient(theta: np.ndarray, param: str, c: float, i: int) -> np.ndarray:
    r"""Gradient of :math:`\ell_i = c(a^\top B e_i - y_i)^2` in the order of NAMES.

    Args:
        theta: Parameters, shape (p,), real or complex (for the complex step).
        param: ``"diagonal"`` or ``"full"``.
        c: Loss coefficient.
        i: Data index, 0 or 1.

    Returns:
        Array of shape (p,).
    """
    a, B = _unpack(theta, param)
    x = np.eye(2)[i]
    r = a @ B @ x - TARGETS[i]
    ga, gB = B @ x, np.outer(a, x)
    full = {
        "a1": ga[0],
        "a2": ga[1],
        "b1": gB[0, 0],
        "b2": gB[1, 1],
        "b12": gB[0, 1],
        "b21": gB[1, 0],
    }
    return 2 * c * r * np.array([full[n] for n in NAMES[param]])


def complex_step_hessian(
    theta: np.ndarray, param: str, c: float, i: int, h: float = 1e-30
) -> np.ndarray:
    """Hessian of ``loss_gradient`` by the complex step.

    Args:
        theta: Real parameters, shape (p,).
        param: ``"diagonal"`` or ``"full"``.
        c: Loss coefficient.
        i: Data index, 0 or 1.
        h: Imaginary step (tiny: there is no cancellation to fear).

    Returns:
        Symmetric array of shape (p, p).
    """
    p = theta.size
    H = np.empty((p, p))
    for j in range(p):
        tz = theta.astype(complex)
        tz[j] += 1j * h
        H[:, j] = loss_gradient(tz, param, c, i).imag / h
    return 0.5 * (H + H.T)


def random_point(rng: np.random.Generator, param: str) -> np.ndarray:
    """A generic (non-interpolating) point, entries N(0, 1).

    Args:
        rng: Random source.
        param: ``"diagonal"`` or ``"full"``.

    Returns:
        Array of shape (p,).
    """
    return rng.standard_normal(len(NAMES[param]))


def random_interpolating_point(rng: np.random.Generator, param: str) -> np.ndarray:
    """A point with f(e1) = 1, f(e2) = -1, solved for b1 and b2 in numpy.

    Args:
        rng: Random source.
        param: ``"diagonal"`` or ``"full"``.

    Returns:
        Array of shape (p,).
    """
    a1, a2 = rng.uniform(0.5, 2.0, 2) * rng.choice([-1.0, 1.0], 2)
    b12, b21 = (0.7 * rng.standard_normal(2)) if param == "full" else (0.0, 0.0)
    b1, b2 = (1.0 - a2 * b21) / a1, (-1.0 - a1 * b12) / a2
    vals = {"a1": a1, "b1": b1, "a2": a2, "b2": b2, "b12": b12, "b21": b21}
    return np.array([vals[n] for n in NAMES[param]])


def balanced_point(param: str) -> np.ndarray:
    """A balanced interpolating point, where lambda_i = 4c exactly.

    Diagonal B: a1 = b1 = 1, a2 = 1, b2 = -1. Full B: a1 = b1 = 1, b12 = -1,
    a2 = b2 = b21 = 0 (grad f_i = ±(swapped grad f_i), so |grad f_i|^2 = 2).

    Args:
        param: ``"diagonal"`` or ``"full"``.

    Returns:
        Array of shape (p,); the lower bound on lambda_i is attained here.
    """
    if param == "diagonal":
        return np.array([1.0, 1.0, 1.0, -1.0])
    return np.array([1.0, 1.0, 0.0, 0.0, -1.0, 0.0])


def _top(H: np.ndarray) -> tuple[float, np.ndarray]:
    w, V = np.linalg.eigh(H)
    return float(w[-1]), V[:, -1]


class _Worst:
    """Running maximum of relative errors per check name."""

    def __init__(self) -> None:
        self.err: dict[str, float] = {}

    def add(self, name: str, err: float, scale: float = 1.0) -> None:
        rel = float(err) / max(1.0, float(scale))
        self.err[name] = max(self.err.get(name, 0.0), rel)


def _general_checks(w, d, theta, param, c, closed_form) -> None:
    point = dict(zip(NAMES[param], theta, strict=True))
    Hn = [complex_step_hessian(theta, param, c, i) for i in (0, 1)]
    scale = max(np.abs(Hn[0]).max(), np.abs(Hn[1]).max())
    ev = closed_form(point)
    for i, key in enumerate(("H1", "H2")):
        Hs = np.asarray(d.evaluate(key, **point), dtype=float)
        w.add(
            "per-sample Hessian: sympy vs complex step", np.abs(Hs - Hn[i]).max(), scale
        )
        lam, _ = _top(Hn[i])
        lam_c = ev.per_sample_top_eigenvalues[i]
        w.add("lambda_max(H_i): closed form vs eigvalsh", abs(lam_c - lam), scale)
        v = ev.per_sample_top_eigenvectors[i]
        w.add(
            "top eigenvector residual |H v - lambda v|",
            np.linalg.norm(Hn[i] @ v - lam_c * v),
            scale,
        )
    full = 0.5 * (Hn[0] + Hn[1])
    fb, _ = _top(full)
    w.add("FullBS vs eigvalsh((H1 + H2)/2)", abs(ev.fullbs - fb), scale)
    draws = [Hn[0], full, full, Hn[1]]  # ordered draws (1,1), (1,2), (2,1), (2,2)
    mb2 = np.mean([_top(H)[0] for H in draws])
    w.add(
        "MiniBS b=2 with replacement vs enumeration",
        abs(ev.minibs_b2_with_replacement - mb2),
        scale,
    )
    mb1 = np.mean([_top(H)[0] for H in Hn])
    w.add("MiniBS b=1 vs enumeration", abs(ev.minibs_b1 - mb1), scale)


def _interp_checks(w, d, theta, param, c) -> None:
    point = dict(zip(NAMES[param], theta, strict=True))
    Hn = [complex_step_hessian(theta, param, c, i) for i in (0, 1)]
    scale = max(np.abs(Hn[0]).max(), np.abs(Hn[1]).max())
    tops = [_top(H) for H in Hn]
    for i in (0, 1):
        lam_i = float(d.evaluate(f"lambda{i + 1}_interp", **point))
        w.add(
            "lambda_i at interpolation = 2c|grad f_i|^2", abs(lam_i - tops[i][0]), scale
        )
        sos = float(d.evaluate(f"lower_bound_sos{i + 1}", **point))
        w.add(
            "lambda_i - 4c = sum-of-squares certificate",
            abs(tops[i][0] - 4 * c - sos),
            scale,
        )
        w.add("lambda_i >= 4c at interpolation", max(0.0, 4 * c - tops[i][0]), scale)
    fb = float(d.evaluate("fullbs_interp", **point))
    w.add(
        "FullBS at interpolation: closed form vs eigvalsh",
        abs(fb - _top(0.5 * (Hn[0] + Hn[1]))[0]),
        scale,
    )
    p = float(d.evaluate("overlap_interp", **point))
    s = [float(d.evaluate(f"s{i + 1}", **point)) for i in (0, 1)]
    cos_closed = abs(p) / np.sqrt(s[0] * s[1])
    cos_num = abs(tops[0][1] @ tops[1][1])
    w.add("top-eigenvector cosine at interpolation", abs(cos_closed - cos_num), 1.0)


def verify_diagonal_net(
    param: str,
    loss_scale: str,
    rng: np.random.Generator,
    *,
    derivation: Derivation,
    n_points: int = 5,
) -> Verification:
    """Compare the derivation with complex-step Hessians and eigvalsh.

    Args:
        param: ``"diagonal"`` or ``"full"``.
        loss_scale: ``"half"`` or ``"full"``.
        rng: Source of the random points.
        derivation: The derivation to check (its lambdified expressions).
        n_points: Random generic and random interpolating points each.

    Returns:
        The :class:`Verification`.
    """
    c = 0.5 if loss_scale == "half" else 1.0
    w = _Worst()

    def closed_form(point: dict[str, float]) -> DiagonalNetEvaluation:
        return evaluate_point(derivation, param, loss_scale, point)

    for _ in range(n_points):
        _general_checks(w, derivation, random_point(rng, param), param, c, closed_form)
        theta = random_interpolating_point(rng, param)
        _general_checks(w, derivation, theta, param, c, closed_form)
        _interp_checks(w, derivation, theta, param, c)
    bal = balanced_point(param)
    lam_bal = max(_top(complex_step_hessian(bal, param, c, i))[0] for i in (0, 1))
    w.add("lower bound 4c attained at the balanced point", abs(lam_bal - 4 * c), 4 * c)
    detail = (
        "relative to max(1, max |H_ij|); independent Hessian = complex step of a "
        "hand-written numpy gradient; tolerance 1e3 eps (polynomial entries, "
        "backward-stable eigvalsh)"
    )
    checks = tuple(Check(k, v, REL, detail) for k, v in w.err.items())
    return Verification(checks, f"{n_points} generic + {n_points} interpolating points")








