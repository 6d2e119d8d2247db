import numpy as np
import pytest
import torch

from eoss.empirical.data.arrays import load_npz, synthetic_classification
from eoss.empirical.models import ModelSpec, build_model
from eoss.empirical.rng import numpy_rng, stream_seed, torch_gen


def test_mlp_shapes_and_seeded_init():
    spec = ModelSpec("mlp", width=16, depth=2, init_scale=0.2)
    m1 = build_model(spec, (3, 4, 4), 10, torch_gen(0, "init"))
    m2 = build_model(spec, (3, 4, 4), 10, torch_gen(0, "init"))
    assert m1(torch.zeros(5, 3, 4, 4)).shape == (5, 10)
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p, q)
    w = m1[1].weight
    # Kaiming normal (fan-in 48, ReLU gain sqrt 2) times 0.2: std = 0.2*sqrt(2/48)
    assert abs(w.std().item() / (0.2 * np.sqrt(2 / 48)) - 1) < 0.15


def test_model_spec_validation():
    with pytest.raises(ValueError, match="unknown model"):
        ModelSpec("transformer")
    with pytest.raises(ValueError, match="init_scale"):
        ModelSpec("mlp", init_scale=0)


def test_streams_are_independent_and_stable():
    assert stream_seed(0, "init") != stream_seed(0, "data")
    assert stream_seed(0, "init") == stream_seed(0, "init")
    assert numpy_rng(3, "x").integers(1 << 30) == numpy_rng(3, "x").integers(1 << 30)
    with pytest.raises(ValueError):
        stream_seed(-1, "init")


def test_synthetic_balanced_and_reproducible():
    a = synthetic_classification(50, (6,), 5, gen=torch_gen(0, "data"))
    b = synthetic_classification(50, (6,), 5, gen=torch_gen(0, "data"))
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    assert torch.bincount(a.y).tolist() == [10] * 5
    chunks = list(a.chunks(16))
    assert [len(c[0]) for c in chunks] == [16, 16, 16, 2]


def test_load_npz(tmp_path):
    X = np.random.default_rng(0).standard_normal((8, 3))
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(8) % 2)
    ds = load_npz(tmp_path / "d.npz")
    assert ds.X.dtype == torch.float64 and ds.num_classes == 2
    np.testing.assert_array_equal(ds.X.numpy(), X)
    np.savez(tmp_path / "bad.npz", X=X)
    with pytest.raises(ValueError, match="must hold arrays"):
        load_npz(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "missing.npz")
