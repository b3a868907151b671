"""Benchmark of coded serving under concurrent load (issue 23), in process and on dask.

Part 1, in process: ``CodedClassifier`` (K = 16, N = 32, S = 2, ``executor=None``)
against the plain model's own method on the same 2000 rows, for an MLP
(40-256-256-5, sklearn ``MLPClassifier``) and a ``LogisticRegression``; plain and
coded calls interleaved, median of the repeats (wall clock, and CPU time of the
calling thread, which a loaded machine does not inflate), one BLAS thread.
Targets: coded / plain <= 1.2 x (N/K) = 2.4 for the MLP and <= 4 for logistic
regression.

Part 2, on a dask ``LocalCluster`` (4 worker processes x 1 thread): C client
threads (1, 4, 8, 16) each send requests of R rows (16, 64, 1024) back to back for
a fixed time, the schemes taking turns in 2 rounds per cell (pooled); throughput
(rows/s) and p50/p99 request latency for the MLP; then the CNN of
``serving_models.py`` (8 clients) on the same cluster, and the MLP (8 clients, 16
and 1024 rows) on a cluster started from the command line (``dask scheduler`` and
``dask worker`` processes, torn down after). For

- uncoded: ``client.submit`` of the plain model's ``predict_proba`` on the scattered
  model (the baseline a user would write), alone and behind the same
  :class:`CoalescingPredictor` as the coded scheme;
- uncoded actors: the plain model held on every worker by a dask actor, each
  request one direct message (the coded path's transport) to the worker with the
  fewest calls in flight from this client, alone and behind the same coalescing
  (long-lived worker state, as dask advises for serving, and as the coded path
  now runs: with the above, the baseline at its best);
- replication 2x: the same task sent to two distinct workers, the first answer kept;
- coded: ``CodedClassifier(K=16, N=32, S=8, executor=client, timeout=30)``: one
  direct message per physical worker to the model's server there, each carrying
  8 of the 32 coded rows of every batch (interleaved), S = 8 coded rows = one
  physical worker;
- coded + coalescing: the same behind a :class:`CoalescingPredictor` (``max_wait``
  2 ms), which batches the concurrent clients' requests;
- coded + hedge + coalescing: the same with ``hedge_after="auto"``: each worker's
  share of the 16 data rows (the systematic layout's) is sent at once, its share
  of the 16 parity rows after twice the median time of recent data results, unless
  every row has its own result by then.

with no injected stragglers, and with one slow worker (worker 0 sleeps 50 ms plus a
Pareto(1.5) tail of scale 20 ms, capped at 2 s, before every task: uncancellable
``time.sleep``). Targets with 8 clients and no stragglers: coded throughput >= 0.8 x
(K/N) x uncoded and coded p99 <= 2x uncoded p99; with the slow worker: coded p99
<= 0.5x uncoded p99 and <= replication's.

Writes benchmarks/results/serving.json and serving.png (serving.quick.* for
``--quick``). Run:

    python benchmarks/bench_serving.py            # full (10 to 20 minutes)
    python benchmarks/bench_serving.py --quick    # smoke run (about a minute)
    python benchmarks/bench_serving.py --cell cnn:1024 --rounds 3 --duration 5  # one cell
    python benchmarks/bench_serving.py --cell cnn:1024 --rounds 3 --duration 5 --oracle

Every slow-worker cell also gets the least mean and p99 latency any code of this
redundancy could have at its load (:func:`attainable`).

Absolute timings drift with the machine's load (a shared 2-core machine here):
compare the schemes of one cell, measured back to back, not across runs.
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import threading
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: the workers inherit it
import matplotlib

matplotlib.use("Agg")
import distributed
import matplotlib.pyplot as plt
import numpy as np
import torch
from serving_models import cli_cluster, digits, train_cnn
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from sklearn_coded.estimators import CoalescingPredictor, CodedClassifier
from sklearn_coded.execution._dask import _call

RESULTS = Path(__file__).parent / "results"
K, N = 16, 32
S_IN_PROCESS = 2
N_WORKERS = 4
S_DASK = N // N_WORKERS  # coded rows of one physical worker
CLIENTS = (1, 4, 8, 16)
SIZES = (16, 64, 1024)
SLOW = {"base": 0.05, "scale": 0.02, "shape": 1.5, "cap": 2.0}
HEDGE_AFTER = "auto"  # the parity is sent after twice the data tasks' median time
CODED_SCHEMES = ("coded", "coded + coalescing", "coded + hedge + coalescing")
#: the plain model's other ways of serving, besides one client.submit per request
UNCODED_BEST = ("uncoded + coalescing", "uncoded actors", "uncoded actors + coalescing")
TARGET_MLP = 1.2 * N / K
TARGET_LOGREG = 4.0
TARGET_THROUGHPUT = 0.8 * K / N
TARGET_P99 = 2.0


def make_data(n_rows, seed=0):
    X, y = make_classification(
        n_rows, 40, n_informative=20, n_classes=5, n_clusters_per_class=1, random_state=seed
    )
    return X.astype(np.float64), y


def train_mlp(X, y, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed, small budget
        return MLPClassifier((256, 256), max_iter=15, random_state=seed).fit(X, y)


# ----------------------------------------------------------------- in process
def in_process(repeats):
    X, y = make_data(4000)
    X_test = X[2000:]
    rows = []
    for name, model, target in (
        ("mlp 40-256-256-5", train_mlp(X[:2000], y[:2000]), TARGET_MLP),
        ("logistic regression", LogisticRegression(max_iter=500), TARGET_LOGREG),
    ):
        clf = CodedClassifier(
            model, batch_size=K, n_coded=N, stragglers=S_IN_PROCESS, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X[:2000], y[:2000])
        plain = clf.estimator_
        method = "decision_function" if hasattr(plain, "decision_function") else "predict_proba"
        for _ in range(30):  # warm: every survivor set seen, operators cached
            getattr(clf, method)(X_test)
        times = {"plain": [], "coded": []}
        cpu = {"plain": [], "coded": []}
        for _ in range(repeats):  # interleaved, so that the load drifts alike
            for key, fn in (("plain", getattr(plain, method)), ("coded", getattr(clf, method))):
                start, start_cpu = time.perf_counter(), time.thread_time()
                fn(X_test)
                cpu[key].append(time.thread_time() - start_cpu)
                times[key].append(time.perf_counter() - start)
        p, c = np.median(times["plain"]), np.median(times["coded"])
        p_min, c_min = min(times["plain"]), min(times["coded"])
        # CPU time of this thread: what the call costs, without the time it waited
        # for a core on a loaded machine (a call longer than the scheduler's time
        # slice is preempted more often than a short one, which skews wall ratios).
        p_cpu, c_cpu = np.median(cpu["plain"]), np.median(cpu["coded"])
        agreement = float(np.mean(clf.predict(X_test) == plain.predict(X_test)))
        row = {
            "model": name,
            "rows": len(X_test),
            "plain_ms": 1e3 * p,
            "coded_ms": 1e3 * c,
            "ratio": c / p,
            "ratio_of_minima": c_min / p_min,
            "plain_cpu_ms": 1e3 * p_cpu,
            "coded_cpu_ms": 1e3 * c_cpu,
            "cpu_ratio": c_cpu / p_cpu,
            "met_cpu": bool(c_cpu / p_cpu <= target),
            "load_average": os.getloadavg()[0],
            "target_ratio": target,
            "met": bool(c / p <= target),
            "overhead_us_per_row": 1e6 * (c - p) / len(X_test),
            "argmax_agreement": agreement,
        }
        print(
            f"in process {name}: plain {row['plain_ms']:.2f} ms, coded {row['coded_ms']:.2f} ms,"
            f" ratio {row['ratio']:.2f} (of minima {row['ratio_of_minima']:.2f}, of CPU times"
            f" {row['cpu_ratio']:.2f}; target <= {target:.1f}), agreement {agreement:.3f},"
            f" load average {row['load_average']:.1f}"
        )
        rows.append(row)
    return rows


# ---------------------------------------------------------------------- dask
class SlowWorker:
    """A model whose methods sleep on dask worker 0 first (heavy-tailed, uncancellable)."""

    def __init__(self, model, slow, dtype=np.float64):
        self.model = model
        self.slow = slow
        self.dtype = dtype  # float32 for a skorch net
        self.classes_ = model.classes_

    def _maybe_sleep(self):
        if self.slow is None:
            return
        try:
            name = distributed.get_worker().name
        except ValueError:
            return
        if str(name) == "0":  # LocalCluster names workers 0.., the CLI ones are named so
            s = self.slow
            extra = s["scale"] * np.random.default_rng().pareto(s["shape"])
            time.sleep(min(s["base"] + extra, s["cap"]))

    def predict_proba(self, X):
        self._maybe_sleep()
        return self.model.predict_proba(np.asarray(X, dtype=self.dtype))


def plain_predict(model, X):
    return model.predict_proba(X).argmax(axis=1)


class Uncoded:
    name = "uncoded"

    def __init__(self, client, model):
        self.client = client
        [self.model] = client.scatter([model], broadcast=True, hash=False)

    def __call__(self, X):
        return self.client.submit(plain_predict, self.model, X, pure=False).result()


class PlainServer:
    """The plain model held on one worker (a dask actor), for :class:`UncodedActors`."""

    def __init__(self, model):
        self.model = model

    def predict(self, X):
        return plain_predict(self.model, X)


class UncodedActors:
    """The plain model on one dask actor per worker, each request to the least busy one.

    Long-lived state on the workers, as dask advises for serving: a request is
    one direct message to a worker (the coded path's own transport,
    ``_dask._call``), no task and no hop through the scheduler.
    """

    name = "uncoded actors"

    def __init__(self, client, model):
        self.client = client
        self.workers = list(client.scheduler_info()["workers"])
        self.servers = [client.submit(PlainServer, model, actor=True, workers=[w], pure=False)
                        for w in self.workers]  # fmt: skip
        distributed.wait(self.servers)
        self.busy = [0] * len(self.workers)
        self.rng = np.random.default_rng(0)
        self.lock = threading.Lock()

    def __call__(self, X):
        with self.lock:
            least = min(self.busy)
            w = int(self.rng.choice([i for i, b in enumerate(self.busy) if b == least]))
            self.busy[w] += 1
        try:
            out = self.client.sync(
                _call, self.client, self.workers[w], self.servers[w].key, "predict", X
            )
        finally:
            with self.lock:
                self.busy[w] -= 1
        if isinstance(out, BaseException):
            raise out
        return out


class SplitOverFastWorkers(UncodedActors):
    """A diagnostic bound, not a scheme: each request split over the fast workers.

    An oracle that knows the slow worker (the one named "0") sends each
    request's rows in equal parts to the plain model on every other worker at
    once: 1x the work and no redundancy, what a systematic layout that put its
    data rows only on the workers that answer fast would cost when its parity is
    never needed. Its p99 bounds from below what such a layout could reach.
    """

    name = "split over the fast workers (oracle)"

    def __init__(self, client, model):
        super().__init__(client, model)
        names = {a: str(w["name"]) for a, w in client.scheduler_info()["workers"].items()}
        self.fast = [i for i, a in enumerate(self.workers) if names[a] != "0"]

    def __call__(self, X):
        parts = np.array_split(X, len(self.fast))
        calls = [(self.workers[i], self.servers[i].key) for i in self.fast]

        async def all_parts():
            return await asyncio.gather(
                *(_call(self.client, a, key, "predict", part)
                  for (a, key), part in zip(calls, parts, strict=True))
            )  # fmt: skip

        outs = self.client.sync(all_parts)
        for out in outs:
            if isinstance(out, BaseException):
                raise out
        return np.concatenate(outs)


class Coalesced:
    """A scheme behind a :class:`CoalescingPredictor` (the uncoded baseline at its best)."""

    class _Predictor:
        def __init__(self, function):
            self.predict = function

    def __init__(self, scheme):
        self.predict = CoalescingPredictor(self._Predictor(scheme), max_wait=0.002).predict
        self.name = f"{scheme.name} + coalescing"

    def __call__(self, X):
        return self.predict(X)


class Replicated:
    name = "replication 2x"

    def __init__(self, client, model):
        self.client = client
        [self.model] = client.scatter([model], broadcast=True, hash=False)
        self.workers = list(client.scheduler_info()["workers"])
        self.rng = np.random.default_rng(0)
        self.lock = threading.Lock()

    def __call__(self, X):
        with self.lock:
            pair = self.rng.choice(len(self.workers), 2, replace=False)
        futures = [
            self.client.submit(plain_predict, self.model, X, pure=False, workers=[self.workers[w]])
            for w in pair
        ]
        done, pending = distributed.wait(futures, return_when="FIRST_COMPLETED")
        for future in pending:
            future.cancel()
        return next(iter(done)).result()


class Coded:
    name = "coded"

    def __init__(self, client, model, X, y, coalesce, hedge_after=None):
        clf = CodedClassifier(
            LogisticRegression(max_iter=2000), batch_size=K, n_coded=N, stragglers=S_DASK,
            executor=client, timeout=30, random_state=None, hedge_after=hedge_after,
        ).fit(X[:200], y[:200])  # fmt: skip
        clf.estimator_ = model  # the same fitted model as the baselines
        clf._worker.estimator = model
        clf.response_ = "log_proba"
        clf._worker.space = "log_proba"
        clf.classes_ = model.classes_
        self.clf = clf
        self.predict = CoalescingPredictor(clf, max_wait=0.002).predict if coalesce else clf.predict
        self.name = "coded" + (" + hedge" if hedge_after is not None else "")
        self.name += " + coalescing" if coalesce else ""

    def __call__(self, X):
        return self.predict(X)


def pooled(rounds):
    """One cell over its rounds: rows / wall time summed, latencies pooled."""
    latencies = np.concatenate([r["latencies"] for r in rounds])
    rows, wall = sum(r["rows"] for r in rounds), sum(r["wall"] for r in rounds)
    lat = latencies if latencies.size else np.array([np.nan])
    errors = [e for r in rounds for e in r["errors"]]
    return {
        "requests": int(latencies.size),
        "throughput_rows_s": rows / wall,
        "throughput_per_round": [r["rows"] / r["wall"] for r in rounds],
        "p50_ms": float(1e3 * np.percentile(lat, 50)),
        "p99_ms": float(1e3 * np.percentile(lat, 99)),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def load(scheme, X, n_clients, size, duration, seed):
    """C client threads sending requests of ``size`` rows for ``duration`` seconds."""
    latencies, rows, errors = [], [0], []
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def client(c):
        rng = np.random.default_rng([seed, c])
        while time.monotonic() < stop:
            start_row = int(rng.integers(0, len(X) - size))
            batch = X[start_row : start_row + size]
            start = time.perf_counter()
            try:
                out = scheme(batch)
                assert len(out) == size
            except Exception as error:  # counted, not hidden
                with lock:
                    errors.append(repr(error))
                continue
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                rows[0] += size

    threads = [threading.Thread(target=client, args=(c,)) for c in range(n_clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    return {"latencies": np.array(latencies), "rows": rows[0], "wall": wall, "errors": errors}


def serve_grid(client, setup, args, cells):
    """Every cell of one (cluster, model): the schemes take turns, round by round."""
    X, y, X_serve, model, dtype = (
        setup["X"],
        setup["y"],
        setup["X_serve"],
        setup["model"],
        setup["dtype"],
    )
    for condition, slow in (("no stragglers", None), ("one slow worker", SLOW)):
        worker_model = SlowWorker(model, slow, dtype)
        uncoded, actors = Uncoded(client, worker_model), UncodedActors(client, worker_model)
        schemes = [
            uncoded,
            Coalesced(uncoded),
            actors,
            Coalesced(actors),
            Replicated(client, worker_model),
            Coded(client, worker_model, X, y, coalesce=False),
            Coded(client, worker_model, X, y, coalesce=True),
            Coded(client, worker_model, X, y, coalesce=True, hedge_after=HEDGE_AFTER),
        ]
        if getattr(args, "oracle", False):
            schemes.append(SplitOverFastWorkers(client, worker_model))
        for scheme in schemes:  # warm: model scattered, operators cached
            for _ in range(3):
                scheme(X_serve[:64])
        for size in setup["sizes"]:
            for n_clients in setup["clients"]:
                runs = {scheme.name: [] for scheme in schemes}
                for r in range(args.rounds):
                    for scheme in schemes:
                        seed = 1000 * r + size
                        runs[scheme.name].append(
                            load(scheme, X_serve, n_clients, size, args.duration, seed)
                        )
                for scheme in schemes:
                    cell = pooled(runs[scheme.name])
                    cell.update(
                        cluster=setup["cluster"], model=setup["name"], condition=condition,
                        scheme=scheme.name, clients=n_clients, rows=size,
                    )  # fmt: skip
                    cells.append(cell)
                    print(
                        f"{setup['cluster']:5s} {setup['name']:4s} {condition:16s} R={size:5d}"
                        f" C={n_clients:2d} {scheme.name:20s} {cell['throughput_rows_s']:9.0f}"
                        f" rows/s  p50 {cell['p50_ms']:7.1f} ms  p99 {cell['p99_ms']:7.1f} ms"
                        f"  errors {cell['errors']}",
                        flush=True,
                    )


def setups(cnn=True):
    """The MLP and (with ``cnn``) the CNN, trained, with their data."""
    X, y = make_data(6000, seed=1)
    mlp = {"name": "mlp", "X": X, "y": y, "X_serve": X[2000:], "dtype": np.float64}
    mlp["model"] = train_mlp(X[:2000], y[:2000])
    if not cnn:
        return {"mlp": mlp}
    Xd, yd = digits()
    cnn = {"name": "cnn", "X": Xd, "y": yd, "X_serve": Xd, "dtype": np.float32}
    cnn["model"] = train_cnn(Xd[:1000], yd[:1000])
    accuracy = np.mean(cnn["model"].predict(Xd[1000:].astype(np.float32)) == yd[1000:])
    print(f"cnn held-out accuracy {accuracy:.3f}")
    return {"mlp": mlp, "cnn": cnn}


def local_cluster():
    return distributed.LocalCluster(
        n_workers=N_WORKERS, threads_per_worker=1, processes=True,
        dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL,
    )  # fmt: skip


def on_dask(args):
    """The MLP on a LocalCluster (every cell), the CNN there and the MLP on a CLI cluster."""
    models = setups(args.cnn)
    mlp, cnn = models["mlp"], models.get("cnn")
    cells = []
    with local_cluster() as cluster, distributed.Client(cluster) as client:
        serve_grid(
            client,
            {**mlp, "cluster": "local", "sizes": args.sizes, "clients": args.clients},
            args,
            cells,
        )
        if args.cnn:
            serve_grid(
                client,
                {**cnn, "cluster": "local", "sizes": args.sizes, "clients": (8,)},
                args,
                cells,
            )
    if args.cli:
        with cli_cluster(N_WORKERS) as (client, _):
            setup = {**mlp, "cluster": "cli", "sizes": args.cli_sizes, "clients": (8,)}
            serve_grid(client, setup, args, cells)
    return cells


def verdicts(cells):
    """The issue's targets per (cluster, model, request size, condition), at 8 clients."""
    out = []
    for key in dict.fromkeys((c["cluster"], c["model"], c["rows"], c["condition"]) for c in cells):
        sub = [c for c in cells if (c["cluster"], c["model"], c["rows"], c["condition"]) == key]
        clients = min({c["clients"] for c in sub}, key=lambda n: abs(n - 8))
        by = {c["scheme"]: c for c in sub if c["clients"] == clients}
        floor = {}
        if key[3] == "one slow worker":  # the same cell without stragglers sets the capacity
            calm = [c for c in cells if c["clients"] == clients and c["condition"] != key[3]]
            calm = [c for c in calm if (c["cluster"], c["model"], c["rows"]) == key[:3]]
            floor = attainable(by, {c["scheme"]: c for c in calm}, clients, key[2])
        for name in CODED_SCHEMES:
            row = dict(zip(("cluster", "model", "rows", "condition"), key, strict=True))
            row.update(clients=clients, scheme=name, **_ratios(by, name, key[3]), **floor)
            out.append(row)
            print(
                f"targets {key[0]:5s} {key[1]:4s} {key[3]:16s} R={key[2]:5d} C={clients:2d}"
                f" {name:20s}: throughput {row['throughput_over_uncoded']:.2f}x uncoded, p99"
                f" {row['p99_over_uncoded']:.2f}x uncoded,"
                f" {row['p99_over_replication']:.2f}x replication -> met={row['met']};"
                f" vs the plain model at its best: throughput"
                f" {row['throughput_over_best_uncoded']:.2f}x ({row['best_uncoded']}), p99"
                f" {row['p99_over_lowest_uncoded_p99']:.2f}x ({row['lowest_uncoded_p99']})"
            )
        if floor:
            print(
                f"  target p99 {floor['target_p99_ms']:.0f} ms; any code's mean >="
                f" {floor['mean_floor_ms']:.0f} ms, p99 >~ {floor['p99_floor_ms']:.0f} ms"
                f" (plain p99/mean {floor['plain_p99_over_mean']:.2f})"
            )
    return out


def attainable(slow, calm, clients, rows):
    """Whether a p99 of half the uncoded one is within reach of any code at this load.

    Every coded request needs the results of N - S of its N coded rows, each
    1/K of its rows: (N - S)/K x ``rows`` rows of the model's work at least. With
    ``clients`` closed-loop clients and no pause between requests, Little's law
    makes the mean latency ``clients`` x ``rows`` / throughput (rows/s), and the
    throughput of a code is at most the cluster's capacity over (N - S)/K. The
    capacity is taken as the plain model's best throughput in the same cell
    without stragglers (the workers share this machine's cores, which a slow
    worker's sleep frees for the others). So the coded mean latency is at least
    ``mean_floor_ms``; and with the smallest p99 / mean spread of the plain
    model's ways of serving in that cell, its p99 at least about
    ``p99_floor_ms`` (an estimate: a code could in principle spread its
    latencies less). Where the target lies below the floors, no code with this
    redundancy meets it on this machine at this load.
    """
    plain = [calm[n] for n in ("uncoded", *UNCODED_BEST) if n in calm]
    if not plain:
        return {}
    best = max(plain, key=lambda c: c["throughput_rows_s"])
    mean_floor = 1e3 * clients * rows * (N - S_DASK) / K / best["throughput_rows_s"]
    spread = min(c["p99_ms"] / (1e3 * clients * rows / c["throughput_rows_s"]) for c in plain)
    target = 0.5 * slow["uncoded"]["p99_ms"]
    return {
        "target_p99_ms": target,
        "mean_floor_ms": mean_floor,
        "plain_p99_over_mean": spread,
        "p99_floor_ms": mean_floor * spread,
        "target_below_mean_floor": bool(target < mean_floor),
        "target_below_p99_floor": bool(target < mean_floor * spread),
    }


def _ratios(by, name, condition):
    """One coded scheme's cell against the baselines of the same cell, and the verdict."""
    coded, base, rep = by[name], by["uncoded"], by["replication 2x"]
    plain = [base] + [by[n] for n in UNCODED_BEST if n in by]
    best = max(plain, key=lambda c: c["throughput_rows_s"])
    best_p99 = min(plain, key=lambda c: c["p99_ms"])
    row = {
        "throughput_over_uncoded": coded["throughput_rows_s"] / base["throughput_rows_s"],
        "p99_over_uncoded": coded["p99_ms"] / base["p99_ms"],
        "p99_over_replication": coded["p99_ms"] / rep["p99_ms"],
        "throughput_over_best_uncoded": coded["throughput_rows_s"] / best["throughput_rows_s"],
        "p99_over_best_uncoded": coded["p99_ms"] / best["p99_ms"],
        "best_uncoded": best["scheme"],
        "p99_over_lowest_uncoded_p99": coded["p99_ms"] / best_p99["p99_ms"],
        "lowest_uncoded_p99": best_p99["scheme"],
    }
    if condition == "no stragglers":
        row["met"] = bool(
            row["throughput_over_uncoded"] >= TARGET_THROUGHPUT
            and row["p99_over_uncoded"] <= TARGET_P99
        )
    else:
        row["met"] = bool(row["p99_over_uncoded"] <= 0.5 and row["p99_over_replication"] <= 1.0)
    return row


def plot(cells, path):
    cells = [c for c in cells if (c["cluster"], c["model"]) == ("local", "mlp")]
    sizes = sorted({c["rows"] for c in cells})
    conditions = ("no stragglers", "one slow worker")
    fig, axes = plt.subplots(4, len(sizes), figsize=(4.2 * len(sizes), 12), squeeze=False)
    for j, size in enumerate(sizes):
        for i, condition in enumerate(conditions):
            sub = [c for c in cells if c["rows"] == size and c["condition"] == condition]
            for scheme in dict.fromkeys(c["scheme"] for c in sub):
                pts = sorted((c["clients"], c) for c in sub if c["scheme"] == scheme)
                xs = [p[0] for p in pts]
                axes[2 * i, j].plot(
                    xs, [p[1]["throughput_rows_s"] for p in pts], "o-", label=scheme
                )
                axes[2 * i + 1, j].plot(xs, [p[1]["p99_ms"] for p in pts], "o-", label=scheme)
            axes[2 * i, j].set_title(f"{condition}, {size} rows/request")
            axes[2 * i, j].set_ylabel("throughput (rows/s)")
            axes[2 * i + 1, j].set_ylabel("p99 latency (ms)")
            axes[2 * i + 1, j].set_yscale("log")
            for ax in axes[2 * i : 2 * i + 2, j]:
                ax.set_xscale("log", base=2)
                ax.set_xlabel("concurrent clients")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"coded serving on dask: {N_WORKERS} worker processes, K={K}, N={N}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (about a minute)")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per turn")
    parser.add_argument("--repeats", type=int, default=40, help="in-process repeats")
    parser.add_argument("--rounds", type=int, default=2, help="turns of the schemes per cell")
    parser.add_argument("--no-cnn", dest="cnn", action="store_false", help="skip the CNN")
    parser.add_argument(
        "--no-cli", dest="cli", action="store_false", help="skip the command-line cluster"
    )
    parser.add_argument(
        "--in-process-only",
        action="store_true",
        help="run part 1 only and replace its rows in the results file (the dask part is kept)",
    )
    parser.add_argument(
        "--cell",
        metavar="MODEL:ROWS",
        help="one cell alone (e.g. cnn:1024), 8 clients on the LocalCluster, both"
        " conditions; writes serving_cell_<model><rows>.json",
    )
    parser.add_argument(
        "--append", action="store_true", help="with --cell: add this run to the file's runs"
    )
    parser.add_argument(
        "--oracle",
        action="store_true",
        help="with --cell: also each request split over the workers other than the slow"
        " one (a diagnostic bound for a layout that knows the slow worker); writes"
        " serving_cell_<model><rows>_oracle.json",
    )
    parser.add_argument(
        "--tag",
        help="with --cell: appended to the file's name (serving_cell_<model><rows>[_oracle]_<tag>"
        ".json), to keep runs of different code apart",
    )
    args = parser.parse_args(argv)
    if args.in_process_only:
        return _in_process_only(args)
    if args.cell:
        model, _, rows = args.cell.partition(":")
        if model not in ("mlp", "cnn") or not rows.isdigit() or int(rows) < 1:
            parser.error(f"--cell must be mlp:ROWS or cnn:ROWS; got {args.cell!r}")
        return _one_cell(args)
    if args.append or args.oracle or args.tag:
        parser.error("--append, --oracle and --tag apply to --cell only")
    args.clients, args.sizes, args.cli_sizes = CLIENTS, SIZES, (16, 1024)
    if args.quick:
        args.duration, args.repeats, args.clients, args.sizes = 0.5, 10, (1, 8), (64,)
        args.rounds, args.cli_sizes = 1, (64,)
    RESULTS.mkdir(exist_ok=True)
    stem = "serving.quick" if args.quick else "serving"
    began = time.time()
    torch.set_num_threads(1)  # and OMP_NUM_THREADS=1 for the worker processes (set above)
    with threadpool_limits(limits=1):  # small matrices; BLAS threads only contend here
        process_rows = in_process(args.repeats)
        cells = on_dask(args)
    settings = {"K": K, "N": N, "S_in_process": S_IN_PROCESS, "S_dask": S_DASK}
    settings.update(dask_workers=N_WORKERS, slow_worker=SLOW, seconds_per_cell=args.duration)
    settings.update(rounds=args.rounds)
    result = {
        "machine": platform.platform(),
        "settings": settings,
        "in_process": process_rows,
        "dask": cells,
        "targets": verdicts(cells),
        "seconds": time.time() - began,
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=1))
    plot(cells, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / stem}.json/.png in {result['seconds']:.0f} s")


def _one_cell(args):
    """One (model, rows) cell at 8 clients on a fresh LocalCluster, ``--rounds`` turns."""
    name, rows = args.cell.split(":")
    setup = setups(cnn=name == "cnn")[name]
    began, cells = time.time(), []
    torch.set_num_threads(1)
    setup.update(cluster="local", sizes=(int(rows),), clients=(8,))
    with (
        threadpool_limits(limits=1),
        local_cluster() as cluster,
        distributed.Client(cluster) as client,
    ):
        serve_grid(client, setup, args, cells)
    result = {
        "machine": platform.platform(),
        "settings": {"K": K, "N": N, "S_dask": S_DASK, "dask_workers": N_WORKERS,
                     "slow_worker": SLOW, "seconds_per_cell": args.duration,
                     "rounds": args.rounds, "cpu_count": os.cpu_count()},
        "dask": cells,
        "targets": verdicts(cells),
        "seconds": time.time() - began,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    tag = f"_{args.tag}" if args.tag else ""
    path = RESULTS / f"serving_cell_{name}{rows}{'_oracle' if args.oracle else ''}{tag}.json"
    runs = json.loads(path.read_text())["runs"] if path.exists() and args.append else []
    path.write_text(json.dumps({"runs": [*runs, result]}, indent=1))
    print(f"wrote {path} (run {len(runs) + 1}) in {result['seconds']:.0f} s")


def _in_process_only(args):
    """Part 1 alone: its rows replace the "in_process" rows of the results file."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("serving.quick.json" if args.quick else "serving.json")
    if args.quick:
        args.repeats = 10
    began = time.time()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        rows = in_process(args.repeats)
    result = json.loads(path.read_text()) if path.exists() else {}
    result["in_process"] = rows
    result["in_process_seconds"] = time.time() - began
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote the in-process rows of {path} in {result['in_process_seconds']:.0f} s")


if __name__ == "__main__":
    main()
