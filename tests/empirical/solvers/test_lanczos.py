"""Lanczos and power iteration on matrices with known spectra.

Tolerances: in float64 a residual target tol bounds each eigenvalue error by
tol·|λ| (symmetric residual bound); we assert 10·tol to leave room for the
final-product round-off. Float32 cases use rtol = 2000·eps(float32) as in scipy's
``_get_test_tolerance``.
"""

import numpy as np
import pytest
import torch

from eoss.empirical.solvers.lanczos import lanczos
from eoss.empirical.solvers.power_iteration import power_iteration

F64 = torch.float64


def spectral_matrix(eigs: np.ndarray, seed: int) -> torch.Tensor:
    """Q diag(eigs) Qᵀ with a seeded Haar-ish orthogonal Q."""
    gen = torch.Generator().manual_seed(seed)
    n = len(eigs)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=F64))
    return Q @ torch.diag(torch.as_tensor(eigs, dtype=F64)) @ Q.T


def start(n: int, seed: int = 1, K: int | None = None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    shape = (n,) if K is None else (K, n)
    return torch.randn(*shape, generator=gen, dtype=F64)


def assert_eigpairs(A, res, tol):
    lam, V = res.eigenvalues, res.eigenvectors
    for i in range(len(lam)):
        r = (A @ V[:, i] - lam[i] * V[:, i]).norm()
        assert float(r) == pytest.approx(float(res.residuals[i]), rel=1e-6, abs=1e-12)
        assert float(r) <= tol * abs(float(lam[i])) * 1.0001


def test_top_k_of_a_known_spectrum():
    eigs = np.concatenate([np.linspace(-1.0, 1.0, 97), [3.0, 4.0, 5.0]])
    A = spectral_matrix(eigs, 0)
    res = lanczos(lambda v: A @ v, start(100), k=3, tol=1e-9, return_vectors=True)
    np.testing.assert_allclose(res.eigenvalues.numpy(), [5.0, 4.0, 3.0], rtol=1e-8)
    assert res.all_converged
    assert_eigpairs(A, res, 1e-9)
    # Ritz vectors are orthonormal
    G = res.eigenvectors.T @ res.eigenvectors
    torch.testing.assert_close(G, torch.eye(3, dtype=F64), rtol=0, atol=1e-10)


def test_la_is_largest_algebraic_when_the_largest_magnitude_is_negative():
    eigs = np.concatenate([[-10.0, -9.0], np.linspace(-1.0, 1.0, 57), [2.0]])
    A = spectral_matrix(eigs, 1)
    la = lanczos(lambda v: A @ v, start(60), which="LA", tol=1e-10)
    lm = lanczos(lambda v: A @ v, start(60), which="LM", k=2, tol=1e-10)
    sa = lanczos(lambda v: A @ v, start(60), which="SA", k=2, tol=1e-10)
    assert float(la.eigenvalues[0]) == pytest.approx(2.0, rel=1e-9)
    np.testing.assert_allclose(lm.eigenvalues.numpy(), [-10.0, -9.0], rtol=1e-9)
    np.testing.assert_allclose(sa.eigenvalues.numpy(), [-10.0, -9.0], rtol=1e-9)


def test_wishart_against_eigvalsh():
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(80, 40, generator=gen, dtype=F64)
    A = X.T @ X / 80
    ref = torch.linalg.eigvalsh(A).flip(0)[:4]
    res = lanczos(lambda v: A @ v, start(40), k=4, tol=1e-10, return_vectors=True)
    np.testing.assert_allclose(res.eigenvalues.numpy(), ref.numpy(), rtol=1e-9)
    assert_eigpairs(A, res, 1e-10)


def test_batched_equals_looped():
    mats = [spectral_matrix(np.linspace(-1, 1 + i, 50), 10 + i) for i in range(3)]
    stack = torch.stack(mats)
    V0 = start(50, K=3)
    batched = lanczos(
        lambda V: torch.einsum("kij,kj->ki", stack, V), V0, k=2, tol=1e-8, min_iter=12
    )
    assert batched.eigenvalues.shape == (3, 2)
    for i, A in enumerate(mats):
        one = lanczos(lambda v, A=A: A @ v, V0[i], k=2, tol=1e-8, min_iter=12)
        np.testing.assert_allclose(
            batched.eigenvalues[i].numpy(), one.eigenvalues.numpy(), rtol=1e-8
        )
        assert float(batched.eigenvalues[i, 0]) == pytest.approx(1 + i, rel=1e-7)


def test_non_convergence_is_reported():
    A = spectral_matrix(np.linspace(0.0, 1.0, 200), 4)  # no gap: slow convergence
    res = lanczos(lambda v: A @ v, start(200), tol=1e-12, min_iter=2, max_iter=5)
    assert res.n_matvecs == 5 + 1  # five steps plus the true-residual product
    assert not res.all_converged
    assert float(res.residuals[0]) > 1e-12


def test_asymmetric_operator_fails_its_certificate():
    """The true residual (not the recurrence estimate) decides `converged`."""
    A = spectral_matrix(np.linspace(0.0, 1.0, 30), 5)
    gen = torch.Generator().manual_seed(6)
    S = torch.randn(30, 30, generator=gen, dtype=F64)
    B = A + 0.3 * (S - S.T)
    res = lanczos(lambda v: B @ v, start(30), tol=1e-6, min_iter=5, max_iter=29)
    assert not res.all_converged


def test_exact_eigenvector_start_still_finds_the_top():
    """Breakdown at step 1 restarts with a random orthogonal vector."""
    eigs = np.linspace(-1.0, 3.0, 40)
    gen = torch.Generator().manual_seed(7)
    Q, _ = torch.linalg.qr(torch.randn(40, 40, generator=gen, dtype=F64))
    A = Q @ torch.diag(torch.as_tensor(eigs)) @ Q.T
    res = lanczos(lambda v: A @ v, Q[:, 10].clone(), tol=1e-9, min_iter=5)
    assert float(res.eigenvalues[0]) == pytest.approx(3.0, rel=1e-8)


def test_low_rank_operator_is_exact_after_rank_steps():
    gen = torch.Generator().manual_seed(8)
    B = torch.randn(60, 3, generator=gen, dtype=F64)
    A = B @ B.T
    ref = torch.linalg.eigvalsh(A).flip(0)[:3]
    res = lanczos(lambda v: A @ v, start(60), k=3, tol=1e-10, min_iter=1)
    np.testing.assert_allclose(res.eigenvalues.numpy(), ref.numpy(), rtol=1e-10)
    assert res.n_matvecs <= 4 + 3


def test_tiny_problem_runs_to_dimension():
    A = torch.diag(torch.tensor([1.0, -2.0, 0.5], dtype=F64))
    res = lanczos(lambda v: A @ v, start(3), k=3, tol=1e-12)
    np.testing.assert_allclose(res.eigenvalues.numpy(), [1.0, 0.5, -2.0], atol=1e-12)


def test_float32():
    A = spectral_matrix(np.linspace(0.0, 1.0, 100) ** 3 * 7.0, 9).float()
    rtol = 2000 * float(np.finfo(np.float32).eps)
    res = lanczos(lambda v: A @ v, start(100).float(), tol=1e-5, return_vectors=True)
    assert res.eigenvectors.dtype == torch.float32
    assert float(res.eigenvalues[0]) == pytest.approx(7.0, rel=rtol)


def test_warm_start_is_cheaper():
    A = spectral_matrix(np.concatenate([np.linspace(0, 1, 299), [1.3]]), 11)
    cold = lanczos(
        lambda v: A @ v, start(300), tol=1e-8, min_iter=1, return_vectors=True
    )
    warm_v0 = cold.eigenvectors[:, 0] + 1e-3 * start(300, seed=2)
    warm = lanczos(lambda v: A @ v, warm_v0, tol=1e-8, min_iter=1)
    assert warm.n_matvecs < cold.n_matvecs
    assert float(warm.eigenvalues[0]) == pytest.approx(1.3, rel=1e-7)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"which": "XX"}, "which"),
        ({"k": 0}, "k"),
        ({"tol": 0.0}, "tol"),
    ],
)
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        lanczos(lambda v: v, start(5), **kw)


def test_bad_start_vectors():
    with pytest.raises(ValueError, match="zero"):
        lanczos(lambda v: v, torch.zeros(4, dtype=F64))
    with pytest.raises(ValueError, match="shape"):
        lanczos(lambda v: v, torch.zeros(2, 2, 2, dtype=F64))


def test_power_iteration_converges_to_largest_magnitude():
    eigs = np.concatenate([[-3.0], np.linspace(0.0, 1.0, 48), [2.0]])
    A = spectral_matrix(eigs, 12)
    res = power_iteration(lambda v: A @ v, start(50), rule="none", max_iter=200)
    # |λ2/λ1| = 2/3: after 200 products the Rayleigh quotient is exact to ~eps
    assert res.eigenvalue == pytest.approx(-3.0, rel=1e-10)
    assert res.n_matvecs == 200 and len(res.history) == 200 and not res.stopped_by_rule


def test_power_iteration_pyhessian_rule_stops_early_and_inaccurately():
    eigs = np.concatenate([np.linspace(0.0, 1.0, 98), [1.95, 2.0]])  # ratio 0.975
    A = spectral_matrix(eigs, 13)
    res = power_iteration(lambda v: A @ v, start(100), tol=1e-3)
    assert res.stopped_by_rule and res.n_matvecs < 100
    err = abs(res.eigenvalue - 2.0) / 2.0
    assert err > 1e-3  # the relative-change rule stops well before 1e-3 accuracy
    with pytest.raises(ValueError, match="rule"):
        power_iteration(lambda v: v, start(3), rule="bad")
