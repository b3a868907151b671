"""Helpers of bench_serving.py and bench_serving_soak.py: the CNN and a command-line cluster.

- ``train_cnn``: a small convolutional network (skorch, two 3x3 convolutions on
  the 8x8 digits of ``load_digits``), one intra-op thread.
- ``cli_cluster``: ``dask scheduler`` and ``dask worker`` processes started from
  the command line (as a user deploys them), named 0..W-1, torn down after, also
  on failure; yields the client and the scheduler's process (for its memory).
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import distributed
import numpy as np
import torch
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

ROOT = Path(__file__).resolve().parents[1]


class SmallCNN(torch.nn.Module):
    """conv 3x3 (16) - ReLU - conv 3x3 (32) - ReLU - 2x2 max-pool - linear (10), on 8x8 images."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        )
        self.head = torch.nn.Linear(32 * 4 * 4, 10)

    def forward(self, X):
        return self.head(self.features(X.reshape(-1, 1, 8, 8)).flatten(1))


def digits():
    """The 1797 digits as float64 rows of 64 pixels in [0, 1], and their labels."""
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y.astype(np.int64)


def train_cnn(X, y, seed=0):
    """A SmallCNN fitted for 15 epochs (SGD with momentum), logits decoded by the coded path."""
    torch.manual_seed(seed)
    net = NeuralNetClassifier(
        SmallCNN,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        lr=0.05,
        max_epochs=15,
        batch_size=64,
        train_split=None,
        verbose=0,
        device="cpu",
    )
    return net.fit(X.astype(np.float32), y)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(*args):
    paths = [str(ROOT), str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextlib.contextmanager
def cli_cluster(n_workers):
    """Yield ``(client, scheduler process)`` of a cluster started from the command line."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    processes, client = [], None
    try:
        processes.append(
            _start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                   "--no-dashboard")
        )  # fmt: skip
        for i in range(n_workers):
            processes.append(
                _start("worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                       "--name", str(i), "--no-nanny", "--no-dashboard")
            )  # fmt: skip
        client = distributed.Client(address, timeout=60)
        client.wait_for_workers(n_workers, timeout=120)
        yield client, processes[0]
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=5)
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
