"""Byzantine workers: decoding error, detection and accuracy against the adversaries.

An MLP on ``load_digits`` (the model of ``bench_accuracy.py``); batches of K = 16
test rows, N = 80 workers, S = 4 stragglers, and A Byzantine workers drawn by
the adversary models of :mod:`sklearn_coded.execution` (gross errors of size
``scale`` times the results' spread, sign flips, a small targeted shift, and the
adaptive block of adjacent colluders). Side by side on identical batches and
draws:

- ``spline``: the spline decoder with ``n_adversaries=A`` (leave-one-out locator),
  on uniform points (the estimator's default for the spline code);
- ``berrut``: the Berrut decoder with ``n_adversaries=A`` (ApproxIFER's rational
  locator), on Chebyshev points, where that locator works (measured below);
- ``berrut_loo``: Berrut results located with the spline locator;
- for each, ``oracle``: the same decoder told the bad rows (they are dropped),
  and ``naive``: the linear decoder (A = 0) on every result.

Reported per cell (mean over batches, and a 95% interval of the mean): MSE of
the decoded logits against the model's logits, ratio to the oracle's, the
fraction of batches whose bad rows were all flagged, detection precision and
recall, argmax agreement with the bare model. A threshold study on held-out
rows (the training split) gives the largest clean score of the spline locator,
which ``LOO_THRESHOLD`` must exceed. A last cell runs the real path: a thread
pool via ``run_workers(..., adversaries=...)``, and ``CodedClassifier`` end to end
(all test rows, in process and on a thread pool, with and without
``n_adversaries=3``, against 3 gross liars).

Run ``python benchmarks/bench_adversarial.py`` (about 3 minutes here) or ``--quick``.
Writes ``benchmarks/results/adversarial.json`` and ``adversarial.png``.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import mlp_model

from sklearn_coded import BerrutDecoder, BerrutEncoder, SplineDecoder, SplineEncoder
from sklearn_coded.execution import (
    AdaptiveAdversaries,
    FixedStragglers,
    GrossErrors,
    SignFlips,
    TargetedShift,
    run_workers,
)
from sklearn_coded.operators import LOO_THRESHOLD, locate_loo
from sklearn_coded.operators._robust import candidate_scores

RESULTS = Path(__file__).resolve().parent / "results"
K, N, S = 16, 80, 4
FULL = {"batches": 300, "held_out": 1000, "mlp_iter": 500, "real_batches": 40}
QUICK = {"batches": 20, "held_out": 50, "mlp_iter": 60, "real_batches": 4}

CODES = {
    # label: (encoder, decoder class, points, locator override)
    "spline": (SplineEncoder, SplineDecoder, "uniform"),
    "berrut": (BerrutEncoder, BerrutDecoder, "chebyshev"),
    "berrut_loo": (BerrutEncoder, BerrutDecoder, "chebyshev"),
}


class Logits:
    """The MLP's logits as a method, for run_workers."""

    def __init__(self, f):
        self.f = f

    def logits(self, X):
        return self.f(X)


def encode_batches(f, X, code, rng, n_batches):
    encoder_cls, _, points = CODES[code]
    rows = np.array([rng.choice(len(X), K, replace=False) for _ in range(n_batches)])
    encoder = encoder_cls(N, points=points).fit(X[rows[0]])
    coded = np.stack([encoder.transform(X[r]) for r in rows], axis=1)  # (N, B, d)
    return rows, coded


def decode(code, Y, returned, A, bad=None):
    """Decoded rows and flags; ``bad`` given: the oracle told the bad rows."""
    _, decoder_cls, points = CODES[code]
    if code == "berrut_loo" and A and bad is None:
        # Berrut results, spline locator: flag, then decode linearly without them.
        survivors = np.flatnonzero(returned)
        flags = np.zeros(N, dtype=bool)
        beta = BerrutDecoder(K, points=points).fit(Y).coded_points_
        flags[survivors[locate_loo(beta[survivors], Y[survivors], A)]] = True
        decoder = decoder_cls(K, points=points).fit(Y)
        return decoder.transform(Y, returned & ~flags), flags
    if bad is not None:
        decoder = decoder_cls(K, points=points).fit(Y)
        return decoder.transform(Y, returned & ~bad), bad
    decoder = decoder_cls(K, points=points, n_adversaries=A).fit(Y)
    out = decoder.transform(Y, returned)
    return out, getattr(decoder, "flagged_", np.zeros(N, dtype=bool))  # none set when A = 0


def interval(values):
    values = np.asarray(values, dtype=float)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return [float(values.mean() - half), float(values.mean() + half)]


def run_cell(f, X, code, adversaries, A, config, rng):
    rows, coded = encode_batches(f, X, code, rng, config["batches"])
    results, returned = run_workers(
        Logits(f), "logits", coded, stragglers=FixedStragglers(S), random_state=rng
    )
    corrupted, bad = (
        adversaries.corrupt(results, returned, rng) if adversaries else (results, returned & False)
    )
    out = {k: [] for k in ("mse", "mse_oracle", "mse_naive", "agree", "agree_naive")}
    out.update(all_flagged=[], tp=0, fp=0, fn=0)
    for b in range(coded.shape[1]):
        true = f(X[rows[b]])
        Y, ret = corrupted[:, b], returned[:, b]
        decoded, flags = decode(code, Y, ret, A)
        oracle = decode(code, Y, ret, A, bad=bad[:, b])[0]
        naive = decode(code, Y, ret, 0)[0]
        out["mse"].append(((decoded - true) ** 2).mean())
        out["mse_oracle"].append(((oracle - true) ** 2).mean())
        out["mse_naive"].append(((naive - true) ** 2).mean())
        out["agree"].append((decoded.argmax(1) == true.argmax(1)).mean())
        out["agree_naive"].append((naive.argmax(1) == true.argmax(1)).mean())
        out["all_flagged"].append(bool((flags | ~bad[:, b]).all()))
        out["tp"] += int((flags & bad[:, b]).sum())
        out["fp"] += int((flags & ~bad[:, b]).sum())
        out["fn"] += int((~flags & bad[:, b]).sum())
    mse, oracle = np.mean(out["mse"]), np.mean(out["mse_oracle"])
    n_flags, n_bad = out["tp"] + out["fp"], out["tp"] + out["fn"]
    return {
        "code": code,
        "adversary": type(adversaries).__name__ if adversaries else "none",
        "scale": getattr(adversaries, "scale", None),
        "A": A,
        "mse": float(mse),
        "mse_ci": interval(out["mse"]),
        "mse_oracle": float(oracle),
        "mse_naive": float(np.mean(out["mse_naive"])),
        "ratio_to_oracle": float(mse / oracle) if oracle > 0 else None,
        "all_flagged": float(np.mean(out["all_flagged"])),
        "precision": out["tp"] / n_flags if n_flags else None,
        "recall": out["tp"] / n_bad if n_bad else None,
        "agree": float(np.mean(out["agree"])),
        "agree_ci": interval(out["agree"]),
        "agree_naive": float(np.mean(out["agree_naive"])),
    }


def threshold_study(f, X, config, rng):
    """Largest clean candidate score of the spline locator on held-out rows (no liars)."""
    _, coded = encode_batches(f, X, "spline", rng, config["held_out"])
    results, returned = run_workers(
        Logits(f), "logits", coded, stragglers=FixedStragglers(S), random_state=rng
    )
    beta = SplineDecoder(K, points="uniform").fit(results[:, 0]).coded_points_
    scores = []
    for b in range(coded.shape[1]):
        F = np.flatnonzero(returned[:, b])
        candidates = locate_loo(beta[F], results[F, b], 3, threshold=0.0)
        scores.append(candidate_scores(beta[F], results[F, b], candidates).max())
    scores = np.array(scores)
    return {
        "batches": len(scores),
        "clean_score_quantiles": {
            q: float(np.quantile(scores, float(q))) for q in ("0.5", "0.99", "0.999", "1.0")
        },
        "LOO_THRESHOLD": LOO_THRESHOLD,
        "false_flag_rate_at_threshold": float((scores > LOO_THRESHOLD).mean()),
    }


def real_path(f, X, config, rng):
    """Thread pool: 4 threads, S = 4 stragglers, 3 gross liars, spline decoder A = 3."""
    rows, coded = encode_batches(f, X, "spline", rng, config["real_batches"])
    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results, returned = run_workers(
            Logits(f),
            "logits",
            coded,
            executor=pool,
            stragglers=S,
            adversaries=GrossErrors(3),
            random_state=rng,
        )
    agree = []
    for b in range(coded.shape[1]):
        decoded = decode("spline", results[:, b], returned[:, b], 3)[0]
        agree.append((decoded.argmax(1) == f(X[rows[b]]).argmax(1)).mean())
    return {
        "executor": "ThreadPoolExecutor(4)",
        "batches": coded.shape[1],
        "agree": float(np.mean(agree)),
        "seconds": time.perf_counter() - t0,
    }


def estimator_cells(X_train, y_train, X_test, config, seed):
    """CodedClassifier end to end, in process and on a thread pool, 3 gross liars."""
    from sklearn.neural_network import MLPClassifier

    from sklearn_coded.estimators import CodedClassifier

    out = []
    for executor in (None, "threads"):
        for A in (0, 3):
            pool = ThreadPoolExecutor(4) if executor else None
            clf = CodedClassifier(
                MLPClassifier((64,), max_iter=config["mlp_iter"], random_state=seed),
                batch_size=K,
                n_coded=N,
                stragglers=S,
                n_adversaries=A,
                adversaries=GrossErrors(3, scale=10.0),
                executor=pool,
                random_state=seed,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X_train, y_train)
            t0 = time.perf_counter()
            agree = float((clf.predict(X_test) == clf.estimator_.predict(X_test)).mean())
            seconds = time.perf_counter() - t0
            if pool is not None:
                pool.shutdown()
            out.append(
                {
                    "executor": executor or "in process",
                    "n_adversaries": A,
                    "agree": agree,
                    "predict_s": seconds,
                    "n_rows": len(X_test),
                }
            )
            print("estimator:", out[-1], flush=True)
    return out


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for code in CODES:
        g = [r for r in rows if r["code"] == code and r["adversary"] == "GrossErrors"]
        gA = sorted((r for r in g if r["scale"] == 10.0), key=lambda r: r["A"])
        axes[0].semilogy([r["A"] for r in gA], [r["mse"] for r in gA], "o-", label=code)
        axes[0].semilogy(
            [r["A"] for r in gA], [r["mse_naive"] for r in gA], "x:", label=f"{code} naive"
        )
        gs = sorted((r for r in g if r["A"] == 3), key=lambda r: r["scale"])
        axes[1].semilogx([r["scale"] for r in gs], [r["agree"] for r in gs], "o-", label=code)
        axes[2].semilogx(
            [r["scale"] for r in gs], [r["recall"] or 0 for r in gs], "o-", label=f"{code} recall"
        )
    axes[0].set(xlabel="A (gross errors, 10 spreads)", ylabel="MSE of decoded logits")
    axes[1].set(xlabel="error size (spreads), A = 3", ylabel="argmax agreement")
    axes[2].set(xlabel="error size (spreads), A = 3", ylabel="detection recall")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Byzantine workers, digits MLP, K={K}, N={N}, S={S}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    config = dict(QUICK if args.quick else FULL)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    f, X_test, _, X_train, y_train, info = mlp_model(config, args.seed)
    rng = np.random.RandomState(args.seed + 1)

    threshold = threshold_study(f, X_train, config, rng)  # held-out rows: the training split
    print("threshold study:", threshold, flush=True)

    cells = [(GrossErrors(A, scale=10.0), A) for A in (1, 2, 3, 4, 6)]
    cells += [(GrossErrors(3, scale=s), 3) for s in (0.3, 1.0, 3.0, 30.0)]
    cells += [
        (SignFlips(3), 3),
        (TargetedShift(3, scale=1.0), 3),
        (AdaptiveAdversaries(3, scale=1.0), 3),
        (AdaptiveAdversaries(3, scale=10.0), 3),
        (None, 3),
    ]
    rows = []
    for adversaries, A in cells:
        for code in CODES:
            row = run_cell(f, X_test, code, adversaries, A, config, rng)
            rows.append(row)
            print(
                f"{code:10s} {row['adversary']:20s} scale={row['scale']!s:5s} A={A} "
                f"mse={row['mse']:.3g} ratio={row['ratio_to_oracle'] or 0:.3g} "
                f"naive={row['mse_naive']:.3g} all_flagged={row['all_flagged']:.3f} "
                f"prec={row['precision']} rec={row['recall']} agree={row['agree']:.4f} "
                f"naive_agree={row['agree_naive']:.4f}",
                flush=True,
            )
    real = real_path(f, X_test, config, rng)
    print("real path:", real, flush=True)
    estimator = estimator_cells(X_train, y_train, X_test, config, args.seed)

    target = next(
        r
        for r in rows
        if r["code"] == "spline"
        and r["adversary"] == "GrossErrors"
        and r["A"] == 3
        and r["scale"] == 10.0
    )
    targets = {
        "mse_within_2x_of_oracle": target["ratio_to_oracle"] <= 2.0,
        "bad_rows_flagged_in_95pct": target["all_flagged"] >= 0.95,
        "agreement_0.99": target["agree"] >= 0.99,
        "cell": target,
    }
    print("targets:", {k: v for k, v in targets.items() if k != "cell"})
    suffix = "_quick" if args.quick else ""
    payload = {
        "config": {"K": K, "N": N, "S": S, **config, "seed": args.seed},
        "model": info,
        "threshold_study": threshold,
        "rows": rows,
        "real_path": real,
        "estimator": estimator,
        "targets": targets,
        "platform": platform.platform(),
        "seconds": time.perf_counter() - t_start,
    }
    (args.out_dir / f"adversarial{suffix}.json").write_text(json.dumps(payload, indent=1))
    plot(rows, args.out_dir / f"adversarial{suffix}.png")


if __name__ == "__main__":
    main()
