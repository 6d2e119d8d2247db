"""The diagonal network at one point: exact spectra against the paper's formulas."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from eoss.toy_models.derivations.result import Derivation

EPS = np.finfo(np.float64).eps
# parameter names of the two parametrisations of B
NAMES = {
    "diagonal": ("a1", "b1", "a2", "b2"),
    "full": ("a1", "b1", "a2", "b2", "b12", "b21"),
}
REL_TOL_INTERP = 1e-12  # |r_i| <= this * (1 + |f_i|) counts as interpolating


@dataclass(frozen=True)
class DiagonalNetEvaluation:
    """All spectral quantities of the toy network at one point.

    Attributes:
        param: ``"diagonal"`` or ``"full"``.
        loss_scale: ``"half"`` or ``"full"``.
        point: parameter name → value.
        residuals: (2,) ``f_i - y_i``.
        interpolating: Both residuals are zero to float64 rounding.
        per_sample_top_eigenvalues: (2,) closed-form ``lambda_max(H_i)``.
        per_sample_top_eigenvectors: (2, p) closed-form unit eigenvectors
            (from ``eigh`` of the exact H_i in the degenerate case where the
            closed form mu g + r K g vanishes, e.g. g_i = 0).
        eigenvector_cosine: ``|v_1 . v_2|`` of the unit eigenvectors.
        fullbs: ``lambda_max((H_1 + H_2)/2)``.
        fullbs_method: How ``fullbs`` was obtained.
        minibs_b1: ``(lambda_1 + lambda_2)/2``.
        minibs_b2_with_replacement: ``(lambda_1 + lambda_2)/4 + fullbs/2``.
        minibs_b2_without_replacement: ``fullbs``.
        paper: The paper's formulas at this point (lambda_i = a_i^2 + b_i^2,
            FullBS = max/2, MiniBS = mean), for comparison.
    """

    param: str
    loss_scale: str
    point: dict[str, float]
    residuals: np.ndarray  # (2,)
    interpolating: bool
    per_sample_top_eigenvalues: np.ndarray  # (2,)
    per_sample_top_eigenvectors: np.ndarray  # (2, p)
    eigenvector_cosine: float
    fullbs: float
    fullbs_method: str
    minibs_b1: float
    minibs_b2_with_replacement: float
    minibs_b2_without_replacement: float
    paper: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form.

        Returns:
            Plain floats, lists and strings; adds ``gap_b1``.
        """
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out = {
            k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in out.items()
        }
        return out | {"gap_b1": self.minibs_b1 - self.fullbs}


def _validated_point(param: str, point: Mapping[str, float]) -> dict[str, float]:
    """Exactly the parameter names of ``param``, as finite floats."""
    names = NAMES[param]
    unknown = sorted(set(point) - set(names))
    missing = [n for n in names if n not in point]
    if unknown or missing:
        raise ValueError(
            f"{param} parametrisation needs exactly {', '.join(names)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    vals = {n: float(point[n]) for n in names}
    if not all(np.isfinite(list(vals.values()))):
        raise ValueError("parameter values must be finite")
    return vals


def _paper_formulas(vals: dict[str, float]) -> dict[str, float]:
    """The paper's lambda_i = a_i^2 + b_i^2, FullBS = max/2, MiniBS = mean."""
    lam = np.array(
        [vals["a1"] ** 2 + vals["b1"] ** 2, vals["a2"] ** 2 + vals["b2"] ** 2]
    )
    return {
        "lambda1": float(lam[0]),
        "lambda2": float(lam[1]),
        "fullbs": float(lam.max() / 2),
        "minibs": float(lam.mean()),
    }


def evaluate_point(
    derivation: Derivation, param: str, loss_scale: str, point: Mapping[str, float]
) -> DiagonalNetEvaluation:
    """Evaluate the lambdified closed forms of ``derivation`` at ``point``.

    Args:
        derivation: The diagonal-network derivation for ``param``, ``loss_scale``.
        param: ``"diagonal"`` or ``"full"``.
        loss_scale: ``"half"`` or ``"full"``.
        point: Values for exactly the names in ``NAMES[param]``.

    Returns:
        The :class:`DiagonalNetEvaluation`.

    Raises:
        ValueError: On a missing, unknown or non-finite parameter value.
    """
    vals = _validated_point(param, point)

    def ev(key: str) -> Any:
        return derivation.evaluate(key, **vals)

    lam = np.array([float(ev("lambda1")), float(ev("lambda2"))])
    vecs = np.stack([np.ravel(ev("v1")), np.ravel(ev("v2"))]).astype(float)
    for i in (0, 1):
        norm = np.linalg.norm(vecs[i])
        if norm > EPS * max(1.0, abs(lam[i])):
            vecs[i] /= norm
        else:  # degenerate: the top eigenvector lies outside span{g_i, K_i g_i}
            vecs[i] = np.linalg.eigh(np.asarray(ev(f"H{i + 1}"), dtype=float))[1][:, -1]
    res = np.array([float(ev("r1")), float(ev("r2"))])
    f = np.array([float(ev("f1")), float(ev("f2"))])
    interp = bool(np.all(np.abs(res) <= REL_TOL_INTERP * (1 + np.abs(f))))
    if param == "diagonal":
        fullbs, method = float(lam.max() / 2), "closed form max(lambda_1, lambda_2)/2"
    elif interp:
        fullbs, method = float(ev("fullbs_interp")), "closed form at interpolation"
    else:
        fullbs = float(np.linalg.eigvalsh(np.asarray(ev("H_full"), dtype=float))[-1])
        method = "eigvalsh of the exact Hessian (no closed form off the manifold)"
    return DiagonalNetEvaluation(
        param=param,
        loss_scale=loss_scale,
        point=vals,
        residuals=res,
        interpolating=interp,
        per_sample_top_eigenvalues=lam,
        per_sample_top_eigenvectors=vecs,
        eigenvector_cosine=float(abs(vecs[0] @ vecs[1])),
        fullbs=fullbs,
        fullbs_method=method,
        minibs_b1=float(lam.mean()),
        minibs_b2_with_replacement=float(lam.sum() / 4 + fullbs / 2),
        minibs_b2_without_replacement=fullbs,
        paper=_paper_formulas(vals),
    )
