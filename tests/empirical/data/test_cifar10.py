import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from eoss.analysis import records
from eoss.analysis.cli import data_root as datasets
from eoss.analysis.cli.main import main
from eoss.empirical.data import cifar10
from eoss.empirical.data.cifar10 import (
    class_covering_subset,
    load_cifar10,
    locate,
    read_batch,
)

PER_BATCH = 40


def write_batch(path, data, labels, names):
    """A batch in the standard python-version layout (pickle protocol 2)."""
    obj = {
        b"batch_label": b"fixture",
        b"labels": [int(v) for v in labels],
        b"data": np.ascontiguousarray(data, dtype=np.uint8),
        b"filenames": [n.encode() for n in names],
    }
    path.write_bytes(pickle.dumps(obj, protocol=2))


def make_root(tmp_path, batches=(1, 3), ext=".png", seed=0):
    """A data root with some training batches, a test batch and the meta file."""
    rng = np.random.default_rng(seed)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    pixels = {}
    for k in [*batches, "test"]:
        data = rng.integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8)
        labels = np.arange(PER_BATCH) % 10
        rng.shuffle(labels)
        name = f"data_batch_{k}" if k != "test" else "test_batch"
        write_batch(
            folder / name, data, labels, [f"img{i}{ext}" for i in range(PER_BATCH)]
        )
        pixels[name] = (data, labels)
    meta = {b"label_names": [n.encode() for n in cifar10.LABEL_NAMES]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return tmp_path, pixels


def test_locate_accepts_root_or_folder_and_explains_when_missing(tmp_path):
    root, _ = make_root(tmp_path)
    assert locate(root) == root / "cifar-10-batches-py"
    assert locate(root / "cifar-10-batches-py") == root / "cifar-10-batches-py"
    with pytest.raises(FileNotFoundError) as err:
        locate(tmp_path / "nowhere")
    msg = str(err.value)
    assert "\n" not in msg and "cifar-10-batches-py" in msg and cifar10.URL in msg


def test_read_batch_layout_and_hash(tmp_path):
    root, pixels = make_root(tmp_path)
    path = root / "cifar-10-batches-py" / "data_batch_3"
    batch = read_batch(path)
    np.testing.assert_array_equal(batch.data, pixels["data_batch_3"][0])
    np.testing.assert_array_equal(batch.labels, pixels["data_batch_3"][1])
    assert batch.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert batch.filenames[0] == "img0.png"


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load"):
        read_batch(bad)


def test_subset_normalisation_layout_and_provenance(tmp_path):
    root, pixels = make_root(tmp_path)
    train, test = load_cifar10(root, n_train=50, seed=3)
    assert train.X.shape == (50, 3, 32, 32) and test.X.shape == (PER_BATCH, 3, 32, 32)
    # Per-channel standardisation with the subset's statistics (float32 sums of
    # 51200 values per channel: 1e-5 absolute is ~100 eps).
    torch.testing.assert_close(
        train.X.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        train.X.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-5, rtol=0
    )
    prov = train.provenance
    mean, std = np.array(prov["channel_mean"]), np.array(prov["channel_std"])
    # Pool row 0 = image 0 of data_batch_1; pixel (c, h, w) = data[c*1024 + h*32 + w].
    pool = np.concatenate([pixels["data_batch_1"][0], pixels["data_batch_3"][0]])
    labels = np.concatenate([pixels["data_batch_1"][1], pixels["data_batch_3"][1]])
    rows = [
        int(np.flatnonzero((pool[:, :4] == _raw(train.X[i], mean, std)[:4]).all(1))[0])
        for i in range(5)
    ]
    for i, r in enumerate(rows):
        np.testing.assert_allclose(_raw(train.X[i], mean, std), pool[r], atol=1e-3)
        assert int(train.y[i]) == labels[r]
    expected_test = (
        pixels["test_batch"][0][7].reshape(3, 32, 32) / 255.0 - mean[:, None, None]
    ) / std[:, None, None]
    np.testing.assert_allclose(test.X[7].numpy(), expected_test, atol=1e-5)
    assert set(prov["files_sha256"]) == {"data_batch_1", "data_batch_3", "test_batch"}
    assert prov["train_pool"] == 2 * PER_BATCH and "caveat" not in prov


def _raw(x, mean, std):
    """Undo the normalisation and flatten to the 3072 uint8 layout."""
    img = x.numpy() * std[:, None, None] + mean[:, None, None]
    return np.rint(img * 255).reshape(-1)


def test_subset_is_seeded_and_class_covering(tmp_path):
    root, _ = make_root(tmp_path)
    a, _ = load_cifar10(root, n_train=10, seed=1, n_test=0)
    b, _ = load_cifar10(root, n_train=10, seed=1, n_test=5)
    c, _ = load_cifar10(root, n_train=10, seed=2, n_test=0)
    assert torch.equal(a.X, b.X) and not torch.equal(a.X, c.X)
    assert sorted(a.y.tolist()) == list(range(10))
    labels = np.array([0] * 95 + list(range(1, 10)) + [0])
    for seed in range(20):
        idx = class_covering_subset(labels, 10, np.random.default_rng(seed))
        assert sorted(set(labels[idx])) == list(range(10)) and len(set(idx)) == 10
    with pytest.raises(ValueError, match="exceeds"):
        load_cifar10(root, n_train=81)


def test_jpeg_caveat_detected_by_filenames(tmp_path):
    root, _ = make_root(tmp_path, ext=".jpg")
    train, _ = load_cifar10(root, n_train=20)
    assert "JPEG" in train.provenance["caveat"]


def test_download_when_missing_and_offline_error(tmp_path, monkeypatch, capsys):
    src, _ = make_root(tmp_path / "src")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    blob = buf.getvalue()

    def fake_download(url, dest, *, md5=None, timeout=30.0, progress=None):
        assert url == cifar10.URL and md5 == cifar10.ARCHIVE_MD5
        return records.atomic_write_bytes(dest, blob)

    monkeypatch.setattr(records, "download_file", fake_download)
    root = tmp_path / "fresh"
    assert datasets.ensure_cifar10(root) == root
    assert locate(root).is_dir() and not (root / "cifar-10-python.tar.gz").exists()

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(records, "download_file", offline)
    with pytest.raises(FileNotFoundError, match="download failed"):
        datasets.ensure_cifar10(tmp_path / "empty")
    capsys.readouterr()
    code = main(
        [
            "train",
            "--preset",
            "test",
            "--set",
            "data.name=cifar10",
            "--data-root",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path),
        ]
    )
    lines = capsys.readouterr().err.strip().split("\n")
    # Offline, nothing is shown before the error: exactly one line (the download
    # note appears only once bytes arrive).
    assert code == 2 and len(lines) == 1
    assert (
        lines[-1].startswith("eoss train: error:")
        and "cifar-10-batches-py" in lines[-1]
    )


@pytest.mark.cifar
def test_real_cifar10(cifar_data_root):
    train, test = load_cifar10(cifar_data_root, n_train=8192, seed=0)
    assert train.X.shape == (8192, 3, 32, 32) and len(test) == 10_000
    assert torch.bincount(train.y, minlength=10).min() > 0
    assert torch.bincount(test.y).tolist() == [1000] * 10
    first = read_batch(locate(cifar_data_root) / "data_batch_1")
    assert first.labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    prov = train.provenance
    if first.sha256 in cifar10.JPEG_REBUILD_SHA256 or first.filenames[0].endswith(
        ".jpg"
    ):
        assert "JPEG" in prov["caveat"]
    assert prov["files_sha256"]["data_batch_1"] == first.sha256


def test_load_dataset_by_name(tmp_path):
    root, _ = make_root(tmp_path)
    cifar = datasets.load_dataset("cifar10", n=20, seed=4, root=root)
    same, _ = load_cifar10(root, n_train=20, seed=4, n_test=0)
    assert torch.equal(cifar.X, same.X) and torch.equal(cifar.y, same.y)
    assert len(datasets.load_dataset("synthetic", n=30)) == 30
    np.savez(tmp_path / "d.npz", X=np.ones((3, 2)), y=np.array([0, 1, 0]))
    assert len(datasets.load_dataset(str(tmp_path / "d.npz"))) == 3
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load_dataset("mnist")
