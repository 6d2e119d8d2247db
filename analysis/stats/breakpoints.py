r"""Breakpoint search for continuous segmented regressions on log-log axes.

For breakpoints :math:`\tau` (in :math:`u = \log x`) the hinge design is
:math:`[1, u, (u-\tau_1)_+, \dots]`. For fixed :math:`\tau` the model is linear, so
the weighted residual sum of squares RSS(τ) is *profiled*: evaluated on a product
grid by batched QR least squares, refined on a local grid around the best cell, then
polished by a continuous minimiser (RSS(τ) is smooth between consecutive data
points, so the polish converges to the exact least-squares breakpoints). The grid
also gives the profile used for intervals (:func:`profile_interval`). Used by
:mod:`eoss.analysis.stats.segmented`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from eoss.analysis.stats.log_data import LogData
from eoss.analysis.stats.powerlaw import Scale


def hinge_design(u: NDArray, taus: ArrayLike) -> NDArray:
    """The continuous broken-stick design matrix.

    Args:
        u: log x, shape (n,).
        taus: Breakpoints in log x, shape (K − 1,).

    Returns:
        [1, u, (u − τ_1)+, …], shape (n, K + 1).
    """
    hinges = [np.maximum(u - t, 0.0) for t in np.atleast_1d(taus)]
    return np.column_stack([np.ones_like(u), u, *hinges])


def batched_rss(data: LogData, taus: NDArray) -> NDArray:
    """Weighted residual sum of squares for many breakpoint vectors at once.

    Args:
        data: The points (weights used when present).
        taus: Breakpoint vectors, shape (G, K − 1), in log x.

    Returns:
        Σ w r² of the least-squares fit for each row, shape (G,).
    """
    u, v = data.u, data.v
    sw = np.ones_like(u) if data.weights is None else np.sqrt(data.weights)
    hinge = np.maximum(u[None, :, None] - taus[:, None, :], 0.0)  # (G, n, K-1)
    base = np.broadcast_to(
        np.column_stack([np.ones_like(u), u]), (len(taus), len(u), 2)
    )
    X = np.concatenate([base, hinge], axis=2) * sw[None, :, None]  # (G, n, p)
    vw = v * sw  # (n,)
    Q, _ = np.linalg.qr(X)  # (G, n, p)
    fitted = Q @ np.einsum("gnp,n->gp", Q, vw)[..., None]  # (G, n, 1)
    return np.sum((vw[None, :] - fitted[..., 0]) ** 2, axis=1)


def admissible(u: NDArray, taus: NDArray, min_points: int) -> NDArray:
    """Which breakpoint vectors are increasing and leave ``min_points`` per segment.

    Args:
        u: log x of the data, shape (n,).
        taus: Breakpoint vectors, shape (G, K − 1).
        min_points: Minimum points per segment; a point on a breakpoint counts for
            both segments it joins.

    Returns:
        Boolean mask, shape (G,).
    """
    G = len(taus)
    edges = np.concatenate([np.full((G, 1), -np.inf), taus, np.full((G, 1), np.inf)], 1)
    ok = np.ones(G, dtype=bool)
    if taus.shape[1] > 1:
        ok &= np.all(np.diff(taus, axis=1) > 0, axis=1)
    for k in range(edges.shape[1] - 1):
        lo, hi = edges[:, k : k + 1], edges[:, k + 1 : k + 2]
        ok &= ((u[None, :] >= lo) & (u[None, :] <= hi)).sum(axis=1) >= min_points
    return ok


def grid_rss(data: LogData, axes: list[NDArray], min_points: int) -> NDArray:
    """RSS on the product grid of ``axes`` (inf where inadmissible).

    Args:
        data: The points.
        axes: One grid of log-x values per breakpoint.
        min_points: Minimum points per segment.

    Returns:
        RSS array of shape (len(axes[0]), len(axes[1]), …).
    """
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    rss = np.full(len(mesh), np.inf)
    ok = admissible(data.u, mesh, min_points)
    if ok.any():
        rss[ok] = batched_rss(data, mesh[ok])
    return rss.reshape([len(a) for a in axes])


def profile_statistic(rss: NDArray, rss_min: float, df: int, scale: Scale) -> NDArray:
    """Profile statistic of a breakpoint value.

    ``"residual"``: F = (RSS − RSS_min) / (RSS_min / df), compared with F(1, df);
    ``"fixed"``: RSS − RSS_min, compared with χ²₁.

    Args:
        rss: Profiled RSS values.
        rss_min: RSS at the optimum.
        df: Residual degrees of freedom n − 2K.
        scale: "residual" or "fixed".

    Returns:
        The statistic, same shape as ``rss`` (inf off the optimum for noiseless data).
    """
    if scale == "fixed":
        return rss - rss_min
    if rss_min <= 0:  # noiseless data: every other breakpoint is infinitely worse
        return np.where(rss > rss_min, np.inf, 0.0)
    return (rss - rss_min) / (rss_min / df)


def profile_interval(
    grid: NDArray, stat: NDArray, best: float, crit: float
) -> tuple[tuple[float, float], tuple[bool, bool]]:
    """The connected region {stat ≤ crit} around ``best``, edges interpolated.

    Args:
        grid: Breakpoint grid (log x), shape (G,), ascending.
        stat: Profile statistic on the grid, shape (G,).
        best: The estimate (always inside the interval).
        crit: Critical value.

    Returns:
        ((lower, upper), (lower open, upper open)); "open" means the region reached
        the end of the grid, i.e. the data do not bound the breakpoint on that side.
    """
    i0 = int(np.argmin(np.abs(grid - best)))
    inside = stat <= crit
    inside[i0] = True
    lo, hi = i0, i0
    while lo > 0 and inside[lo - 1]:
        lo -= 1
    while hi < len(grid) - 1 and inside[hi + 1]:
        hi += 1
    open_lo, open_hi = lo == 0, hi == len(grid) - 1

    def edge(i_in: int, i_out: int) -> float:
        a, b = stat[i_in], stat[i_out]
        if not np.isfinite(b) or b == a:
            return float(grid[i_in])
        t = float(np.clip((crit - a) / (b - a), 0.0, 1.0))
        return float(grid[i_in] + t * (grid[i_out] - grid[i_in]))

    left = float(grid[0]) if open_lo else edge(lo, lo - 1)
    right = float(grid[-1]) if open_hi else edge(hi, hi + 1)
    return (min(left, best), max(right, best)), (open_lo, open_hi)


def search_breakpoints(
    data: LogData, n_break: int, min_points: int, n_grid: int
) -> tuple[NDArray, list[NDArray], NDArray, float]:
    """Least-squares breakpoints: coarse grid, local refinement, continuous polish.

    The admissible range of each breakpoint is [u_(m), u_(n−m+1)] (m = min_points,
    sorted log x), i.e. at least m points at either end.

    Args:
        data: The points.
        n_break: Number of breakpoints K − 1.
        min_points: Minimum points per segment.
        n_grid: Grid values per breakpoint.

    Returns:
        (best breakpoints (K − 1,) in log x, coarse grid axes, coarse RSS grid,
        coarse grid step).

    Raises:
        ValueError: If no admissible placement exists.
    """
    us = np.sort(data.u)
    lo, hi = us[min_points - 1], us[-min_points]
    if not lo < hi:
        raise ValueError("too few distinct x values for the requested segments")
    axis = np.linspace(lo, hi, n_grid)
    step = float(axis[1] - axis[0])
    coarse = grid_rss(data, [axis] * n_break, min_points)
    if not np.isfinite(coarse).any():
        raise ValueError(
            f"no breakpoint placement leaves {min_points} points in every segment"
        )
    idx = np.unravel_index(int(np.argmin(coarse)), coarse.shape)
    local = [
        np.linspace(max(c - step, lo), min(c + step, hi), n_grid)
        for c in axis[list(idx)]
    ]
    fine = grid_rss(data, local, min_points)
    fidx = np.unravel_index(int(np.argmin(fine)), fine.shape)
    best = np.array([local[k][fidx[k]] for k in range(n_break)])
    h = float(local[0][1] - local[0][0])
    best = polish_breakpoints(data, best, (lo, hi), h, min_points)
    return best, [axis] * n_break, coarse, step


def polish_breakpoints(
    data: LogData,
    start: NDArray,
    bounds: tuple[float, float],
    h: float,
    min_points: int,
) -> NDArray:
    """Continuous minimisation of RSS(τ) from a grid optimum (kept if not better).

    One breakpoint: bounded Brent search on [start − h, start + h]; two:
    Nelder–Mead. RSS(τ) is smooth between consecutive data points, so this converges
    to the exact least-squares breakpoints (and recovers noiseless ones).

    Args:
        data: The points.
        start: Starting breakpoints (K − 1,), in log x.
        bounds: Admissible (lo, hi) for every breakpoint.
        h: Half-width of the Brent bracket (the local grid step).
        min_points: Minimum points per segment.

    Returns:
        The polished breakpoints (K − 1,).
    """
    from scipy import optimize

    def rss(t: NDArray) -> float:
        t = np.atleast_1d(t)[None, :]
        if np.any(t < bounds[0]) or np.any(t > bounds[1]):
            return np.inf
        if not admissible(data.u, t, min_points)[0]:
            return np.inf
        return float(batched_rss(data, t)[0])

    if len(start) == 1:
        lo, hi = max(start[0] - h, bounds[0]), min(start[0] + h, bounds[1])
        res = optimize.minimize_scalar(
            rss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}
        )
    else:
        res = optimize.minimize(
            rss, start, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 0.0}
        )
    cand = np.atleast_1d(np.asarray(res.x, dtype=float))
    return cand if rss(cand) <= rss(start) else start
