"""as_dataset: a user's data as an ArrayDataset, dtypes kept, one hook for records."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from eoss.empirical.data.adapters import as_dataset
from eoss.empirical.data.arrays import ArrayDataset, dataset_from_arrays


class Pairs(Dataset):
    """A map-style Dataset of (input, target) pairs, as users write them."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


class Records(Pairs):
    def __getitem__(self, i):
        return {"ids": self.X[i], "label": self.y[i], "extra": "ignored"}


def test_array_dataset_is_returned_as_is():
    ds = ArrayDataset(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), "x", 3)
    assert as_dataset(ds) is ds


def test_tensor_pair_keeps_values_and_dtypes():
    X = torch.randn(6, 2, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    ds = as_dataset((X, y))
    assert ds.X is X or torch.equal(ds.X, X)
    assert ds.X.dtype == torch.float64 and ds.y.dtype == torch.int64
    assert ds.num_classes == 4 and len(ds) == 6 and ds.input_shape == (2, 3)


def test_numpy_pair_and_integer_tokens_stay_integer():
    tokens = np.arange(20, dtype=np.int32).reshape(5, 4) % 7
    targets = np.arange(20).reshape(5, 4) % 7  # per-token targets (N, T)
    ds = as_dataset((tokens, targets))
    assert ds.X.dtype == torch.int32
    assert torch.equal(ds.X, torch.from_numpy(tokens))
    assert ds.y.shape == (5, 4) and ds.num_classes == 7
    # .to() with a float dtype casts float inputs only: token ids stay integer
    moved = ds.to("cpu", torch.float64)
    assert moved.X.dtype == torch.int32


def test_float_targets_count_outputs():
    ds = as_dataset((np.zeros((3, 2)), np.ones((3, 5), dtype=np.float32)))
    assert ds.X.dtype == torch.float64 and ds.y.dtype == torch.float32
    assert ds.num_classes == 5
    assert as_dataset((np.zeros((3, 2)), np.ones(3))).num_classes == 1


def test_map_style_dataset_is_stacked_once():
    X, y = torch.randn(7, 3), torch.arange(7) % 2
    ds = as_dataset(Pairs(X, y))
    assert torch.equal(ds.X, X) and torch.equal(ds.y, y)
    assert ds.name == "Pairs"


def test_tensor_dataset_uses_its_tensors():
    X, y = torch.randn(5, 2), torch.arange(5) % 3
    ds = as_dataset(TensorDataset(X, y))
    assert ds.X.data_ptr() == X.data_ptr() and torch.equal(ds.y, y)  # no copy


def test_batch_fn_maps_records_per_item_and_whole_dicts():
    X = torch.randint(0, 9, (6, 4))
    y = torch.arange(6) % 3
    ds = as_dataset(Records(X, y), batch_fn=lambda r: (r["ids"], r["label"]))
    assert torch.equal(ds.X, X) and torch.equal(ds.y, y)
    whole = as_dataset({"x": X, "y": y}, batch_fn=lambda d: (d["x"], d["y"]))
    assert torch.equal(whole.X, X)


def test_bad_inputs_say_what_to_do():
    with pytest.raises(TypeError, match="batch_fn"):
        as_dataset({"x": torch.zeros(2, 1), "y": torch.zeros(2)})
    with pytest.raises(TypeError, match="batch_fn"):
        as_dataset(Records(torch.zeros(2, 1), torch.zeros(2)))
    with pytest.raises(TypeError, match="pair"):
        as_dataset((torch.zeros(2, 1),))
    with pytest.raises(ValueError, match="rows"):
        as_dataset((torch.zeros(3, 1), torch.zeros(2)))
    with pytest.raises(ValueError, match="float or integer"):
        as_dataset((torch.zeros(3, 1, dtype=torch.bool), torch.zeros(3)))
    with pytest.raises(ValueError, match="stack"):
        ragged = Pairs([torch.zeros(2), torch.zeros(3)], [0, 1])
        as_dataset(ragged)


def test_npz_arrays_accept_integer_inputs():
    ds = dataset_from_arrays(
        np.array([[1, 2], [3, 4]], dtype=np.int64), np.array([0, 1]), name="tok"
    )
    assert ds.X.dtype == torch.int64
