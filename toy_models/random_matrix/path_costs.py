"""Cost model of the exact paths to λ_max of many batch sums, and the path choice."""

from __future__ import annotations

PATHS = (
    "gram-eigh",
    "dense-eigh",
    "lanczos-subgram",
    "lanczos-gram",
    "lanczos-factor",
    "lanczos-batch",
)
PATH_CHOICES = ("auto", "gram", "dense", "lanczos", *PATHS)

# Cost model (seconds) measured with numpy 2.4 / OpenBLAS 0.3.31, one BLAS thread,
# on the shared 2-core dev machine; only the ratios between paths matter.
_GEMM_RATE = 6.0e10  # flop/s, BLAS-3 (70 GF/s measured)
_MEM_RATE = 4.0e9  # flop/s, batched matrix-vector products (memory bound, 3-5)
_EIG = (9.0e-11, 2.0e-8, 5.0e-6)  # eigvalsh of s x s: a s^3 + c s^2 + d
_GATHER = 8.0e-9  # s per element gathered by fancy indexing (5-15 ns)
LANCZOS_STEPS = 60  # default guess: 13-20 steps for outliers, ~100 for a bulk edge
_STEP_FIXED = 2.0e-5  # s per Lanczos step per problem (Ritz checks, bookkeeping)


def _eig_cost(s: int) -> float:
    a, c, d = _EIG
    return a * s**3 + c * s**2 + d


def path_costs(
    b: int,
    rank: int,
    dim: int,
    n_rows: int,
    *,
    has_gram: bool,
    psd: bool,
    shared: bool,
    steps: float = LANCZOS_STEPS,
) -> dict[str, float]:
    """Estimated seconds per batch of every valid path.

    Args:
        b: Batch size.
        rank: Factor rows per sample.
        dim: Matrix dimension m.
        n_rows: Rows N of the shared dataset (ignored when not ``shared``).
        has_gram: Whether the dataset Gram K is precomputed.
        psd: Whether all signs are +1.
        shared: True for index batches into one dataset, False for fresh batches.
        steps: Expected Lanczos steps per problem.

    Returns:
        Mapping path → seconds (only valid paths).
    """
    s, m, N = b * rank, dim, n_rows
    form = _GATHER * s * s if has_gram else 2.0 * s * s * m / _GEMM_RATE
    costs = {
        "dense-eigh": 2.0 * s * m * m / _GEMM_RATE + _eig_cost(m),
        "lanczos-batch": _GATHER * s * m
        + steps * (4.0 * s * m / _MEM_RATE + _STEP_FIXED),
    }
    if psd or s <= m:  # signed Gram: eigh with vectors + a second eigvalsh
        costs["gram-eigh"] = form + _eig_cost(s) * (1.0 if psd else 4.0)
    if shared:
        costs["lanczos-factor"] = steps * (4.0 * N * m / _GEMM_RATE + _STEP_FIXED)
    if shared and has_gram and psd:
        costs["lanczos-gram"] = steps * (2.0 * N * N / _GEMM_RATE + _STEP_FIXED)
        costs["lanczos-subgram"] = form + steps * (
            2.0 * s * s / _MEM_RATE + _STEP_FIXED
        )
    return costs


def resolve_path(requested: str, costs: dict[str, float]) -> str:
    """The concrete path for a request (``auto``, a family, or a path name).

    Args:
        requested: One of :data:`PATH_CHOICES`.
        costs: Output of :func:`path_costs`.

    Returns:
        A path name from :data:`PATHS`.

    Raises:
        ValueError: If the request is unknown or not valid for this problem.
    """
    if requested not in PATH_CHOICES:
        raise ValueError(f"unknown path {requested!r}; choose from {PATH_CHOICES}")
    prefix = {"auto": "", "gram": "gram-eigh", "dense": "dense-eigh"}
    want = prefix.get(requested, requested)
    valid = {p: c for p, c in costs.items() if p.startswith(want)}
    if not valid:
        raise ValueError(f"path {requested!r} is not valid here (valid: {list(costs)})")
    return min(valid, key=valid.__getitem__)
