"""Batched dense, signed-Gram and block-Lanczos top eigenvalues vs LAPACK."""

import numpy as np
import pytest

from eoss.toy_models.random_matrix.top_eigenvalue import (
    block_lanczos_top,
    lanczos_top_pair,
    signed_gram_top,
    top_eigvalsh,
)

EPS = np.finfo(np.float64).eps


def _stack_op(A):
    return lambda X, idx: np.einsum("kij,kj->ki", A[idx], X)


def _sym(rng, k, n):
    A = rng.standard_normal((k, n, n))
    return (A + A.transpose(0, 2, 1)) / 2


def test_block_lanczos_matches_eigvalsh_and_is_largest_algebraic(rng):
    A = _sym(rng, 12, 60)
    A[3] -= 30 * np.eye(60)  # largest |lambda| is negative: "LA" must not pick it
    ref = np.linalg.eigvalsh(A)[:, -1]
    res = block_lanczos_top(_stack_op(A), rng.standard_normal((12, 60)), tol=1e-12)
    assert res.converged.all()
    # Residual r bounds |theta - lambda| (Weyl); with tol 1e-12 that is ~1e-11.
    np.testing.assert_allclose(res.values, ref, rtol=0, atol=1e-10)
    assert np.all(res.values <= ref + 64 * EPS * np.abs(ref))  # Ritz values interlace
    assert np.all(res.residuals <= 1e-12 * np.abs(res.values) + 1e-14)


def test_block_lanczos_breaks_down_exactly_on_low_rank(rng):
    G = rng.standard_normal((5, 3, 40))
    A = np.einsum("kri,krj->kij", G, G)  # rank 3
    res = block_lanczos_top(_stack_op(A), rng.standard_normal((5, 40)))
    assert res.converged.all() and np.all(res.iterations <= 5)
    np.testing.assert_allclose(res.values, np.linalg.eigvalsh(A)[:, -1], rtol=1e-12)


def test_block_lanczos_rejects_zero_start():
    with pytest.raises(ValueError):
        block_lanczos_top(lambda X, i: X, np.zeros((2, 3)))


def test_signed_gram_top_is_the_top_of_the_nonzero_spectrum(rng):
    F = rng.standard_normal((6, 4, 9))
    S = rng.choice([-1.0, 1.0], size=(6, 4))
    K = np.einsum("kai,kbi->kab", F, F)
    dense = np.einsum("kai,ka,kaj->kij", F, S, F)
    ref = np.linalg.eigvalsh(dense)[:, -1]
    # 4 < 9 rows: dense has zero eigenvalues, so its top is max(gram top, 0).
    got = np.maximum(signed_gram_top(K, S), 0.0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e3 * EPS * np.abs(ref).max())


def test_top_eigvalsh_is_lapack_top(rng):
    A = _sym(rng, 3, 7)
    np.testing.assert_array_equal(top_eigvalsh(A), np.linalg.eigvalsh(A)[:, -1])


@pytest.mark.parametrize("dim", [2, 3, 30])
def test_lanczos_top_pair_value_vector_residual(dim, rng):
    A = _sym(rng, 1, dim)[0] - 5 * np.eye(dim)
    pair = lanczos_top_pair(lambda x: A @ x, dim, rng.standard_normal(dim))
    lam = np.linalg.eigvalsh(A)[-1]
    assert pair.value == pytest.approx(lam, abs=1e-10)
    assert np.linalg.norm(A @ pair.vector - pair.value * pair.vector) < 1e-9
    assert pair.residual < 1e-9 and pair.converged
