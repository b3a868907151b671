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

Writes benchmarks/results/latency.json and latency.png (latency.quick.* for a
smoke run, latency.gcfreeze.* with --gc-freeze). Run:

    python benchmarks/bench_latency.py            # full (about 2-4 minutes)
    python benchmarks/bench_latency.py --quick    # smoke run (seconds)
"""

import argparse
import gc
import json
import logging
import platform
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
from sklearn_coded.execution import LatencyStragglers, run_workers

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


def first_copy_of_each_row(returned):
    """Replication's stopping rule: workers k and k + K hold row k; one copy is enough."""
    return bool(returned.reshape(2, K, -1).any(axis=0).all())


class Uncoded:
    name = "uncoded"
    n_workers = K

    def request(self, model, batch, client, rng):
        results, _ = run_workers(
            model, "decision_function", batch[:, None, :], executor=client,
            stragglers=LatencyStragglers(**LATENCY), min_results=K, random_state=rng,
        )  # fmt: skip
        return results[:, 0], 0.0


class Replicated:
    name = "replication 2x"
    n_workers = 2 * K

    def request(self, model, batch, client, rng):
        results, returned = run_workers(
            model, "decision_function", np.concatenate([batch, batch])[:, None, :],
            executor=client, stragglers=LatencyStragglers(**LATENCY), min_results=K,
            random_state=rng, enough=first_copy_of_each_row,
        )  # fmt: skip
        first = np.where(returned[:K, 0, None], results[:K, 0], results[K:, 0])
        return first, 0.0


class Coded:
    n_workers = N

    def __init__(self, n_stragglers, X_example):
        self.n_stragglers = n_stragglers
        self.name = f"coded spline N={N} S={n_stragglers}"
        self.encoder = SplineEncoder(n_coded=N).fit(X_example[:K])
        self.decoder = SplineDecoder(n_samples=K)

    def request(self, model, batch, client, rng):
        start = time.perf_counter()
        coded = self.encoder.transform(batch)
        encode = time.perf_counter() - start
        results, returned = run_workers(
            model, "decision_function", coded[:, None, :], executor=client,
            stragglers=LatencyStragglers(**LATENCY, n_stragglers=self.n_stragglers),
            random_state=rng,
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: a few requests")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per scheme")
    parser.add_argument("--seed", type=int, default=0)
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
    args = parser.parse_args(argv)
    n_requests, n_warmup = (16, 2) if args.quick else (args.requests, 10)
    # One BLAS thread: the matrices are small, and on a 2-core machine BLAS threads
    # would only compete with the dask threads (and slow the training several-fold).
    with threadpool_limits(limits=1):
        run(args, n_requests, n_warmup)


def run(args, n_requests, n_warmup):

    model, X, y = train_model(args.seed)
    rng = np.random.default_rng(args.seed)
    batches = [rng.choice(len(X), K, replace=False) for _ in range(n_warmup + n_requests)]
    served = np.concatenate(batches[n_warmup:])
    reference = model.decision_function(X[served])
    schemes = [Uncoded(), Replicated(), *(Coded(s, X) for s in CODED_S)]

    rows = []
    with (
        distributed.LocalCluster(
            n_workers=4, threads_per_worker=N // 2, processes=args.processes,
            dashboard_address="127.0.0.1:0",  # any free port: 8787 may be taken
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
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
        served_schemes = serve(schemes, model, X, batches, client, args.seed, n_warmup)
        time.sleep(0.25)
        leftovers = leftover_tasks(client)
        for scheme, (latencies, coding, decoded) in zip(schemes, served_schemes, strict=True):
            rows.append(
                summarize(
                    scheme.name, scheme.n_workers, latencies, coding, decoded, reference,
                    y[served], leftovers,
                )
            )  # fmt: skip
        print(f"  served {len(schemes)} schemes in {time.perf_counter() - start:.1f} s", flush=True)

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
    print(
        f"targets: coded p99/uncoded p99 <= {TARGET_P99_RATIO:.2f}, RelAcc >= {TARGET_RELACC}, "
        f"drift (p99 second/first half) <= {DRIFT_LIMIT} with no task left running"
    )
    for row in rows[2:]:
        verdict = {key: row[key] for key in ("meets_p99_target", "meets_relacc_target", "no_drift")}
        print(f"  {row['scheme']}: {verdict}")

    RESULTS.mkdir(exist_ok=True)
    report = {
        "benchmark": "bench_latency",
        "quick": args.quick,
        "config": {
            "K": K, "N": N, "coded_S": list(CODED_S), "latency_s": LATENCY,
            "n_requests": n_requests, "n_warmup": n_warmup, "seed": args.seed,
            "gc_freeze": args.gc_freeze,
            "cluster": {"n_workers": 4, "threads_per_worker": N // 2, "processes": args.processes},
            "schedule": "schemes take turns request by request",
            "model": "MLPClassifier((64,)) on load_digits (50% test split), logits decoded",
            "coders": "SplineEncoder/SplineDecoder defaults (chebyshev points, smoothing=0)",
        },
        "targets": {
            "p99_over_uncoded_max": TARGET_P99_RATIO, "rel_acc_min": TARGET_RELACC,
            "drift_ratio_max": DRIFT_LIMIT,
        },
        "machine": {"python": platform.python_version(), "dask": distributed.__version__},
        "results": rows,
    }  # fmt: skip
    # A smoke run, or one with the GC freeze, keeps the default run's files.
    stem = (
        "latency"
        + (".quick" if args.quick else "")
        + ("" if args.processes else ".threads")
        + (".gcfreeze" if args.gc_freeze else "")
    )
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1))
    plot(rows, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / stem}.json and {RESULTS / stem}.png")


if __name__ == "__main__":
    main()
