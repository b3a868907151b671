"""Exact real-field codes side by side: recovery threshold, worst conditioning, decode error.

For the monomial-Vandermonde baseline (real LCC / Yu et al.'s polynomial code), Fahim
and Cadambe's Chebyshev-basis code and Ramamoorthy and Tang's rotation-matrix
embedding (:mod:`sklearn_coded.operators._exact`), at K data rows, T colluders and S
stragglers (N = threshold + S workers):

- ``threshold``: the recovery threshold in workers (the rotation code's workers
  hold two rows each, so its threshold is ceil(K / 2) + T);
- ``worst_cond``: the largest 2-norm condition number of the decoding system over
  survivor sets of exactly the threshold (all sets when there are at most 2000,
  else 2000 random ones: then a lower bound, marked ``exhaustive: false``);
- ``err64`` / ``err32``: the decode error of a linear f (a random 32 x 16 matrix) in
  float64 / float32 (encode, workers and decode in that precision), max |error| /
  max |f(X)|, worst over the worst-conditioned survivor set and 20 random ones, 5
  seeds, with the padding at sigma = 1e2, 1e4, 1e6 x the data's spread (the analog
  privacy-accuracy trade-off: error ~ cond x eps x sigma / spread);
- ``r2``: the worst LMMSE R^2 of a data row from any T workers' shares at each
  sigma (:func:`~sklearn_coded.operators.exact_leakage`; 500 sampled T-sets plus
  every window of T adjacent workers where there are more).

Run ``python benchmarks/bench_exact_codes.py`` (about a minute) or ``--quick``.
Writes ``benchmarks/results/exact_codes.json`` and ``exact_codes.png``.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from sklearn_coded.operators import EXACT_CODES, exact_code, exact_leakage, worst_condition

RESULTS = Path(__file__).resolve().parent / "results"
SIGMAS = (1e2, 1e4, 1e6)
FULL = {
    "configs": [(4, 1, 2), (8, 2, 2), (12, 2, 2), (16, 2, 4), (24, 4, 4), (32, 4, 4)],
    "seeds": 5,
    "random_sets": 20,
    "max_sets": 2000,
}
QUICK = {"configs": [(4, 1, 2), (8, 2, 2)], "seeds": 2, "random_sets": 3, "max_sets": 200}


def _rows(code, workers):
    workers = np.asarray(workers)
    return (workers[:, None] * code.share + np.arange(code.share)).ravel()


def decode_errors(code, sets, sigma, dtype, seeds):
    """Worst relative decode error of a linear f over survivor sets and seeds."""
    worst = 0.0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(code.n_samples, 32))
        W = rng.normal(size=(32, 16))
        data = np.zeros((code.n_data_rows + code.n_padding, 32))
        data[: code.n_samples] = X
        data[code.n_data_rows :] = sigma * rng.normal(size=(code.n_padding, 32))
        E = code.encoder.astype(dtype)
        shares = E @ data.astype(dtype)  # the master's encode, in dtype
        results = shares @ W.astype(dtype)  # the workers' f, in dtype
        truth = X @ W
        for F in sets:
            D = code.decoder(F).astype(dtype)
            decoded = D @ results[_rows(code, F)]
            err = np.abs(decoded.astype(np.float64) - truth).max() / np.abs(truth).max()
            worst = max(worst, float(err))
    return worst


def run(config):
    rows = []
    for K, T, S in config["configs"]:
        for name in EXACT_CODES:
            thr = exact_code(name, K, 10**6, n_private=T).threshold
            code = exact_code(name, K, thr + S, n_private=T)
            start = time.perf_counter()
            cond, exhaustive = worst_condition(code, max_sets=config["max_sets"], random_state=0)
            # the worst set itself, and random ones
            rng = np.random.default_rng(1)
            sets = [
                np.sort(rng.choice(code.n_coded, thr, replace=False))
                for _ in range(config["random_sets"])
            ]
            if exhaustive:
                import itertools

                sets.append(
                    max(itertools.combinations(range(code.n_coded), thr), key=code.condition)
                )
            row = {
                "code": name,
                "K": K,
                "T": T,
                "S": S,
                "N": code.n_coded,
                "rows_per_worker": code.share,
                "threshold": thr,
                "worst_cond": cond,
                "exhaustive": exhaustive,
            }
            for sigma in SIGMAS:
                row[f"r2_sigma{sigma:.0e}"] = exact_leakage(code, sigma, max_sets=500)
                for dtype, tag in ((np.float64, "err64"), (np.float32, "err32")):
                    row[f"{tag}_sigma{sigma:.0e}"] = decode_errors(
                        code, sets, sigma, dtype, config["seeds"]
                    )
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(
                f"K={K:2d} T={T} S={S} {name:11s} N={code.n_coded:2d} thr={thr:2d} "
                f"cond={cond:9.3g} "
                + " ".join(
                    f"{row[f'err64_sigma{s:.0e}']:.1e}/{row[f'err32_sigma{s:.0e}']:.1e}"
                    for s in SIGMAS
                ),
                flush=True,
            )
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name in EXACT_CODES:
        sub = [r for r in rows if r["code"] == name]
        ax1.semilogy([r["K"] for r in sub], [r["worst_cond"] for r in sub], "o-", label=name)
        ax2.loglog(
            SIGMAS,
            [max(r[f"err64_sigma{s:.0e}"] for r in sub) for s in SIGMAS],
            "o-",
            label=f"{name} float64",
        )
        ax2.loglog(
            SIGMAS,
            [max(r[f"err32_sigma{s:.0e}"] for r in sub) for s in SIGMAS],
            "s--",
            label=f"{name} float32",
        )
    ax1.set(
        xlabel="K (data rows)",
        ylabel="worst condition number over survivor sets",
        title="Decoding conditioning, N = threshold + S",
    )
    ax2.set(
        xlabel="padding sigma / data spread",
        ylabel="worst relative decode error",
        title="Precision against privacy noise (all configs)",
    )
    ax1.legend()
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    config = QUICK if args.quick else FULL
    rows = run(config)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "exact_codes_quick" if args.quick else "exact_codes"
    payload = {
        "config": config,
        "sigmas": SIGMAS,
        "rows": rows,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    (args.out_dir / f"{stem}.json").write_text(json.dumps(payload, indent=1))
    plot(rows, args.out_dir / f"{stem}.png")


if __name__ == "__main__":
    main()
