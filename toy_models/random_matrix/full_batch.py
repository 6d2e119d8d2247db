r"""The full-batch Hessian's top eigenpair, :math:`\lambda_{\max}(H)` and :math:`v`.

FullBS is evaluated through
:func:`eoss.toy_models.random_matrix.batch_spectra.batch_tops` as the
batch of all ``n`` samples, so that the ``without`` row at ``b = n`` (which
reuses the same path) reproduces it bit for bit on the direct paths. The
eigenvector :math:`v` (for the control variate) comes from ``eigsh``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from eoss.toy_models.random_matrix.batch_spectra import (
    PreparedSample,
    batch_tops,
    path_costs,
)
from eoss.toy_models.random_matrix.top_eigenvalue import lanczos_top_pair

DIRECT_FULLBS_SECONDS = 2.0  # FullBS by eigh (exact) when estimated under this


def full_batch_top(
    data: PreparedSample, path: str, tol: float, rng: np.random.Generator
) -> tuple[float, NDArray[np.float64], float, str]:
    """FullBS by a batch path (reused at b = n) and its eigenvector.

    With ``path="auto"`` the cheapest direct (eigh) path is used when it is
    estimated under :data:`DIRECT_FULLBS_SECONDS`, so that the ``without`` row
    at b = n, which reuses this path, has a gap of exactly 0.

    Args:
        data: The dataset.
        path: Path request for the batch sums.
        tol: Lanczos tolerance.
        rng: Generator for start vectors.

    Returns:
        ``(fullbs, v, residual, path)``.
    """
    F, S, n = data.rows, data.signs, data.sample.n
    w = F if S is None else F * S[:, None]

    def hv(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return w.T @ (F @ x) / n

    pair = lanczos_top_pair(hv, F.shape[1], rng.standard_normal(F.shape[1]), tol=tol)
    everything = np.arange(n)[None, :]
    if path == "auto":  # one problem: prefer an exact direct path if affordable
        path = _direct_if_cheap(data, n)
    try:
        tops = batch_tops(
            data, everything, path=path, warm=pair.vector, tol=tol, rng=rng
        )
    except ValueError:  # the requested path is not valid at b = n
        tops = batch_tops(data, everything, warm=pair.vector, tol=tol, rng=rng)
    return float(tops.values[0]), pair.vector, pair.residual, tops.path


def _direct_if_cheap(data: PreparedSample, n: int) -> str:
    """The cheapest eigh path at b = n if under DIRECT_FULLBS_SECONDS, else auto."""
    N, m = data.rows.shape
    costs = path_costs(
        n,
        data.sample.rank,
        m,
        N,
        has_gram=data.gram is not None,
        psd=data.psd,
        shared=True,
    )
    direct = {p: c for p, c in costs.items() if p.endswith("eigh")}
    if direct and min(direct.values()) < DIRECT_FULLBS_SECONDS:
        return min(direct, key=direct.__getitem__)
    return "auto"
