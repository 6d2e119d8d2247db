"""Every solver path of batch_tops equals a direct eigvalsh of the batch sum."""

import numpy as np
import pytest

from eoss.toy_models.random_matrix.batch_spectra import (
    PreparedSample,
    batch_tops,
    path_costs,
    resolve_path,
)
from eoss.toy_models.random_matrix.factor_sample import FactorSample
from eoss.toy_models.random_matrix.families import make_family
from eoss.toy_models.random_matrix.path_costs import PATHS

EPS = np.finfo(np.float64).eps

CASES = {
    "spiked": dict(name="spiked", spike=8.0),
    "block-rank3": dict(name="block", rank=3),
    "indefinite": dict(name="isotropic", rank=2, residual=1.5),
    "orthogonal": dict(name="orthogonal"),
}


def _dense_reference(sample, batches):
    return np.linalg.eigvalsh(sample.matrices()[batches].mean(axis=1))[:, -1]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("b", [1, 4, 12, 24])
def test_all_paths_equal_dense_eigvalsh(case, b, rng):
    kw = dict(CASES[case])
    fam = make_family(kw.pop("name"), 30, **kw)
    sample = fam.sample(24, rng)
    batches = np.sort(rng.integers(0, 24, size=(5, b)), axis=1)  # with repeats
    ref = _dense_reference(sample, batches)
    data = PreparedSample.build(sample)
    scale = np.abs(ref).max()
    for path in PATHS:
        try:
            got = batch_tops(data, batches, path=path, tol=1e-13, rng=rng)
        except ValueError:  # path not valid here (e.g. Gram paths of indefinite sums)
            assert path.startswith("lanczos-") or not data.psd
            continue
        assert got.path == path
        # Direct paths are backward stable: |d lambda| <= c m eps ||H||. Lanczos
        # stops at residual 1e-13 |theta|, which bounds the error (Weyl).
        tol = 1e3 * EPS * scale if path.endswith("eigh") else 1e-12 * scale
        np.testing.assert_allclose(got.values, ref, rtol=0, atol=tol, err_msg=path)


def test_gram_path_is_direct_eigvalsh_to_float64_precision(rng):
    sample = make_family("isotropic", 150, rank=2).sample(40, rng)
    batches = np.sort(rng.choice(40, size=(4, 10), replace=True), axis=1)
    ref = _dense_reference(sample, batches)  # 150 x 150 eigvalsh per batch
    got = batch_tops(PreparedSample.build(sample), batches, path="gram", rng=rng)
    assert got.path == "gram-eigh" and got.residuals is None
    np.testing.assert_allclose(got.values, ref, rtol=100 * EPS)


def test_indefinite_gram_side_adds_the_zero_eigenvalue(rng):
    # Every batch sum is negative semi-definite of rank <= 2 in 10 dimensions,
    # so lambda_max = 0 exactly, although the small problem is all negative.
    F = rng.standard_normal((6, 1, 10))
    sample = FactorSample(F, -np.ones((6, 1)))
    batches = np.array([[0, 1], [2, 3]])
    got = batch_tops(PreparedSample.build(sample), batches, path="gram", rng=rng)
    np.testing.assert_array_equal(got.values, 0.0)


def test_resolve_path_and_costs():
    costs = path_costs(8, 1, 100, 64, has_gram=True, psd=True, shared=True)
    assert set(costs) == set(PATHS)
    assert resolve_path("auto", costs) == min(costs, key=costs.get)
    assert resolve_path("gram", costs) == "gram-eigh"
    assert resolve_path("lanczos", costs).startswith("lanczos-")
    # Fresh (online) batches and indefinite sums restrict the choice.
    online = path_costs(8, 1, 100, 0, has_gram=False, psd=True, shared=False)
    assert set(online) == {"gram-eigh", "dense-eigh", "lanczos-batch"}
    signed = path_costs(200, 1, 100, 400, has_gram=True, psd=False, shared=True)
    assert "gram-eigh" not in signed and "lanczos-gram" not in signed
    with pytest.raises(ValueError, match="not valid"):
        resolve_path("gram", signed)
    with pytest.raises(ValueError, match="unknown path"):
        resolve_path("qr", costs)


def test_auto_prefers_gram_for_small_and_count_lanczos_for_large_batches():
    small = path_costs(4, 1, 2000, 2000, has_gram=True, psd=True, shared=True)
    large = path_costs(1024, 1, 2000, 2000, has_gram=True, psd=True, shared=True)
    assert resolve_path("auto", small) == "gram-eigh"
    assert resolve_path("auto", large).startswith("lanczos-")
