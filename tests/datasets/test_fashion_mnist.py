import gzip
from pathlib import Path

import numpy as np
import pytest

from sklearn_coded.datasets import DEFAULT_FASHION_MNIST_DIR, load_fashion_mnist


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_dataset(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28))
    labels = rng.integers(0, 10, size=7)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    return tmp_path, images, labels


def test_reads_idx_files_scaled_to_unit_interval(tiny_dataset):
    folder, images, labels = tiny_dataset
    X, y = load_fashion_mnist("test", data_home=folder)
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X, images.reshape(7, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(y, labels)
    X3, y3 = load_fashion_mnist("test", data_home=folder, n_samples=3)
    np.testing.assert_array_equal(X3, X[:3])
    np.testing.assert_array_equal(y3, y[:3])


def test_environment_variable_names_the_folder(tiny_dataset, monkeypatch):
    folder, _, labels = tiny_dataset
    monkeypatch.setenv("SKLEARN_CODED_FASHION_MNIST", str(folder))
    np.testing.assert_array_equal(load_fashion_mnist("test")[1], labels)


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", data_home=tmp_path)


@pytest.mark.parametrize("kwargs", [{"subset": "valid"}, {"n_samples": 0}])
def test_bad_arguments_are_named(kwargs, tiny_dataset):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        load_fashion_mnist(**{"subset": "test", **kwargs}, data_home=tiny_dataset[0])


@pytest.mark.skipif(
    not Path(DEFAULT_FASHION_MNIST_DIR).is_dir(), reason="dataset-fashion-mnist not installed"
)
def test_real_files_have_the_published_shape_and_balance():
    X, y = load_fashion_mnist("test")
    assert X.shape == (10_000, 784)
    assert X.min() >= 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))
