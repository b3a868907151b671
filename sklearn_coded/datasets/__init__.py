"""Layer 6: offline data loaders (no download at run time)."""

from ._fashion_mnist import DEFAULT_FASHION_MNIST_DIR, load_fashion_mnist

__all__ = ["DEFAULT_FASHION_MNIST_DIR", "load_fashion_mnist"]
