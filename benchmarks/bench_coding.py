"""Benchmark of the coding core (issue: spline coding core).

1. Decoding error against N for S in {0, 10% of N}: spline (LeTCC) vs Berrut
   (BACC, on the same points and on the public BACC placement) vs Lagrange (LCC),
   on a smooth test function and on digits rows, with fitted slopes of log MSE
   against log N.
2. Speed: ``SplineEncoder.transform`` on a (256, 3072) float32 batch with N = 300
   against a bare numpy matmul of the same shapes (target: >= 0.7x its
   throughput), and ``smoothing="gcv"`` on a (256, 64) batch against SciPy's
   per-column GCV (``make_smoothing_spline(lam=None)``; target: >= 50x faster).

Writes benchmarks/results/coding.json and coding_error.png. Run:

    python benchmarks/bench_coding.py            # full (about a minute)
    python benchmarks/bench_coding.py --quick    # smoke run (seconds)
"""

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
from scipy.interpolate import make_smoothing_spline
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from sklearn_coded import SplineEncoder
from sklearn_coded.coding import CODERS
from sklearn_coded.operators import coding_points

RESULTS = Path(__file__).parent / "results"
# N on a log grid from K + 1 to 32 K, all prime: when N / K is an integer, data points
# coincide with coded points (odd ratios for "chebyshev", even ones for the public
# BACC placement) and decoding at them is exact, which says nothing about the code.
PRIME_NS = [17, 23, 31, 43, 61, 83, 113, 157, 211, 293, 401, 509]
SCHEMES = {  # label: (scheme, points)
    "spline (LeTCC)": ("spline", "chebyshev"),
    "berrut (BACC), same points": ("berrut", "chebyshev"),
    "berrut (BACC), public placement": ("berrut", "bacc"),
    "lagrange (LCC)": ("lagrange", "chebyshev"),
}


def settings(K, rng):
    """Each setting: a batch sampler and the computation f applied by the workers."""
    digits = load_digits().data / 16.0
    W = rng.standard_normal((64, 32)) / 8.0  # a fixed random-feature layer

    def smooth_batch(r):
        return r.uniform(-1, 1, (K, 8))

    def digits_batch(r):
        return digits[r.choice(len(digits), K, replace=False)]

    return {
        "smooth f = tanh(2x) + sin(3x)": (smooth_batch, lambda Z: np.tanh(2 * Z) + np.sin(3 * Z)),
        "digits rows, f = tanh(x W)": (digits_batch, lambda Z: np.tanh(Z @ W)),
    }


def decoding_error(scheme, points, K, N, S, batch, f, n_trials, seed):
    """Mean, std, 10th and 90th percentile over trials of the MSE of decoded f(x_k)."""
    rng = np.random.default_rng(seed)
    Encoder, Decoder = CODERS[scheme]
    mse = []
    for _ in range(n_trials):
        X = batch(rng)
        results = f(Encoder(N, points=points).fit_transform(X))
        results[rng.choice(N, S, replace=False)] = np.nan
        decoded = Decoder(K, points=points).fit(results).transform(results)
        mse.append(np.mean((decoded - f(X)) ** 2))
    p10, p90 = np.percentile(mse, [10, 90])
    return float(np.mean(mse)), float(np.std(mse)), float(p10), float(p90)


def accuracy_sweep(K, Ns, n_trials):
    rng = np.random.default_rng(0)
    rows = []
    for setting, (batch, f) in settings(K, rng).items():
        for straggler_share in (0.0, 0.1):
            for label, (scheme, points) in SCHEMES.items():
                for N in Ns:
                    S = round(straggler_share * N)
                    if scheme == "lagrange" and N - S < K:
                        continue
                    mean, std, p10, p90 = decoding_error(
                        scheme, points, K, N, S, batch, f, n_trials, seed=N
                    )
                    rows.append(
                        dict(
                            setting=setting,
                            S_share=straggler_share,
                            scheme=label,
                            K=K,
                            N=N,
                            S=S,
                            mse_mean=mean,
                            mse_std=std,
                            mse_p10=p10,
                            mse_p90=p90,
                        )
                    )
    return rows


def slopes(rows, K):
    """Least-squares slope of log mean MSE against log N over N >= 2K."""
    out = []
    keys = sorted({(r["setting"], r["S_share"], r["scheme"]) for r in rows})
    for setting, share, scheme in keys:
        pts = [
            (r["N"], r["mse_mean"])
            for r in rows
            if (r["setting"], r["S_share"], r["scheme"]) == (setting, share, scheme)
            and r["N"] >= 2 * K
            and r["mse_mean"] > 0
        ]
        if len(pts) >= 3:
            N, mse = np.array(pts).T
            out.append(
                dict(
                    setting=setting,
                    S_share=share,
                    scheme=scheme,
                    slope=float(np.polyfit(np.log(N), np.log(mse), 1)[0]),
                )
            )
    return out


def interleaved_medians(functions, repeats):
    """Median wall time of each function, run in turn so that load drifts hit all alike."""
    times = {name: [] for name in functions}
    for fn in functions.values():
        fn()  # warm caches
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def speed(repeats, gcv_repeats):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((256, 3072)).astype(np.float32)
    encoder = SplineEncoder(300).fit(X)
    dense = rng.standard_normal((300, 256)).astype(np.float32)
    raw32 = encoder.encoding_matrix(256).astype(np.float32)  # with subnormal entries
    t = interleaved_medians(
        {
            "SplineEncoder.transform": lambda: encoder.transform(X),
            "numpy matmul (dense random operator)": lambda: dense @ X,
            "numpy matmul (unflushed float32 spline operator)": lambda: raw32 @ X,
        },
        repeats,
    )
    transform = dict(
        shape_in=[256, 3072],
        n_coded=300,
        dtype="float32",
        median_seconds=t,
        throughput_ratio=t["numpy matmul (dense random operator)"] / t["SplineEncoder.transform"],
        target_ratio=0.7,
    )

    Xg = rng.standard_normal((256, 64))
    alpha, beta = coding_points("chebyshev", 256, 256)

    def ours():
        return SplineEncoder(256, smoothing="gcv").fit(Xg).transform(Xg)

    def scipy_per_column():
        return np.column_stack([make_smoothing_spline(alpha, Xg[:, j])(beta) for j in range(64)])

    ours_cold = []
    for i in range(3):  # a new point set each time: the eigendecomposition is not cached
        points = (np.sort(np.r_[alpha[:-1], 0.9999 - 1e-4 * i]), "chebyshev")
        start = time.perf_counter()
        SplineEncoder(256, smoothing="gcv", points=points).fit(Xg).transform(Xg)
        ours_cold.append(time.perf_counter() - start)
    g = interleaved_medians({"ours": ours, "scipy": scipy_per_column}, gcv_repeats)
    gcv = dict(
        shape_in=[256, 64],
        median_seconds_ours_warm=g["ours"],
        median_seconds_ours_cold=float(np.median(ours_cold)),
        median_seconds_scipy_per_column=g["scipy"],
        speedup_warm=g["scipy"] / g["ours"],
        speedup_cold=g["scipy"] / float(np.median(ours_cold)),
        target_speedup=50.0,
    )
    return transform, gcv


def plot(rows, slope_rows, path):
    settings_ = sorted({r["setting"] for r in rows})
    fig, axes = plt.subplots(len(settings_), 2, figsize=(11, 8.5), sharex=True)
    for i, setting in enumerate(settings_):
        for j, share in enumerate((0.0, 0.1)):
            ax = axes[i, j]
            for label in SCHEMES:
                pts = [
                    (r["N"], r["mse_mean"], r["mse_p10"], r["mse_p90"])
                    for r in rows
                    if r["setting"] == setting and r["S_share"] == share and r["scheme"] == label
                ]
                if not pts:
                    continue
                N, m, lo, hi = np.array(pts).T
                slope = next(
                    (
                        x["slope"]
                        for x in slope_rows
                        if x["setting"] == setting
                        and x["S_share"] == share
                        and x["scheme"] == label
                    ),
                    np.nan,
                )
                (line,) = ax.plot(N, m, marker="o", ms=3, label=f"{label} (slope {slope:.1f})")
                ax.fill_between(N, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
            ax.set(
                xscale="log",
                yscale="log",
                title=f"{setting}\nS = {share:.0%} of N",
                xlabel="N (workers)",
                ylabel="MSE of decoded f(x)",
            )
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(
        f"Decoding error against N, K = {rows[0]['K']} (mean; band: 10th-90th percentile over random batches)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads for every timed call (default 1: on a shared 2-core machine, "
        "threaded OpenBLAS under load slows small LAPACK calls by up to 100x)",
    )
    args = parser.parse_args()
    with threadpool_limits(args.blas_threads):
        run(args)


def run(args):
    K = 16
    if args.quick:
        Ns, n_trials, repeats, gcv_repeats = PRIME_NS[::3], 3, 3, 1
    else:
        Ns, n_trials, repeats, gcv_repeats = PRIME_NS, 20, 30, 3
    rows = accuracy_sweep(K, Ns, n_trials)
    slope_rows = slopes(rows, K)
    transform, gcv = speed(repeats, gcv_repeats)
    RESULTS.mkdir(exist_ok=True)
    suffix = "_quick" if args.quick else ""
    result = dict(
        K=K,
        n_trials=n_trials,
        blas_threads=args.blas_threads,
        N_grid="prime N, never a multiple of K: no data point coincides with a coded point",
        errors=rows,
        slopes=slope_rows,
        transform_speed=transform,
        gcv_speed=gcv,
    )
    (RESULTS / f"coding{suffix}.json").write_text(json.dumps(result, indent=1))
    plot(rows, slope_rows, RESULTS / f"coding_error{suffix}.png")

    print(f"{'setting':34} {'S':>4} {'scheme':34} slope   MSE@N={Ns[-1]}")
    for s in slope_rows:
        last = next(
            r["mse_mean"]
            for r in rows[::-1]
            if r["setting"] == s["setting"]
            and r["S_share"] == s["S_share"]
            and r["scheme"] == s["scheme"]
        )
        print(
            f"{s['setting']:34} {s['S_share']:4.0%} {s['scheme']:34} {s['slope']:5.2f}   {last:.2e}"
        )
    print(
        f"transform throughput vs bare matmul: {transform['throughput_ratio']:.2f}x (target >= 0.7x)",
        {k: f"{v * 1e3:.2f} ms" for k, v in transform["median_seconds"].items()},
    )
    print(
        f"GCV speed-up vs SciPy per column: warm {gcv['speedup_warm']:.0f}x, "
        f"cold {gcv['speedup_cold']:.0f}x (target >= 50x)"
    )


if __name__ == "__main__":
    main()
