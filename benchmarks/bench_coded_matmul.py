"""Coded matrix-vector and matrix-matrix products on a dask cluster with slow workers.

``A @ x`` and ``A @ B`` (:func:`sklearn_coded.execution.coded_matmul`) against the
schemes a user would run instead, every worker doing the same work (one block of
m / K rows of A):

- uncoded: K workers, one row block each; wait for all K;
- 2x replication: 2K workers, each block twice; keep the first copy of each block;
- coded, N = 2K workers: the rotation embedding with 2K half-blocks (two per worker:
  threshold K) and the Chebyshev code with K blocks (threshold K), both tolerating
  S = K stragglers; and the rotation code with T = 2 secret padding blocks
  (threshold K + 2, S = K - 2).

Worker latency is injected by :class:`~sklearn_coded.execution.LatencyStragglers`
(20 ms + Exp(10 ms), 2% slow with Exp(300 ms) more, as ``bench_latency.py``); the
tasks really wait and the late ones are really stopped. The schemes take turns
request by request on one ``LocalCluster`` (4 worker threads each of 2K, in
process), so load changes hit all alike. Reported: p50 / p99 latency, the ratio to
uncoded, and the worst relative error against numpy.

Run ``python benchmarks/bench_coded_matmul.py`` (about 2 minutes) or ``--quick``.
Writes ``benchmarks/results/coded_matmul.json`` and ``coded_matmul.png``.
"""

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import distributed
import numpy as np

from sklearn_coded.execution import LatencyStragglers, coded_matmul, run_workers
from sklearn_coded.execution._matmul import MatmulWorker

RESULTS = Path(__file__).resolve().parent / "results"
LATENCY = {"shift": 0.02, "scale": 0.01, "slow_prob": 0.02, "slow_scale": 0.3}
K = 8
M, INNER, P = 1024, 512, 64


def blocks_of(A):
    return A.reshape(K, -1)  # K row blocks, flattened: one row per worker


def uncoded(A, B, client, rng):
    results, _ = run_workers(
        MatmulWorker(B, M // K), "apply", blocks_of(A)[:, None, :], executor=client,
        stragglers=LatencyStragglers(**LATENCY), min_results=K, random_state=rng,
    )  # fmt: skip
    return results[:, 0].reshape(M, -1)


def replicated(A, B, client, rng):
    rows = blocks_of(A)
    results, returned = run_workers(
        MatmulWorker(B, M // K), "apply", np.concatenate([rows, rows])[:, None, :],
        executor=client, stragglers=LatencyStragglers(**LATENCY), min_results=K,
        random_state=rng, enough=lambda r: bool(r.reshape(2, K, -1).any(axis=0).all()),
    )  # fmt: skip
    first = np.where(returned[:K, 0, None], results[:K, 0], results[K:, 0])
    return first.reshape(M, -1)


def coded(code, n_blocks, T):
    S = 2 * K - (K + T)

    def run(A, B, client, rng):
        return coded_matmul(
            A, B, 2 * K, n_blocks=n_blocks, code=code, n_private=T,
            stragglers=LatencyStragglers(**LATENCY, n_stragglers=S), executor=client,
            random_state=rng,
        )  # fmt: skip

    return run


SCHEMES = {
    "uncoded (K workers)": uncoded,
    "replication 2x": replicated,
    "rotation N=2K, S=K": coded("rotation", 2 * K, 0),
    "chebyshev N=2K, S=K": coded("chebyshev", K, 0),
    "rotation T=2, N=2K, S=K-2": coded("rotation", 2 * (K - 2), 2),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    n_requests, seeds = (10, 1) if args.quick else (100, 3)
    rows = []
    with (
        distributed.LocalCluster(
            n_workers=4, threads_per_worker=2 * K, processes=False, dashboard_address="127.0.0.1:0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        for product in ("A @ x", "A @ B"):
            latencies = {name: [] for name in SCHEMES}
            errors = dict.fromkeys(SCHEMES, 0.0)
            for seed in range(seeds):
                data = np.random.default_rng(seed)
                A = data.normal(size=(M, INNER))
                B = data.normal(size=(INNER, 1 if product == "A @ x" else P))
                truth = A @ B
                rngs = {name: np.random.RandomState(seed) for name in SCHEMES}
                for request in range(n_requests + 2):  # 2 warm-up requests
                    for name, scheme in SCHEMES.items():
                        start = time.perf_counter()
                        C = scheme(A, B, client, rngs[name])
                        elapsed = time.perf_counter() - start
                        if request >= 2:
                            latencies[name].append(elapsed)
                        err = np.abs(C.reshape(truth.shape) - truth).max() / np.abs(truth).max()
                        errors[name] = max(errors[name], float(err))
            base = np.percentile(latencies["uncoded (K workers)"], [50, 99])
            for name in SCHEMES:
                p50, p99 = np.percentile(latencies[name], [50, 99])
                row = {"product": product, "scheme": name, "p50_ms": 1e3 * p50,
                       "p99_ms": 1e3 * p99, "p50_ratio": p50 / base[0],
                       "p99_ratio": p99 / base[1], "max_rel_error": errors[name],
                       "requests": len(latencies[name])}  # fmt: skip
                rows.append(row)
                print(
                    f"{product} {name:28s} p50 {row['p50_ms']:6.1f} ms p99 {row['p99_ms']:6.1f} "
                    f"ms (x{row['p99_ratio']:.2f}) error {row['max_rel_error']:.1e}",
                    flush=True,
                )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "coded_matmul_quick" if args.quick else "coded_matmul"
    payload = {"K": K, "shape": [M, INNER, P], "latency": LATENCY, "rows": rows,
               "python": sys.version.split()[0], "platform": platform.platform()}  # fmt: skip
    (args.out_dir / f"{stem}.json").write_text(json.dumps(payload, indent=1))
    plot(rows, args.out_dir / f"{stem}.png")


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, product in zip(axes, ("A @ x", "A @ B"), strict=True):
        sub = [r for r in rows if r["product"] == product]
        x = np.arange(len(sub))
        ax.bar(x - 0.2, [r["p50_ms"] for r in sub], 0.4, label="p50")
        ax.bar(x + 0.2, [r["p99_ms"] for r in sub], 0.4, label="p99")
        ax.set_xticks(x, [r["scheme"] for r in sub], rotation=30, ha="right", fontsize=7)
        ax.set(title=product, ylabel="latency (ms)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
