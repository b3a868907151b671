"""Dask clusters started from the command line for the fault-injection tests.

``dask scheduler`` and ``dask worker`` processes (no nannies, so that a killed
worker stays dead) on 127.0.0.1 with free ports, each in its own session, all
killed (after SIGCONT, in case one is frozen) when the context ends, also on
failure. The scheduler runs dask's defaults, the Active Memory Manager included.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import distributed

import sklearn_coded

ROOT = str(Path(sklearn_coded.__file__).resolve().parents[1])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(*args):
    """``python -m dask *args`` with this checkout importable, quiet, in its own session."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def end(process):
    if process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)  # a stopped process cannot die of SIGKILL late
        process.kill()
    process.wait(timeout=10)


def start_worker(address, nthreads=2):
    return start(
        "worker", address, "--host", "127.0.0.1", "--nthreads", str(nthreads),
        "--no-nanny", "--no-dashboard", "--death-timeout", "20",
    )  # fmt: skip


@contextlib.contextmanager
def cli_cluster(n_workers, nthreads=2, wait=True):
    """Yield ``(client, scheduler process, {worker pid: process})``.

    With ``wait=False`` the client connects as soon as the scheduler answers,
    before the workers have registered (a cold cluster).
    """
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = []
    client = None
    try:
        scheduler = start(
            "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
            "--idle-timeout", "300",
        )  # fmt: skip
        processes.append(scheduler)
        workers = [start_worker(address, nthreads) for _ in range(n_workers)]
        processes += workers
        client = distributed.Client(address, timeout=60)
        if wait:
            client.wait_for_workers(n_workers, timeout=60)
        yield client, scheduler, {process.pid: process for process in workers}
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=2)
        for process in processes:
            end(process)
