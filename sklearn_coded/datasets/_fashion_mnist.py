"""Offline loader for Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, MIT licence)."""

import gzip
import os
from pathlib import Path

import numpy as np

#: Where Debian's ``dataset-fashion-mnist`` package puts the idx files.
DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def load_fashion_mnist(subset="train", *, n_samples=None, data_home=None):
    """Load Fashion-MNIST from local idx files; nothing is downloaded.

    The files are looked up in ``data_home``, else in the directory named by the
    environment variable ``SKLEARN_CODED_FASHION_MNIST``, else in
    ``/usr/share/datasets/fashion-mnist``, where Debian's package installs them::

        apt-get install dataset-fashion-mnist

    Any directory holding the four original ``*-idx?-ubyte.gz`` files works.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        The 60,000 training or the 10,000 test images.
    n_samples : int, optional
        Keep only the first ``n_samples`` images (the files are in a fixed,
        class-balanced random order, so a prefix is a fair subset).
    data_home : str or path-like, optional
        Directory holding the files.

    Returns
    -------
    X : ndarray of shape (n, 784), float32
        Pixels scaled to [0, 1], row-major 28 x 28 images.
    y : ndarray of shape (n,), int64
        Class labels 0..9.

    Raises
    ------
    FileNotFoundError
        If the files are absent, with the command that installs them.

    Examples
    --------
    >>> from sklearn_coded.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist("test", n_samples=5)  # doctest: +SKIP
    >>> X.shape, X.dtype, y.dtype  # doctest: +SKIP
    ((5, 784), dtype('float32'), dtype('int64'))
    """
    if subset not in _FILES:
        raise ValueError(f"subset must be 'train' or 'test'; got {subset!r}.")
    if n_samples is not None and (not isinstance(n_samples, int | np.integer) or n_samples < 1):
        raise ValueError(f"n_samples must be a positive integer or None; got {n_samples!r}.")
    folder = Path(
        data_home or os.environ.get("SKLEARN_CODED_FASHION_MNIST") or DEFAULT_FASHION_MNIST_DIR
    )
    paths = [folder / name for name in _FILES[subset]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files not found: {', '.join(missing)}. Install them with "
            "'apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or put the four "
            "original *-idx?-ubyte.gz files in a folder and pass data_home= or set "
            "SKLEARN_CODED_FASHION_MNIST to it."
        )
    images, labels = (_read_idx(p, n_samples) for p in paths)
    X = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)
    return X, labels.astype(np.int64)


def _read_idx(path, n_samples):
    """Read an idx file: magic (2 zero bytes, dtype 0x08 = uint8, ndim), big-endian dims."""
    with gzip.open(path, "rb") as f:
        header = f.read(4)
        if header[:3] != b"\x00\x00\x08":
            raise ValueError(f"{path} is not a uint8 idx file (header {header!r}).")
        ndim = header[3]
        shape = tuple(int.from_bytes(f.read(4), "big") for _ in range(ndim))
        count = shape[0] if n_samples is None else min(n_samples, shape[0])
        shape = (count, *shape[1:])
        data = np.frombuffer(f.read(int(np.prod(shape))), dtype=np.uint8)
    if data.size != np.prod(shape):
        raise ValueError(f"{path} is truncated: expected {np.prod(shape)} bytes.")
    return data.reshape(shape)
