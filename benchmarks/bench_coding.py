"""Benchmark of the coding core (issue: spline coding core).

1. Decoding error against N for S in {0, 10% of N}: spline (LeTCC) vs Berrut
   (BACC, on the same points and on the public BACC placement) vs Lagrange (LCC),
   on a smooth test function and on digits rows, with fitted slopes of log MSE
   against log N.
2. Speed: ``SplineEncoder.transform`` on a (256, 3072) float32 batch with N = 300
   against a bare numpy matmul of the same shapes (target: >= 0.7x its
   throughput), and ``smoothing="gcv"`` on a (256, 64) batch against SciPy's
   per-column GCV (``make_smoothing_spline(lam=None)``; target: >= 50x faster).
3. Decoder build time against N (issue 8, "cost at scale"): K = 64, 10% of the
   workers missing, a new survivor set for every build (random stragglers), for
   lam = 0, lam = 1e-6 and GCV, spline orders 2 and 3; the log-log slope of time
   against N and the ratio N = 4096 / N = 1024 (target <= 10x), side by side with
   the dense O(n^3) construction of the previous release at N <= 1024. Also the
   bytes held by the operator caches after 300 builds.

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
SCHEMES = {  # label: (scheme, points, coder parameters)
    "spline (LeTCC)": ("spline", "chebyshev", {}),
    "spline order 3": ("spline", "chebyshev", {"order": 3}),
    "berrut (BACC), same points": ("berrut", "chebyshev", {}),
    "berrut (BACC), public placement": ("berrut", "bacc", {}),
    "lagrange (LCC)": ("lagrange", "chebyshev", {}),
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


def decoding_error(scheme, points, K, N, S, batch, f, n_trials, seed, params=None):
    """Mean, std, 10th and 90th percentile over trials of the MSE of decoded f(x_k)."""
    rng = np.random.default_rng(seed)
    Encoder, Decoder = CODERS[scheme]
    mse = []
    for _ in range(n_trials):
        X = batch(rng)
        results = f(Encoder(N, points=points, **(params or {})).fit_transform(X))
        results[rng.choice(N, S, replace=False)] = np.nan
        decoded = Decoder(K, points=points, **(params or {})).fit(results).transform(results)
        mse.append(np.mean((decoded - f(X)) ** 2))
    p10, p90 = np.percentile(mse, [10, 90])
    return float(np.mean(mse)), float(np.std(mse)), float(p10), float(p90)


def accuracy_sweep(K, Ns, n_trials):
    rng = np.random.default_rng(0)
    rows = []
    for setting, (batch, f) in settings(K, rng).items():
        for straggler_share in (0.0, 0.1):
            for label, (scheme, points, params) in SCHEMES.items():
                for N in Ns:
                    S = round(straggler_share * N)
                    if scheme == "lagrange" and N - S < K:
                        continue
                    mean, std, p10, p90 = decoding_error(
                        scheme, points, K, N, S, batch, f, n_trials, seed=N, params=params
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


def dense_decoder(t, s, lam, Y=None):
    """The previous release's construction: dense (n, n) Reinsch products, O(n^3).

    ``M = A H`` with ``A = A_value + A_curv R^{-1} Q'`` and ``H = (I + n lam K)^{-1}``
    formed densely; with ``Y`` the GCV lam comes from a dense eigendecomposition of K.
    """
    from scipy import linalg

    n = t.size
    h = np.diff(t)
    Q = np.zeros((n, n - 2))
    j = np.arange(n - 2)
    Q[j, j], Q[j + 1, j], Q[j + 2, j] = 1 / h[:-1], -1 / h[:-1] - 1 / h[1:], 1 / h[1:]
    R = np.diag((h[:-1] + h[1:]) / 3) + np.diag(h[1:-1] / 6, 1) + np.diag(h[1:-1] / 6, -1)
    K = Q @ linalg.solve(R, Q.T)
    if Y is not None:  # GCV over the eigenvalues of K
        d, W = linalg.eigh(K)
        z2 = np.sum((W.T @ Y) ** 2, axis=1)
        grid = np.exp(np.linspace(np.log(1e-4 / (n * d[-1])), np.log(1e4 / (n * d[2])), 81))
        shrink = [(n * g * d) / (1 + n * g * d) for g in grid]
        lam = grid[int(np.argmin([n * sh**2 @ z2 / sh.sum() ** 2 for sh in shrink]))]
    H = linalg.inv(np.eye(n) + n * lam * K)
    # natural cubic interpolation at s from values g: CubicSpline of the identity
    from scipy.interpolate import CubicSpline

    A = CubicSpline(t, np.eye(n), bc_type="natural")(s)
    return A @ H


def decoder_build_scaling(Ns, repeats, dense_max_n):
    """Median seconds to build D_F for a new survivor set F, per N, smoothing and order."""
    from sklearn_coded.operators import coding_operator
    from sklearn_coded.operators._rational import _berrut_cached
    from sklearn_coded.operators._spline import _spline_operator_cached

    K, missing = 64, 0.1
    rng = np.random.default_rng(7)
    rows = []
    cases = [(2, 0.0), (2, 1e-6), (2, "gcv"), (3, 0.0), (3, 1e-6), (3, "gcv")]
    for N in Ns:
        alpha, beta = coding_points("chebyshev", K, N)
        # a new survivor set for every build (plus one for a warm-up call)
        sets = [
            np.sort(rng.choice(N, N - round(missing * N), replace=False))
            for _ in range(repeats + 1)
        ]
        values = [
            np.sin(3 * beta[F])[:, None] + 1e-2 * rng.standard_normal((F.size, 10)) for F in sets
        ]
        for order, lam in cases:
            times, dense_times = [], []
            for i, (F, Y) in enumerate(zip(sets, values, strict=True)):
                start = time.perf_counter()
                coding_operator("spline", beta[F], alpha, lam, values=Y, order=order)
                if i:  # the first call is a warm-up
                    times.append(time.perf_counter() - start)
            if order == 2 and dense_max_n >= N:  # timed apart: no cache pollution
                for F, Y in zip(sets[1:], values[1:], strict=True):
                    start = time.perf_counter()
                    dense_decoder(beta[F], alpha, lam, Y if lam == "gcv" else None)
                    dense_times.append(time.perf_counter() - start)
            rows.append(
                dict(
                    N=N,
                    K=K,
                    order=order,
                    smoothing=str(lam),
                    # the minimum over builds is the cost without the load of other
                    # processes on this shared machine; the median is kept beside it
                    min_s=float(np.min(times)),
                    median_s=float(np.median(times)),
                    dense_min_s=float(np.min(dense_times)) if dense_times else None,
                    dense_median_s=float(np.median(dense_times)) if dense_times else None,
                )
            )
            print(
                f"  build N={N:5d} order={order} lam={lam!s:6} {rows[-1]['min_s'] * 1e3:8.1f} ms"
                + (f"  dense {rows[-1]['dense_min_s'] * 1e3:8.1f} ms" if dense_times else ""),
                flush=True,
            )
    summary = []
    for order, lam in cases:
        rs = [r for r in rows if r["order"] == order and r["smoothing"] == str(lam)]
        n, t = np.array([r["N"] for r in rs]), np.array([r["min_s"] for r in rs])
        by_n = dict(zip(n.tolist(), t.tolist(), strict=True))
        summary.append(
            dict(
                order=order,
                smoothing=str(lam),
                loglog_slope=float(np.polyfit(np.log(n), np.log(t), 1)[0]),
                ratio_4096_over_1024=by_n[4096] / by_n[1024]
                if 4096 in by_n and 1024 in by_n
                else None,
                target_ratio=10.0,
            )
        )
    # caches after 300 builds with new survivor sets, bounded in bytes
    alpha, beta = coding_points("chebyshev", K, 1024)
    for _ in range(300):
        F = np.sort(rng.choice(1024, 922, replace=False))
        coding_operator("spline", beta[F], alpha, 1e-6)
        coding_operator("berrut", beta[F], alpha)
    caches = {
        "spline_operator": [
            _spline_operator_cached.cache.nbytes,
            _spline_operator_cached.cache.max_bytes,
        ],
        "berrut_operator": [_berrut_cached.cache.nbytes, _berrut_cached.cache.max_bytes],
        "note": "[bytes held, byte budget] after 300 decoders of (64, 922) for new survivor sets "
        "(147 MB each scheme if all were kept)",
    }
    return rows, summary, caches


def plot_build(rows, path):
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for order in (2, 3):
        for lam in ("0.0", "1e-06", "gcv"):
            rs = [r for r in rows if r["order"] == order and r["smoothing"] == lam]
            ax.plot(
                [r["N"] for r in rs],
                [r["min_s"] for r in rs],
                "o-",
                ms=3,
                label=f"band, order {order}, lam={lam}",
            )
    for lam in ("0.0", "1e-06", "gcv"):
        rs = [r for r in rows if r["order"] == 2 and r["smoothing"] == lam and r["dense_min_s"]]
        ax.plot(
            [r["N"] for r in rs],
            [r["dense_min_s"] for r in rs],
            "x--",
            label=f"dense (previous), lam={lam}",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="N (workers), 10% missing",
        ylabel="seconds per decoder (min of 7 builds)",
        title="Decoder build for a new survivor set, K = 64",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


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
        "--build-only",
        action="store_true",
        help="only the decoder build timings, written into the existing coding.json",
    )
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


def run_build(build_Ns, repeats, dense_max_n):
    print("decoder build time against N:", flush=True)
    build_rows, build_summary, caches = decoder_build_scaling(build_Ns, repeats, dense_max_n)
    for r in build_summary:
        ratio = r["ratio_4096_over_1024"]
        print(
            f"decoder build, order {r['order']}, lam={r['smoothing']}: log-log slope "
            f"{r['loglog_slope']:.2f}, N=4096 / N=1024: "
            + (f"{ratio:.1f}x (target <= 10x)" if ratio else "n/a")
        )
    print("caches [bytes, budget]:", caches)
    return dict(rows=build_rows, summary=build_summary, caches=caches)


def run(args):
    K = 16
    build_Ns = [256, 1024, 4096] if args.quick else [256, 512, 1024, 2048, 4096]
    build_args = (build_Ns, 1 if args.quick else 7, 256 if args.quick else 1024)
    suffix = "_quick" if args.quick else ""
    if args.build_only:
        path = RESULTS / f"coding{suffix}.json"
        result = json.loads(path.read_text())
        result["decoder_build"] = run_build(*build_args)
        path.write_text(json.dumps(result, indent=1))
        plot_build(result["decoder_build"]["rows"], RESULTS / f"coding_build{suffix}.png")
        return
    if args.quick:
        Ns, n_trials, repeats, gcv_repeats = PRIME_NS[::3], 3, 3, 1
    else:
        Ns, n_trials, repeats, gcv_repeats = PRIME_NS, 20, 30, 3
    rows = accuracy_sweep(K, Ns, n_trials)
    slope_rows = slopes(rows, K)
    transform, gcv = speed(repeats, gcv_repeats)
    build = run_build(*build_args)
    RESULTS.mkdir(exist_ok=True)
    result = dict(
        K=K,
        n_trials=n_trials,
        blas_threads=args.blas_threads,
        N_grid="prime N, never a multiple of K: no data point coincides with a coded point",
        errors=rows,
        slopes=slope_rows,
        transform_speed=transform,
        gcv_speed=gcv,
        decoder_build=build,
    )
    (RESULTS / f"coding{suffix}.json").write_text(json.dumps(result, indent=1))
    plot(rows, slope_rows, RESULTS / f"coding_error{suffix}.png")
    plot_build(build["rows"], RESULTS / f"coding_build{suffix}.png")

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
