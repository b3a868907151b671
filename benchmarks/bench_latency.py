"""Benchmark of straggler-resilient coded prediction (issue: straggler-resilient coded prediction).

Whole-request latency on a dask ``LocalCluster`` whose workers straggle, for

- uncoded: K workers, one data row each; wait for all K;
- 2x replication: 2K workers (each row twice); keep the first copy of each row;
- coded: N = 2K workers (the same count as replication) with the spline code
  (LeTCC, ``SplineEncoder``/``SplineDecoder`` with their defaults); decode from
  the first N - S workers, for two tolerances S.

Every worker's latency is injected by :class:`LatencyStragglers`: a shifted
exponential with a slow tail, drawn per worker and request; the tasks really
wait (on their stop flag) and the stragglers are really stopped. The computation
f is the logits (decision values, not probabilities) of a small MLPClassifier
trained on ``load_digits``. All schemes serve the same sequence of batches.

Reported per scheme: p50/p99 latency, accuracy relative to the uncoded model
(RelAcc = accuracy of the decoded argmax / accuracy of the model on the same
rows) and argmax agreement with the model, p99 drift (second half of the
requests against the first: stragglers that were not stopped would pile up and
slow later requests), and encode + decode time as a share of the request.
The issue's targets: coded p99 <= 1/3 of uncoded p99 with RelAcc >= 0.99, and
no p99 drift.

Several seeds (model, batches and latency draws): per seed, and pooled with 95%
bootstrap confidence intervals of the p50 and p99 ratios to the uncoded scheme
(requests resampled jointly across schemes, which serve the same batches in
turn). Then one of the four worker processes is frozen (SIGSTOP) and every
scheme serves a few more requests with ``timeout`` = ``FROZEN_TIMEOUT``:
latency, failures (``InsufficientResultsError`` at the timeout) and accuracy of
those answered; and the tasks left running on the thawed worker are counted.

Writes benchmarks/results/latency.json and latency.png (latency.quick.* for a
smoke run, latency.gcfreeze.* with --gc-freeze). Run:

    python benchmarks/bench_latency.py            # full (about 5 minutes)
    python benchmarks/bench_latency.py --quick    # smoke run (seconds)
    python benchmarks/bench_latency.py --sleeps   # real sleeps, one slow host
"""

import argparse
import gc
import json
import logging
import os
import platform
import signal
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import distributed
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from sklearn_coded.coding import SplineDecoder, SplineEncoder
from sklearn_coded.execution import InsufficientResultsError, LatencyStragglers, run_workers

RESULTS = Path(__file__).parent / "results"

#: The straggling environment, in seconds: every worker takes 20 ms + Exp(10 ms);
#: with probability 2% it is slow and takes Exp(300 ms) more.
LATENCY = {"shift": 0.02, "scale": 0.01, "slow_prob": 0.02, "slow_scale": 0.3}
K = 8  # data rows per request
N = 2 * K  # workers of replication and of the code
CODED_S = (2, 4)  # stragglers tolerated by the code
TARGET_P99_RATIO = 1 / 3
TARGET_RELACC = 0.99
DRIFT_LIMIT = 1.5  # p99 of the second half of the requests over p99 of the first
FROZEN_TIMEOUT = 1.0  # seconds per request while a worker process is frozen
N_BOOTSTRAP = 2000


class MLPLogits:
    """The logits of a fitted MLPClassifier (ReLU hidden layers): its decision values.

    ``MLPClassifier`` has no ``decision_function``; this applies its fitted
    weights without the final softmax, so that decoding combines logits.
    """

    def __init__(self, mlp):
        if mlp.activation != "relu":
            raise ValueError(f"MLPLogits supports activation='relu', got {mlp.activation!r}.")
        self.coefs = mlp.coefs_
        self.intercepts = mlp.intercepts_

    def decision_function(self, X):
        hidden = X
        for weights, bias in zip(self.coefs[:-1], self.intercepts[:-1], strict=True):
            hidden = np.maximum(hidden @ weights + bias, 0.0)
        return hidden @ self.coefs[-1] + self.intercepts[-1]


def train_model(seed):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.5, random_state=seed, stratify=y
    )
    with warnings.catch_warnings():
        # A fixed, small training budget; convergence is not what is measured.
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((64,), max_iter=300, random_state=seed).fit(X_train, y_train)
    return MLPLogits(mlp), X_test, y_test


#: --sleeps: the work itself sleeps (time.sleep, which no stop flag can cut short) for
#: LATENCY's heavy-tailed draw, SLOW_HOST times longer on one of the four worker
#: processes; no latency is injected, so every straggler really holds its thread.
SLOW_HOST = 3.0
MODE = {"sleeps": False}


def stragglers(n_stragglers=None):
    """The straggler model of a scheme: injected latencies, or (--sleeps) only a count."""
    if MODE["sleeps"]:
        return n_stragglers  # FixedStragglers(S): wait for the first N - S (None: all)
    return LatencyStragglers(**LATENCY, n_stragglers=n_stragglers)


class SleepyLogits(MLPLogits):
    """MLPLogits whose every call first sleeps a heavy-tailed time, longer on one host.

    The sleep is drawn on the worker from the OS's entropy (per call), from
    LATENCY's distribution, and multiplied by SLOW_HOST in the process ``slow_pid``.
    """

    def __init__(self, logits, slow_pid):
        self.coefs = logits.coefs
        self.intercepts = logits.intercepts
        self.slow_pid = slow_pid

    def decision_function(self, X):
        rng = np.random.default_rng()
        seconds = LATENCY["shift"] + rng.exponential(LATENCY["scale"])
        if rng.random() < LATENCY["slow_prob"]:
            seconds += rng.exponential(LATENCY["slow_scale"])
        time.sleep(seconds * (SLOW_HOST if os.getpid() == self.slow_pid else 1.0))
        return super().decision_function(X)


def first_copy_of_each_row(returned):
    """Replication's stopping rule: workers k and k + K hold row k; one copy is enough."""
    return bool(returned.reshape(2, K, -1).any(axis=0).all())


class Uncoded:
    name = "uncoded"
    n_workers = K

    def request(self, model, batch, client, rng, timeout=None):
        results, _ = run_workers(
            model, "decision_function", batch[:, None, :], executor=client,
            stragglers=stragglers(), min_results=K, random_state=rng, timeout=timeout,
        )  # fmt: skip
        return results[:, 0], 0.0


class Replicated:
    name = "replication 2x"
    n_workers = 2 * K

    def request(self, model, batch, client, rng, timeout=None):
        results, returned = run_workers(
            model, "decision_function", np.concatenate([batch, batch])[:, None, :],
            executor=client, stragglers=stragglers(), min_results=K,
            random_state=rng, enough=first_copy_of_each_row, timeout=timeout,
        )  # fmt: skip
        back = returned[:K, 0] | returned[K:, 0]
        if not back.all():  # a row with neither copy back (only with a timeout)
            raise InsufficientResultsError(int(back.sum()), K)
        first = np.where(returned[:K, 0, None], results[:K, 0], results[K:, 0])
        return first, 0.0


class Coded:
    n_workers = N

    def __init__(self, n_stragglers, X_example):
        self.n_stragglers = n_stragglers
        self.name = f"coded spline N={N} S={n_stragglers}"
        self.encoder = SplineEncoder(n_coded=N).fit(X_example[:K])
        self.decoder = SplineDecoder(n_samples=K)

    def request(self, model, batch, client, rng, timeout=None):
        start = time.perf_counter()
        coded = self.encoder.transform(batch)
        encode = time.perf_counter() - start
        results, returned = run_workers(
            model, "decision_function", coded[:, None, :], executor=client,
            stragglers=stragglers(self.n_stragglers),
            random_state=rng, timeout=timeout,
        )  # fmt: skip
        start = time.perf_counter()
        if not hasattr(self.decoder, "coded_points_"):
            self.decoder.fit(results[:, 0])
        decoded = self.decoder.transform(results[:, 0], returned=returned[:, 0])
        return decoded, encode + time.perf_counter() - start


def serve(schemes, model, X, batches, client, seed, n_warmup):
    """Time every request of ``batches`` (after ``n_warmup`` untimed ones) for every scheme.

    The schemes take turns request by request, so that a change of load on the
    machine during the run hits all of them alike; each keeps its own random draws.
    """
    rngs = [np.random.RandomState(seed) for _ in schemes]
    for rows in batches[:n_warmup]:
        for scheme, rng in zip(schemes, rngs, strict=True):
            scheme.request(model, X[rows], client, rng)
    timings = [([], [], []) for _ in schemes]
    for rows in batches[n_warmup:]:
        for scheme, rng, (latencies, coding, outputs) in zip(schemes, rngs, timings, strict=True):
            start = time.perf_counter()
            decoded, coding_time = scheme.request(model, X[rows], client, rng)
            latencies.append(time.perf_counter() - start)
            coding.append(coding_time)
            outputs.append(decoded)
    return [(np.array(t), np.array(c), np.concatenate(o)) for t, c, o in timings]


def leftover_tasks(client):
    """Tasks still on the workers: stragglers that were not stopped."""
    return client.run_on_scheduler(
        lambda dask_scheduler: sum(len(w.processing) for w in dask_scheduler.workers.values())
    )


def summarize(name, n_workers, latencies, coding, decoded, reference, y, leftovers):
    # Drift: the second half of the requests against the first (150 requests each
    # in the full run; a p99 over fewer is one or two outliers), on p99 and median,
    # and the rank correlation of latency with the request index.
    first, last = np.array_split(latencies, 2)
    p99_first, p99_last = (float(np.percentile(half, 99)) for half in (first, last))
    trend = spearmanr(np.arange(len(latencies)), latencies)
    base_accuracy = float((reference.argmax(axis=1) == y).mean())
    accuracy = float((decoded.argmax(axis=1) == y).mean())
    return {
        "scheme": name,
        "n_workers": n_workers,
        "n_requests": len(latencies),
        "p50_ms": 1e3 * float(np.percentile(latencies, 50)),
        "p99_ms": 1e3 * float(np.percentile(latencies, 99)),
        "mean_ms": 1e3 * float(latencies.mean()),
        "p99_first_half_ms": 1e3 * p99_first,
        "p99_second_half_ms": 1e3 * p99_last,
        "p99_drift_ratio": p99_last / p99_first,
        "median_drift_ratio": float(np.median(last) / np.median(first)),
        "spearman_latency_vs_index": float(trend.statistic),
        "accuracy": accuracy,
        "base_accuracy": base_accuracy,
        "rel_acc": accuracy / base_accuracy,
        "argmax_agreement": float((decoded.argmax(axis=1) == reference.argmax(axis=1)).mean()),
        "coding_share": float((coding / latencies).mean()),
        "coding_ms_mean": 1e3 * float(coding.mean()),
        "tasks_left_after_250ms": leftovers,
        "latencies_ms": (1e3 * latencies).round(3).tolist(),
    }


def plot(rows, path):
    fig, (cdf, trace) = plt.subplots(1, 2, figsize=(12, 4.5))
    for row in rows:
        latencies = np.sort(row["latencies_ms"])
        label = f"{row['scheme']} (p99 {row['p99_ms']:.0f} ms)"
        cdf.plot(latencies, np.arange(1, len(latencies) + 1) / len(latencies), label=label)
        trace.plot(row["latencies_ms"], ".", ms=3, label=row["scheme"])
    cdf.set(xscale="log", xlabel="request latency (ms)", ylabel="fraction of requests")
    cdf.axhline(0.99, color="gray", lw=0.8, ls="--")
    cdf.set_title(f"Whole-request latency, K={K} rows per request")
    cdf.legend(fontsize=8)
    trace.set(yscale="log", xlabel="request index", ylabel="latency (ms)")
    trace.set_title("Latency over time (drift would show as a rising floor)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def bootstrap_ratios(latencies, reference, rng):
    """95% intervals of the p50 and p99 ratios to ``reference``, requests resampled jointly."""
    n = len(reference)
    draws = rng.integers(0, n, size=(N_BOOTSTRAP, n))
    out = {}
    for q in (50, 99):
        ratios = np.percentile(latencies[draws], q, axis=1) / np.percentile(
            reference[draws], q, axis=1
        )
        point = np.percentile(latencies, q) / np.percentile(reference, q)
        low, high = np.percentile(ratios, [2.5, 97.5])
        out[f"p{q}_ratio"] = [float(point), float(low), float(high)]
    return out


def frozen_worker(schemes, model, X, y, client, seed, n_requests):
    """Freeze one of the worker processes and serve ``n_requests`` per scheme with a timeout."""
    pids = client.run(os.getpid)
    victim = pids[sorted(pids)[0]]
    rng = np.random.default_rng(seed + 1000)
    batches = [rng.choice(len(X), K, replace=False) for _ in range(n_requests)]
    rngs = [np.random.RandomState(seed) for _ in schemes]
    rows = {scheme.name: {"latencies_ms": [], "failed": 0, "agree": []} for scheme in schemes}
    os.kill(victim, signal.SIGSTOP)
    try:
        for rows_index in batches:
            for scheme, rng_scheme in zip(schemes, rngs, strict=True):
                row = rows[scheme.name]
                start = time.perf_counter()
                try:
                    decoded, _ = scheme.request(
                        model, X[rows_index], client, rng_scheme, timeout=FROZEN_TIMEOUT
                    )
                except InsufficientResultsError:
                    row["failed"] += 1
                    decoded = None
                row["latencies_ms"].append(1e3 * (time.perf_counter() - start))
                if decoded is not None:
                    reference = model.decision_function(X[rows_index])
                    row["agree"].append(float((decoded.argmax(1) == reference.argmax(1)).mean()))
    finally:
        os.kill(victim, signal.SIGCONT)
    time.sleep(0.5)
    left = leftover_tasks(client)
    summary = []
    for name, row in rows.items():
        latencies = np.array(row["latencies_ms"])
        summary.append(
            {
                "scheme": name, "n_requests": n_requests, "timeout_s": FROZEN_TIMEOUT,
                "failed": row["failed"], "p50_ms": float(np.percentile(latencies, 50)),
                "max_ms": float(latencies.max()),
                "argmax_agreement": float(np.mean(row["agree"])) if row["agree"] else None,
                "tasks_left_500ms_after_thaw": left,
            }
        )  # fmt: skip
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: a few requests")
    parser.add_argument("--requests", type=int, default=150, help="timed requests per seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--frozen-requests", type=int, default=12)
    parser.add_argument(
        "--threads",
        dest="processes",
        action="store_false",
        help="dask workers as threads of this process (default: worker processes, as on a "
        "real cluster, so that the workers' garbage collection does not pause the master)",
    )
    parser.add_argument(
        "--gc-freeze", action="store_true",
        help="gc.freeze() before each scheme, a diagnosis of the overhead tail (see GC below)",
    )  # fmt: skip
    parser.add_argument(
        "--sleeps", action="store_true",
        help="real uncancellable heavy-tailed sleeps inside the work, one host 3x slower, "
        "instead of injected (stoppable) latencies",
    )  # fmt: skip
    args = parser.parse_args(argv)
    MODE["sleeps"] = args.sleeps
    if args.quick:
        args.requests, args.seeds, args.frozen_requests = 16, 2, 3
    n_warmup = 2 if args.quick else 10
    # One BLAS thread: the matrices are small, and on a 2-core machine BLAS threads
    # would only compete with the dask threads (and slow the training several-fold).
    with threadpool_limits(limits=1):
        run(args, args.requests, n_warmup)


def run(args, n_requests, n_warmup):
    per_seed, pooled_latencies, frozen = [], {}, []
    with (
        distributed.LocalCluster(
            n_workers=4, threads_per_worker=N // 2, processes=args.processes,
            dashboard_address="127.0.0.1:0",  # any free port: 8787 may be taken
            silence_logs=logging.CRITICAL,  # the frozen worker's missed heartbeats
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        for seed in range(args.seeds):
            rows = serve_seed(args, client, seed, n_requests, n_warmup)
            per_seed.append(rows)
            for row in rows:
                pooled_latencies.setdefault(row["scheme"], []).append(np.array(row["latencies_ms"]))
        if args.processes:  # a frozen process needs worker processes
            model, X, y = train_model(0)
            if args.sleeps:
                model = SleepyLogits(model, slow_host(client))
            schemes = [Uncoded(), Replicated(), *(Coded(s, X) for s in CODED_S)]
            frozen = frozen_worker(schemes, model, X, y, client, 0, args.frozen_requests)

    rng = np.random.default_rng(0)
    names = list(pooled_latencies)
    uncoded = np.concatenate(pooled_latencies[names[0]])
    pooled = []
    for name in names:
        latencies = np.concatenate(pooled_latencies[name])
        seed_rows = [rows[names.index(name)] for rows in per_seed]
        pooled.append(
            {
                "scheme": name,
                "n_requests": len(latencies),
                "p50_ms": float(np.percentile(latencies, 50)),
                "p99_ms": float(np.percentile(latencies, 99)),
                **bootstrap_ratios(latencies, uncoded, rng),
                "rel_acc_per_seed": [row["rel_acc"] for row in seed_rows],
                "agreement_per_seed": [row["argmax_agreement"] for row in seed_rows],
                "p99_over_uncoded_per_seed": [row["p99_over_uncoded"] for row in seed_rows],
                "p99_drift_per_seed": [row["p99_drift_ratio"] for row in seed_rows],
                "tasks_left_per_seed": [row["tasks_left_after_250ms"] for row in seed_rows],
            }
        )

    print(f"\npooled over {args.seeds} seeds (95% bootstrap intervals of the ratios to uncoded)")
    header = f"{'scheme':<24}{'p50 ms':>8}{'p99 ms':>8}  {'p50 ratio':<22}{'p99 ratio':<22}RelAcc"
    print(header)
    print("-" * len(header))
    for row in pooled:
        p50, p99 = row["p50_ratio"], row["p99_ratio"]
        print(
            f"{row['scheme']:<24}{row['p50_ms']:>8.1f}{row['p99_ms']:>8.1f}  "
            f"{p50[0]:.2f} [{p50[1]:.2f}, {p50[2]:.2f}]{'':<5}"
            f"{p99[0]:.2f} [{p99[1]:.2f}, {p99[2]:.2f}]{'':<5}"
            + ", ".join(f"{value:.3f}" for value in row["rel_acc_per_seed"])
        )
    if frozen:
        print(f"\none worker process of 4 frozen, timeout {FROZEN_TIMEOUT} s:")
        for row in frozen:
            agreement = row["argmax_agreement"]
            print(
                f"  {row['scheme']:<24} p50 {row['p50_ms']:7.1f} ms, max {row['max_ms']:7.1f} ms, "
                f"failed {row['failed']}/{row['n_requests']}, agreement "
                + ("-" if agreement is None else f"{agreement:.3f}")
                + f", tasks left after thaw {row['tasks_left_500ms_after_thaw']}"
            )

    RESULTS.mkdir(exist_ok=True)
    report = {
        "benchmark": "bench_latency",
        "quick": args.quick,
        "config": {
            "K": K, "N": N, "coded_S": list(CODED_S), "latency_s": LATENCY,
            "latency_kind": (
                f"time.sleep inside the work, one host x{SLOW_HOST}" if args.sleeps
                else "injected, stoppable"
            ),
            "n_requests_per_seed": n_requests, "n_warmup": n_warmup, "seeds": args.seeds,
            "gc_freeze": args.gc_freeze, "frozen_timeout_s": FROZEN_TIMEOUT,
            "cluster": {"n_workers": 4, "threads_per_worker": N // 2, "processes": args.processes},
            "schedule": "schemes take turns request by request",
            "model": "MLPClassifier((64,)) on load_digits (50% test split), logits decoded",
            "coders": "SplineEncoder/SplineDecoder defaults (chebyshev points, smoothing=0)",
            "bootstrap": f"{N_BOOTSTRAP} joint resamples of the pooled requests, 95% percentile",
        },
        "targets": {
            "p99_over_uncoded_max": TARGET_P99_RATIO, "rel_acc_min": TARGET_RELACC,
            "drift_ratio_max": DRIFT_LIMIT,
        },
        "machine": {"python": platform.python_version(), "dask": distributed.__version__},
        "pooled": pooled,
        "frozen_worker": frozen,
        "per_seed": per_seed,
    }  # fmt: skip
    # A smoke run, or one with the GC freeze, keeps the default run's files.
    stem = (
        "latency"
        + (".quick" if args.quick else "")
        + ("" if args.processes else ".threads")
        + (".gcfreeze" if args.gc_freeze else "")
        + (".sleeps" if args.sleeps else "")
    )
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1))
    plot(per_seed[0], RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / stem}.json and {RESULTS / stem}.png")


def slow_host(client):
    """The process id of the slow worker process (--sleeps): the first by address."""
    pids = client.run(os.getpid)
    return pids[sorted(pids)[0]]


def serve_seed(args, client, seed, n_requests, n_warmup):
    """One seed: train, serve every scheme in turn, summarize against the uncoded scheme."""
    model, X, y = train_model(seed)
    if args.sleeps:
        model = SleepyLogits(model, slow_host(client))
    rng = np.random.default_rng(seed)
    batches = [rng.choice(len(X), K, replace=False) for _ in range(n_warmup + n_requests)]
    served = np.concatenate(batches[n_warmup:])
    reference = model.decision_function(X[served])
    schemes = [Uncoded(), Replicated(), *(Coded(s, X) for s in CODED_S)]
    if args.gc_freeze:
        # GC: with processes=False the master, the scheduler and the workers
        # share this process, and a full collection walks all of it (numpy,
        # scikit-learn, dask, the workers' bounded task logs), pausing every
        # request in flight for 0.1-0.5 s here, whatever the scheme. Freezing
        # what exists removes those pauses at first, but they come back as the
        # workers' logs refill: a diagnosis, not the default.
        gc.collect()
        gc.freeze()
    start = time.perf_counter()
    served_schemes = serve(schemes, model, X, batches, client, seed, n_warmup)
    time.sleep(0.25)
    leftovers = leftover_tasks(client)
    rows = []
    for scheme, (latencies, coding, decoded) in zip(schemes, served_schemes, strict=True):
        rows.append(
            summarize(
                scheme.name, scheme.n_workers, latencies, coding, decoded, reference,
                y[served], leftovers,
            )
        )  # fmt: skip
    print(f"seed {seed}: served {len(schemes)} schemes in {time.perf_counter() - start:.1f} s")
    uncoded_p99 = rows[0]["p99_ms"]
    for row in rows:
        row["p99_over_uncoded"] = row["p99_ms"] / uncoded_p99
        row["meets_p99_target"] = row["p99_over_uncoded"] <= TARGET_P99_RATIO
        row["meets_relacc_target"] = row["rel_acc"] >= TARGET_RELACC
        row["no_drift"] = (
            row["p99_drift_ratio"] <= DRIFT_LIMIT and not row["tasks_left_after_250ms"]
        )
    header = (
        f"{'scheme':<24}{'workers':>8}{'p50 ms':>9}{'p99 ms':>9}{'p99/unc':>9}{'RelAcc':>8}"
        f"{'agree':>8}{'drift':>7}{'left':>6}{'enc+dec':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['scheme']:<24}{row['n_workers']:>8}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
            f"{row['p99_over_uncoded']:>9.2f}{row['rel_acc']:>8.3f}{row['argmax_agreement']:>8.3f}"
            f"{row['p99_drift_ratio']:>7.2f}{row['tasks_left_after_250ms']:>6}"
            f"{100 * row['coding_share']:>8.1f}%"
        )
    return rows


if __name__ == "__main__":
    main()
