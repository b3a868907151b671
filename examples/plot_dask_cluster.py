"""
Coded prediction on a dask cluster with slow and dying workers
==============================================================

With ``executor=client`` (a ``distributed.Client``), a
:class:`~sklearn_coded.estimators.CodedClassifier` really runs its N workers: one
dask task per worker and request, the model scattered to the cluster once, the
first results kept and the rest stopped through a ``distributed.Event`` that the
tasks check. Here a local cluster of two worker processes serves an MLP trained
on the digits, K = 8 rows per request encoded into N = 16 coded rows, and every
worker has a random latency with a slow tail (a
:class:`~sklearn_coded.execution.LatencyStragglers` model, which makes each
task wait its drawn latency before it computes).

We compare waiting for every worker with waiting for the first N - S, and with a
deadline, and then kill one of the two worker processes in the middle of a
request.
"""

import logging
import os
import signal
import threading
import time

import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_coded.estimators import CodedClassifier
from sklearn_coded.execution import LatencyStragglers

smoke = os.environ.get("SKLEARN_CODED_SMOKE") == "1"
n_requests = 12 if smoke else 60
K, N = 8, 16

# %%
# A local cluster
# ---------------
# Two worker processes with eight threads each, so that the 16 tasks of a request
# run at the same time. Any free port serves the dashboard. On a real cluster,
# pass ``Client("tcp://scheduler:8786")`` instead; nothing else changes. Worker
# processes start by importing this script again, so everything that runs is in
# functions called under ``if __name__ == "__main__":`` (the last cell).


def start_cluster():
    """A two-process local cluster and its client."""
    logging.getLogger("distributed").setLevel(logging.ERROR)  # the kill below is on purpose
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=8, processes=True, dashboard_address="127.0.0.1:0"
    )
    return cluster, Client(cluster)


def fit_coded_mlp(client):
    """An MLP trained on half the digits, wrapped for coded prediction on the cluster."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.5, stratify=y, random_state=0
    )
    clf = CodedClassifier(
        MLPClassifier((64,), max_iter=1000, random_state=0),
        batch_size=K,
        n_coded=N,
        executor=client,
        timeout=10,  # seconds: a hung worker cannot hold a request longer than this
        random_state=0,
    ).fit(X_train, y_train)
    return clf, X_test, y_test


# %%
# Slow workers: wait for all, for the first N - S, or until a deadline
# --------------------------------------------------------------------
# Each worker's latency is 20 ms + Exp(10 ms), and with probability 5% another
# Exp(200 ms) on top. Waiting for all 16 workers pays the slowest of them; with
# S = 4 the master decodes from the first 12 and stops the rest; adding a
# deadline of 250 ms (counted from sending the tasks, so it includes dask's own
# overhead) caps a request even when more than S workers are slow: past it, the
# master decodes from whoever has answered, as soon as that is enough (on a busy
# machine dask alone can take longer than 250 ms, and the request then waits for
# the first results rather than failing). ``timeout`` is the hard limit.


def compare_policies(clf, X_test):
    """Latency and agreement with the plain MLP of three waiting policies."""
    mlp = clf.estimator_  # the fitted MLP, scattered to the workers once
    latency = {"shift": 0.02, "scale": 0.01, "slow_prob": 0.05, "slow_scale": 0.2}
    policies = {
        "wait for all 16": LatencyStragglers(**latency),
        "first 12 (S = 4)": LatencyStragglers(**latency, n_stragglers=4),
        "first 12 or 250 ms": LatencyStragglers(**latency, n_stragglers=4, deadline=0.25),
    }
    rng = np.random.default_rng(0)
    requests = [rng.choice(len(X_test), K, replace=False) for _ in range(n_requests)]
    # Warm-up without a time limit: it sends the model to every worker, which then
    # imports scikit-learn and sklearn_coded to unpickle it (seconds on a busy
    # machine); ``timeout`` is a hard limit that would count all of that.
    clf.set_params(timeout=None).predict(X_test[:K])
    clf.set_params(timeout=10)
    latencies, agreement = {}, {}
    for name, stragglers in policies.items():
        clf.set_params(stragglers=stragglers)  # read at prediction time: no refit
        latencies[name], agree = [], []
        for rows in requests:
            start = time.perf_counter()
            predicted = clf.predict(X_test[rows])
            latencies[name].append(1000 * (time.perf_counter() - start))
            agree.append(np.mean(predicted == mlp.predict(X_test[rows])))
        agreement[name] = np.mean(agree)
        print(
            f"{name:>17}: median {np.median(latencies[name]):5.0f} ms, "
            f"max {np.max(latencies[name]):5.0f} ms, agreement with the MLP {agreement[name]:.3f}"
        )

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, values in latencies.items():
        ax.plot(np.sort(values), np.linspace(0, 1, len(values)), drawstyle="steps-post",
                label=f"{name} (agreement {agreement[name]:.2f})")  # fmt: skip
    ax.set(xscale="log", xlabel="request latency (ms)", ylabel="fraction of requests")
    ax.set_title(
        f"K = {K}, N = {N}, {n_requests} requests on a 2-process dask cluster", fontsize=10
    )
    ax.legend(fontsize=8)
    fig.tight_layout()


# %%
# A worker process dies in the middle of a request
# ------------------------------------------------
# Every worker now takes 0.3 s, and 0.1 s into the request we kill one of the
# two worker processes (its nanny restarts it). The tasks that were running in
# it, about half of the 16, are lost. Dask reschedules them on the surviving
# process, and with S = 2 the master decodes as soon as 14 results are in (the
# 8 or so of the survivor and the first rescheduled ones), then stops the rest.


def kill_a_worker(clf, client, X_test, y_test):
    """Predict 128 rows while one of the two worker processes is killed."""
    mlp = clf.estimator_
    clf.set_params(stragglers=LatencyStragglers(shift=0.3, scale=0.001, n_stragglers=2))
    pids = client.run(os.getpid)  # worker address -> process id
    victim = sorted(pids)[0]
    killer = threading.Timer(0.1, os.kill, (pids[victim], signal.SIGKILL))
    rows = np.arange(128)
    start = time.perf_counter()
    killer.start()
    predicted = clf.predict(X_test[rows])
    elapsed = time.perf_counter() - start
    killer.join()
    print(f"one of two worker processes killed mid-request: answered in {elapsed:.2f} s")
    print(f"agreement with the MLP: {np.mean(predicted == mlp.predict(X_test[rows])):.3f}")
    print(f"accuracy: coded {np.mean(predicted == y_test[rows]):.3f}, "
          f"MLP {np.mean(mlp.predict(X_test[rows]) == y_test[rows]):.3f}")  # fmt: skip


# %%
# The request is answered in about the time of two task rounds, and the
# decoded predictions agree with the MLP on 0.98 to 1.00 of the rows in our
# runs (it depends on which coded workers were lost and which came back first),
# about what 2 missing workers of 16 cost anyway. No error reaches the caller:
# a dead process is one more kind of straggler.

# %%
# Run it all, and close the cluster (after its nanny has brought the killed
# worker back).
if __name__ == "__main__":
    cluster, client = start_cluster()
    clf, X_test, y_test = fit_coded_mlp(client)
    compare_policies(clf, X_test)
    kill_a_worker(clf, client, X_test, y_test)
    client.wait_for_workers(2, timeout=30)
    client.close()
    cluster.close()
    plt.show()
