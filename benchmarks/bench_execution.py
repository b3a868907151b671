"""Coded prediction on real executors against the in-process simulation (issue 8).

Three studies, side by side in one run:

1. ``executors``: the same fitted model, code and S on every executor: in process
   (``executor=None``, the simulation: S stragglers drawn uniformly per batch), a
   2-thread ``ThreadPoolExecutor``, a 2-process ``ProcessPoolExecutor`` and a dask
   ``LocalCluster`` of 2 single-thread worker processes. On the real executors
   the S stragglers are the S tasks that come last, and each submission order of
   ``run_workers`` is tried: ``index`` (coded points sent in order, the behaviour
   before the fix), ``random`` (the default: a fresh permutation per request)
   and ``spread`` (end points first, then bisection). Reported per executor and
   order, over seeds: the MSE of the decoded scores against the model's own
   (``decision_function``), argmax agreement with the model, RelAcc (decoded
   accuracy / model accuracy), the MSE ratio to the simulation at the same S and
   seeds, and how often each coded point was among the missing.
   Targets: MSE ratio <= 3 and agreement >= 0.99, N >= 3K, S = 10% of N.
2. ``layouts``: the interval's ends. In the simulation, decoded MSE for point
   layouts whose data points do or do not lie strictly inside the coded points'
   hull (the spline code extrapolates to an end data point when the end coded
   points are missing).
3. ``memory``: peak Python allocations (tracemalloc) of ``predict`` against the
   input size (200 features, K = 16, N = 128: N/K = 8), streamed in chunks
   (the default) and in one piece (the behaviour before the fix), on the
   executors. Target: 60000 rows under 300 MB.

With ``--memory``, only the memory study on dask, with the scheduler's default
low-level log and with none (``distributed.admin.low-level-log-length`` = 0; an
in-process scheduler's log kept the coded rows of recent task messages when
requests were dask tasks), written to ``execution_memory.json``.

With ``--overhead``, instead: the per-request overhead of each executor, the
wall time of ``predict`` on one batch (K = 8, N = 16, LogisticRegression on the
digits, no stragglers) in process, on a 2-thread pool and on a dask cluster of
two worker processes, written to ``execution_overhead.json``.

Writes ``benchmarks/results/execution.json`` and ``execution.png``
(``execution.quick.*`` with ``--quick``). Run:

    python benchmarks/bench_execution.py            # about 5 minutes here
    python benchmarks/bench_execution.py --quick    # smoke run
"""

import argparse
import json
import logging
import multiprocessing
import platform
import time
import tracemalloc
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import dask
import distributed
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from sklearn_coded.estimators import CodedClassifier, CodedRegressor
from sklearn_coded.estimators import _predict as coded_module
from sklearn_coded.execution import run_workers

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MSE_RATIO = 3.0
TARGET_AGREEMENT = 0.99
TARGET_MEMORY_MB = 300

#: (K, N, S) of the executor study: N >= 3K, S = 10% of N.
CODES = [(16, 64, 6), (16, 48, 5)]
ORDERS = ("index", "random", "spread")


class Recorder:
    """``run_workers`` with a fixed submission order, recording who returned."""

    def __init__(self, submit_order):
        self.submit_order = submit_order
        self.returned = []

    def __call__(self, *args, **kwargs):
        if kwargs.get("executor") is not None:
            kwargs["submit_order"] = self.submit_order
        results, returned = run_workers(*args, **kwargs)
        self.returned.append(returned)
        return results, returned


def predict_with(clf, X, submit_order):
    """Decoded scores of ``clf`` with the given submission order; and the missing mask."""
    recorder = Recorder(submit_order)
    original = coded_module.run_workers
    coded_module.run_workers = recorder
    try:
        scores = clf.decision_function(X)
    finally:
        coded_module.run_workers = original
    return scores, np.concatenate(recorder.returned, axis=1)


def executor_study(args, executors, X_train, y_train, X_test, y_test):
    model = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    reference = model.decision_function(X_test)
    base_accuracy = float((model.predict(X_test) == y_test).mean())
    rows = []
    for K, N, S in CODES:
        clf = CodedClassifier(model, batch_size=K, n_coded=N, stragglers=S)
        clf.fit(X_train, y_train)
        for executor_name, executor in executors.items():
            orders = ("simulation",) if executor is None else ORDERS
            for order in orders:
                cell = {"mse": [], "agreement": [], "rel_acc": [], "missed": np.zeros(N)}
                start = time.perf_counter()
                for seed in range(args.seeds):
                    clf.set_params(executor=executor, random_state=seed)
                    scores, returned = predict_with(clf, X_test, order)
                    predicted = clf.classes_[scores.argmax(axis=1)]
                    cell["mse"].append(float(np.mean((scores - reference) ** 2)))
                    cell["agreement"].append(
                        float((scores.argmax(1) == reference.argmax(1)).mean())
                    )
                    cell["rel_acc"].append(float((predicted == y_test).mean()) / base_accuracy)
                    cell["missed"] += (~returned).mean(axis=1)
                rows.append(
                    {
                        "K": K, "N": N, "S": S, "executor": executor_name, "order": order,
                        "mse": cell["mse"], "agreement": cell["agreement"],
                        "rel_acc": cell["rel_acc"],
                        "mse_geomean": float(np.exp(np.mean(np.log(cell["mse"])))),
                        "agreement_mean": float(np.mean(cell["agreement"])),
                        "agreement_min": float(np.min(cell["agreement"])),
                        "rel_acc_mean": float(np.mean(cell["rel_acc"])),
                        "missed_per_point": (cell["missed"] / args.seeds).round(4).tolist(),
                        "seconds": time.perf_counter() - start,
                    }
                )  # fmt: skip
                print(
                    f"  K={K} N={N} S={S} {executor_name:>9} {order:>10}: MSE "
                    f"{rows[-1]['mse_geomean']:.2e}, agreement {rows[-1]['agreement_mean']:.4f}",
                    flush=True,
                )
        simulation = {
            tuple(row[k] for k in ("K", "N")): row["mse"]
            for row in rows
            if row["order"] == "simulation"
        }
        for row in rows:
            if row["K"] == K and row["N"] == N:
                ratios = np.array(row["mse"]) / np.array(simulation[(K, N)])
                row["mse_ratio_to_simulation"] = float(np.exp(np.mean(np.log(ratios))))
                row["meets_targets"] = bool(
                    row["mse_ratio_to_simulation"] <= TARGET_MSE_RATIO
                    and row["agreement_mean"] >= TARGET_AGREEMENT
                )
    return {"base_accuracy": base_accuracy, "rows": rows}


def layout_study(args, X_train, y_train, X_test):
    """Decoded MSE in the simulation for layouts with and without interior data points."""
    K, N = 16, 64
    spacing = 2 / (N - 1)
    layouts = {
        "uniform (auto: ends shared)": "uniform",
        "chebyshev": "chebyshev",
        "data chebyshev, coded uniform": ("chebyshev", "uniform"),
        "data uniform inside by 2 coded spacings": (
            np.linspace(-1 + 2 * spacing, 1 - 2 * spacing, K),
            "uniform",
        ),
        "data uniform inside by 4 coded spacings": (
            np.linspace(-1 + 4 * spacing, 1 - 4 * spacing, K),
            "uniform",
        ),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fixed, small training budget
        models = {
            "logistic": LogisticRegression(max_iter=2000).fit(X_train, y_train),
            "mlp": MLPClassifier((64,), max_iter=300, random_state=0).fit(X_train, y_train),
        }
    rows = []
    for model_name, model in models.items():
        # The decoded space: decision values (logistic), log-probabilities (MLP).
        if model_name == "mlp":
            reference = model.predict_log_proba(X_test)
        else:
            reference = model.decision_function(X_test)
        for S in (0, N // 10, N // 5):
            for name, points in layouts.items():
                clf = CodedClassifier(
                    model, batch_size=K, n_coded=N, stragglers=S, points=points
                ).fit(X_train, y_train)
                mse = []
                for seed in range(args.seeds):
                    scores = clf.set_params(random_state=seed)._scores(X_test)
                    # Scores are defined up to a per-row constant (softmax): compare
                    # the row-centred differences.
                    diff = scores - reference
                    diff -= diff.mean(axis=1, keepdims=True)
                    mse.append(float(np.mean(diff**2)))
                rows.append(
                    {"model": model_name, "S": S, "layout": name, "mse": mse,
                     "mse_geomean": float(np.exp(np.mean(np.log(mse))))}
                )  # fmt: skip
                print(f"  {model_name} S={S:>2} {name:>42}: MSE {rows[-1]['mse_geomean']:.2e}")
    return {"K": K, "N": N, "rows": rows}


def peak_mb(function):
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def memory_study(args, executors):
    rng = np.random.default_rng(0)
    sizes = [7500, 15000] if args.quick else [7500, 15000, 30000, 60000]
    X = rng.normal(size=(max(sizes), 200))
    y = X[:, :5].sum(axis=1)
    reg = CodedRegressor(Ridge(), batch_size=16, n_coded=128).fit(X[:2000], y[:2000])
    rows = []
    for n_rows in sizes:
        for executor_name, executor in executors.items():
            if executor_name == "processes":
                continue  # pickles every task: memory is the task queue's, not predict's
            for mode in ("streamed", "one piece"):
                if mode == "one piece" and executor is not None:
                    continue  # the one-piece peak is the same coded array on every executor
                chunk = coded_module.PREDICT_CHUNK_BYTES if mode == "streamed" else 2**62
                reg.set_params(executor=executor)
                original = coded_module.PREDICT_CHUNK_BYTES
                coded_module.PREDICT_CHUNK_BYTES = chunk
                start = time.perf_counter()
                try:
                    peak = peak_mb(lambda n=n_rows: reg.predict(X[:n]))
                finally:
                    coded_module.PREDICT_CHUNK_BYTES = original
                rows.append(
                    {"n_rows": n_rows, "executor": executor_name, "mode": mode, "peak_mb": peak,
                     "input_mb": n_rows * 200 * 8 / 2**20,
                     "seconds": time.perf_counter() - start}
                )  # fmt: skip
                print(f"  {n_rows:>6} rows {executor_name:>9} {mode:>9}: peak {peak:7.1f} MB")
    return {"K": 16, "N": 128, "n_features": 200, "rows": rows}


def two_process_cluster(threads_per_worker):
    """A LocalCluster of 2 worker processes, its logs quiet."""
    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=threads_per_worker, processes=True,
        dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
    )  # fmt: skip


def memory_only(args):
    """The memory study on dask clusters whose scheduler keeps its default log, and none."""
    rows = []
    for name, length in (("dask, default log", None), ("dask, no scheduler log", 0)):
        config = {} if length is None else {"distributed.admin.low-level-log-length": length}
        with (
            threadpool_limits(limits=1),
            dask.config.set(config),
            two_process_cluster(threads_per_worker=1) as cluster,
            distributed.Client(cluster) as client,
        ):
            study = memory_study(args, {name: client})
        rows += study["rows"]
    report = {"benchmark": "bench_execution --memory", "memory": {**study, "rows": rows}}
    RESULTS.mkdir(exist_ok=True)
    stem = "execution_memory" + (".quick" if args.quick else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {RESULTS / stem}.json")


def plot(report, path):
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    rows = [r for r in report["executors"]["rows"] if (r["K"], r["N"]) == CODES[0][:2]]
    labels = [f"{r['executor']}\n{r['order']}" for r in rows]
    axes[0].bar(range(len(rows)), [r["mse_geomean"] for r in rows], color="C0")
    axes[0].set_xticks(range(len(rows)), labels, fontsize=7, rotation=60)
    axes[0].set(yscale="log", ylabel="decoded MSE (geometric mean over seeds)")
    K, N, S = CODES[0]
    axes[0].set_title(f"LogisticRegression on digits, K={K}, N={N}, S={S}", fontsize=10)
    for row in rows:
        if row["executor"] in ("threads", "dask") or row["order"] == "simulation":
            axes[1].plot(row["missed_per_point"], label=f"{row['executor']} {row['order']}")
    axes[1].set(xlabel="coded point (index)", ylabel="fraction of batches missing")
    axes[1].set_title("Which coded points straggle", fontsize=10)
    axes[1].legend(fontsize=7)
    for (executor, mode), group in _groups(report["memory"]["rows"]).items():
        axes[2].plot([r["n_rows"] for r in group], [r["peak_mb"] for r in group], "o-",
                     label=f"{executor}, {mode}")  # fmt: skip
    axes[2].axhline(TARGET_MEMORY_MB, color="gray", ls="--", lw=0.8)
    axes[2].set(xlabel="rows predicted (200 features, N/K = 8)", ylabel="peak Python MB")
    axes[2].set_title("predict peak memory (tracemalloc)", fontsize=10)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _groups(rows):
    groups = {}
    for row in rows:
        groups.setdefault((row["executor"], row["mode"]), []).append(row)
    return groups


def overhead_study(args, X_train, y_train, X_test):
    """Wall time of predict on one batch of 8 rows, per executor (no stragglers)."""
    n_requests = 20 if args.quick else 200
    clf = CodedClassifier(LogisticRegression(max_iter=2000), batch_size=8, n_coded=16)
    clf.fit(X_train, y_train)
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(X_test), 8, replace=False) for _ in range(n_requests)]
    rows = []
    with (
        ThreadPoolExecutor(max_workers=2) as threads,
        two_process_cluster(threads_per_worker=8) as cluster,
        distributed.Client(cluster) as client,
    ):
        executors = {"in process": None, "threads": threads, "dask": client}
        times = {name: [] for name in executors}
        for executor in executors.values():
            clf.set_params(executor=executor).predict(X_test[:8])  # warm-up, scatter
        for rows_index in batches:  # executors take turns, request by request
            for name, executor in executors.items():
                clf.set_params(executor=executor)
                start = time.perf_counter()
                clf.predict(X_test[rows_index])
                times[name].append(1e3 * (time.perf_counter() - start))
    for name, values in times.items():
        rows.append(
            {"executor": name, "n_requests": n_requests,
             "p50_ms": float(np.percentile(values, 50)),
             "p90_ms": float(np.percentile(values, 90)),
             "p99_ms": float(np.percentile(values, 99))}
        )  # fmt: skip
        print(
            f"  {name:>10}: p50 {rows[-1]['p50_ms']:6.1f} ms, p90 {rows[-1]['p90_ms']:6.1f} ms, "
            f"p99 {rows[-1]['p99_ms']:6.1f} ms"
        )
    report = {
        "benchmark": "bench_execution --overhead",
        "config": {"K": 8, "N": 16, "model": "LogisticRegression on digits", "seed": 0,
                   "dask": "LocalCluster(n_workers=2, threads_per_worker=8, processes=True)"},
        "machine": {"python": platform.python_version(), "dask": distributed.__version__},
        "results": rows,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    stem = "execution_overhead" + (".quick" if args.quick else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {RESULTS / stem}.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--overhead", action="store_true", help="per-request overhead only")
    parser.add_argument("--memory", action="store_true", help="memory study only")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = 2
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.5, random_state=0, stratify=y
    )
    if args.overhead:
        with threadpool_limits(limits=1):
            overhead_study(args, X_train, y_train, X_test)
        return
    if args.memory:
        memory_only(args)
        return
    start = time.perf_counter()
    with (
        threadpool_limits(limits=1),
        ThreadPoolExecutor(max_workers=2) as threads,
        ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as processes,
        two_process_cluster(threads_per_worker=1) as cluster,
        distributed.Client(cluster) as client,
    ):
        executors = {
            "in process": None,
            "threads": threads,
            "processes": processes,
            "dask": client,
        }
        print("executors:", flush=True)
        report = {
            "benchmark": "bench_execution",
            "quick": args.quick,
            "config": {
                "codes_K_N_S": CODES,
                "seeds": args.seeds,
                "model": "LogisticRegression(max_iter=2000) on load_digits / 16 (50% test)",
                "executors": {
                    "threads": "ThreadPoolExecutor(2)",
                    "processes": "ProcessPoolExecutor(2, spawn)",
                    "dask": "LocalCluster(n_workers=2, threads_per_worker=1, processes=True)",
                },
                "chunk_bytes": coded_module.PREDICT_CHUNK_BYTES,
            },
            "targets": {
                "mse_ratio_max": TARGET_MSE_RATIO,
                "agreement_min": TARGET_AGREEMENT,
                "memory_mb_max_at_60000_rows": TARGET_MEMORY_MB,
            },
            "machine": {"python": platform.python_version(), "dask": distributed.__version__},
        }
        report["executors"] = executor_study(args, executors, X_train, y_train, X_test, y_test)
        print("layouts (simulation):", flush=True)
        report["layouts"] = layout_study(args, X_train, y_train, X_test)
        print("memory:", flush=True)
        report["memory"] = memory_study(args, executors)
    report["seconds"] = time.perf_counter() - start
    RESULTS.mkdir(exist_ok=True)
    stem = "execution" + (".quick" if args.quick else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1))
    plot(report, RESULTS / f"{stem}.png")
    print(f"\n{'K':>3}{'N':>4}{'S':>3} {'executor':>10} {'order':>10} {'MSE':>9} {'ratio':>7} "
          f"{'agree':>7} {'RelAcc':>7} target")  # fmt: skip
    for row in report["executors"]["rows"]:
        print(
            f"{row['K']:>3}{row['N']:>4}{row['S']:>3} {row['executor']:>10} {row['order']:>10} "
            f"{row['mse_geomean']:>9.2e} {row['mse_ratio_to_simulation']:>7.2f} "
            f"{row['agreement_mean']:>7.4f} {row['rel_acc_mean']:>7.4f} "
            f"{'met' if row['meets_targets'] else 'NOT met'}"
        )
    print(f"wrote {RESULTS / stem}.json and .png in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
