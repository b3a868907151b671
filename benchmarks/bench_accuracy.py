"""Accuracy of coded prediction: a fair race of LeTCC (spline), BACC (Berrut) and LCC.

Four functions f, each on rows that were not used to fit it:

- ``mlp``: an sklearn ``MLPClassifier`` (64 ReLU units) on ``load_digits``: logits;
- ``cnn``: a LeNet-5-style CNN (skorch, a few CPU epochs) on Fashion-MNIST: logits;
- ``smooth``: a closed-form smooth f, ``tanh(x W1) W2`` on digits rows;
- ``relu``: a closed-form less smooth f, a random ReLU network on digits rows.

The fair race (``fair_race``). The test rows of each function are split in two
halves: *tune* batches come from the first, *score* batches from the second. For
every K in {8, 16, 32}, N on a log grid from K + 1 to 8K (an N that would make a
layout fully systematic moves down) and S in {0, 10% of N} apart, every scheme is
run on identical batches and straggler draws:

- Berrut on each of {uniform, chebyshev, chebyshev2, bacc, interior}, Lagrange on
  {chebyshev, chebyshev2}: the placement of least *tune* MSE per cell is that
  baseline "at its best", and its *score* MSE is reported;
- the spline code over (order in {2, 3}) x (points in {uniform, chebyshev,
  chebyshev2, interior}) x (lam_dec in {0, 1e-7}), plus GCV on interior points:
  its *defaults* are the one setting of least geometric-mean tune MSE relative to
  the best Berrut over the tune cells with N >= 4K, all functions and both S; "at its best" is the per-cell
  choice on tune batches. Both are scored on the score batches.

Reported: per cell the score MSE of each, the ratio spline / best Berrut (the
target: <= 0.1 at N >= 4K for S = 0 and S = 10% of N, every function), argmax
agreement, and per order the slope of log MSE against log N. ``shared_points``
counts data points that are also coded points per layout (uniform shares the two
ends, for every scheme alike; no layout in the race is fully systematic).

Studies: the one-off scan behind the ``"interior"`` layout (training rows only),
systematic vs interior layouts, the decoding space (logits, log-probabilities,
probabilities), noisy workers (GCV), and one cell through ``CodedClassifier``.

Run ``python benchmarks/bench_accuracy.py`` (about 15 minutes on 2 shared cores)
or ``--quick`` (seconds). Writes ``benchmarks/results/accuracy.json``,
``accuracy.csv`` (score MSE of every candidate) and ``accuracy_*.png``.
"""

import argparse
import csv
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.special import log_softmax, softmax
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from sklearn_coded.operators import coding_operator, coding_points, make_points

RESULTS = Path(__file__).resolve().parent / "results"

FULL = {
    "K": [8, 16, 32],
    "n_grid": 5,
    "batches": 16,
    "tune_batches": 12,
    "cnn_train": 10000,
    "cnn_test": 3000,
    "cnn_epochs": 3,
    "study_K": 16,
    "mlp_iter": 500,
}
QUICK = {
    "K": [8],
    "n_grid": 4,
    "batches": 3,
    "tune_batches": 3,
    "cnn_train": 1000,
    "cnn_test": 300,
    "cnn_epochs": 1,
    "study_K": 8,
    "mlp_iter": 60,
}
S_LABELS = ("0", "1", "10%", "20%")
NOISE_LEVEL = 0.1  # noisy workers: sigma = NOISE_LEVEL * std of the model's logits


# --------------------------------------------------------------------- models
def mlp_model(config, seed):
    """MLPClassifier on digits; logits from its public weights (checked against proba)."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float64)
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(X))
    train, test = order[:1200], order[1200:]
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # --quick stops early on purpose
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((64,), max_iter=config["mlp_iter"], random_state=seed)
        mlp.fit(X[train], y[train])
    train_s = time.perf_counter() - t0

    def logits(Z):
        a = Z
        for i, (W, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
            a = a @ W + b
            if i < len(mlp.coefs_) - 1:
                a = np.maximum(a, 0.0)  # relu, the MLPClassifier default
        return a

    check = np.abs(softmax(logits(X[test]), axis=1) - mlp.predict_proba(X[test])).max()
    assert check < 1e-10, check
    info = {"train_s": train_s, "n_train": len(train), "activation": "relu", "hidden": [64]}
    return logits, X[test], y[test], X[train], y[train], info


def lenet5():
    import torch
    from torch import nn

    class LeNet5(nn.Module):
        """LeNet-5 style: 2 conv (5x5) + max-pool, 3 dense layers, ReLU; returns logits."""

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 5),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(16 * 5 * 5, 120),
                nn.ReLU(),
                nn.Linear(120, 84),
                nn.ReLU(),
                nn.Linear(84, 10),
            )

        def forward(self, X):
            return self.head(self.features(X.reshape(-1, 1, 28, 28)))

    return LeNet5, torch


def cnn_net(config, seed):
    LeNet5, torch = lenet5()
    from skorch import NeuralNetClassifier

    return NeuralNetClassifier(
        LeNet5,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=2e-3,
        max_epochs=config["cnn_epochs"],
        batch_size=128,
        train_split=None,
        verbose=0,
        iterator_train__shuffle=True,
    )


def cnn_model(config, seed):
    from sklearn_coded.datasets import load_fashion_mnist

    _, torch = lenet5()
    torch.set_num_threads(1)  # threads spin on a shared machine (architecture.md)
    X_train, y_train = load_fashion_mnist("train", n_samples=config["cnn_train"])
    X_test, y_test = load_fashion_mnist("test", n_samples=config["cnn_test"])
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    net = cnn_net(config, seed).fit(X_train, y_train)
    train_s = time.perf_counter() - t0
    module = net.module_.eval()

    def logits(Z):
        out = []
        with torch.no_grad():
            for start in range(0, len(Z), 8192):
                chunk = torch.as_tensor(np.ascontiguousarray(Z[start : start + 8192]))
                out.append(module(chunk.float()).double().numpy())
        return np.concatenate(out)

    info = {
        "train_s": train_s,
        "n_train": len(X_train),
        "epochs": config["cnn_epochs"],
        "architecture": "LeNet-5 style, ReLU, max-pool",
    }
    return logits, X_test.astype(np.float64), y_test, X_train, y_train, info


# ---------------------------------------------------------------------- sweep
def n_grid(K, n):
    """Log grid from K + 1 to 8K; an N that makes the code systematic moves down by 1-2."""
    grid = []
    for v in np.round(np.geomspace(K + 1, 8 * K, n)).astype(int):
        v = int(v)
        while systematic(K, v) and v > K + 1:
            v -= 1
        grid.append(v)
    return sorted(set(grid))


def straggler_count(label, N):
    return {"0": 0, "1": 1, "10%": round(0.1 * N), "20%": round(0.2 * N)}[label]


def encode(f, Xb, scheme, points, N, lam_enc=0.0, order=2):
    """Worker results f(E x) for every batch: (B, N, C); Xb is (B, K, d)."""
    B, K, d = Xb.shape
    alpha, beta = coding_points(points, K, N)
    E = coding_operator(scheme, alpha, beta, lam_enc, order=order)[0]
    coded = np.einsum("nk,bkd->bnd", E, Xb)  # X_coded = E X (docs/method.rst 3)
    return f(coded.reshape(B * N, d)).reshape(B, N, -1), alpha, beta


def decode(Y, survivors, scheme, alpha, beta, lam_dec=0.0, order=2):
    """Decoded outputs (B, K, C): Y_hat = D_F Y[F] per batch, D_F shared by equal F."""
    B = Y.shape[0]
    out = np.empty((B, alpha.size, Y.shape[2]))
    if lam_dec == "gcv":
        for b in range(B):
            F = survivors[b]
            D = coding_operator(scheme, beta[F], alpha, "gcv", values=Y[b, F], order=order)[0]
            out[b] = D @ Y[b, F]
        return out
    keys = {}
    for b in range(B):
        keys.setdefault(survivors[b].tobytes(), []).append(b)
    for members in keys.values():
        F = survivors[members[0]]
        D = coding_operator(scheme, beta[F], alpha, lam_dec, order=order)[0]
        out[members] = np.einsum("kf,bfc->bkc", D, Y[members][:, F])
    return out


def metrics(decoded, true, labels):
    """Per-batch MSE, argmax agreement, decoded and base accuracy (B each)."""
    mse = ((decoded - true) ** 2).mean(axis=(1, 2))
    pred, base = decoded.argmax(axis=2), true.argmax(axis=2)
    return {
        "mse": mse,
        "agree": (pred == base).mean(axis=1),
        "acc": (pred == labels).mean(axis=1),
        "base_acc": (base == labels).mean(axis=1),
    }


def summarize(m):
    base = m["base_acc"].mean()
    rmse = np.sqrt(m["mse"])
    return {
        "mse_mean": float(m["mse"].mean()),
        "mse_std": float(m["mse"].std()),
        "rmse_mean": float(rmse.mean()),
        "rmse_std": float(rmse.std()),
        "agree_mean": float(m["agree"].mean()),
        "agree_std": float(m["agree"].std()),
        # RelAcc: decoded accuracy / model accuracy on the same rows; the std is over
        # batches of (batch decoded accuracy / overall base accuracy).
        "relacc": float(m["acc"].mean() / base),
        "relacc_std": float((m["acc"] / base).std()),
        "base_acc": float(base),
    }


def draw_survivors(rng, B, N, S):
    return [np.sort(rng.choice(N, N - S, replace=False)) for _ in range(B)]


SYSTEMATIC_FAMILIES = ("uniform", "chebyshev", "chebyshev2", "bacc", "interior")


def systematic(K, N, families=SYSTEMATIC_FAMILIES):
    """Whether every data point is also a coded point for one of the families.

    Then the code is systematic: every interpolating scheme returns f(x_k) from
    the worker at alpha_k exactly, and the cell says nothing about decoding.
    """
    for family in families:
        alpha, beta = coding_points(family, K, N)
        if np.all(np.isclose(alpha[:, None], beta[None, :], rtol=0, atol=1e-12).any(axis=1)):
            return True
    return False


# ------------------------------------------------------------------ fair race
#: Spline candidates (order, points, lam_dec); the encoder interpolates (lam_enc = 0).
SPLINE_POINTS = ("uniform", "chebyshev", "chebyshev2", "interior")
SPLINE_CANDIDATES = [
    (order, points, lam) for order in (2, 3) for points in SPLINE_POINTS for lam in (0.0, 1e-7)
] + [(2, "interior", "gcv")]
#: Every placement each baseline is raced on; the best one per cell is picked on tune batches.
BASELINE_POINTS = {
    "berrut": ("uniform", "chebyshev", "chebyshev2", "bacc", "interior"),
    "lagrange": ("chebyshev", "chebyshev2"),
}
RACE_S = ("0", "10%")


def closed_form_models(config, seed):
    """Two closed-form f on digits rows: a smooth tanh network and a ReLU network."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float64)
    order = np.random.RandomState(seed).permutation(len(X))
    train, test = order[:1200], order[1200:]
    rng = np.random.default_rng(seed + 1)
    W1, W2 = rng.standard_normal((64, 32)) / 4, rng.standard_normal((32, 10))
    V1, b1 = rng.standard_normal((64, 64)) / 4, 0.5 * rng.standard_normal(64)
    V2 = rng.standard_normal((64, 10)) / 4

    def smooth(Z):
        return np.tanh(Z @ W1) @ W2

    def relu(Z):
        return np.maximum(Z @ V1 + b1, 0.0) @ V2

    out = {}
    for name, f, text in (
        ("smooth", smooth, "tanh(x W1) W2, W random (64-32-10)"),
        ("relu", relu, "max(x V1 + b, 0) V2, V random (64-64-10)"),
    ):
        info = {"f": text, "train_s": 0.0, "n_train": 0}
        out[name] = (f, X[test], y[test], X[train], y[train], info)
    return out


def shared_points(points, K, N):
    """How many data points are also coded points (exactly) in a layout."""
    alpha, beta = coding_points(points, K, N)
    return int(np.isclose(alpha[:, None], beta[None, :], rtol=0, atol=1e-12).any(axis=1).sum())


def race_cell(f, X_tune, X_score, K, N, config, rng):
    """Mean MSE of every candidate of every scheme, on tune and on score batches.

    Tune and score batches come from disjoint rows; within a split every scheme
    sees identical batches and identical straggler draws.
    """
    out, agree = {}, {}
    encodings = [("spline", p, o) for o in (2, 3) for p in SPLINE_POINTS]
    encodings += [(sch, p, 2) for sch, pts in BASELINE_POINTS.items() for p in pts]
    for split, Xs, B in (
        ("tune", X_tune, config["tune_batches"]),
        ("score", X_score, config["batches"]),
    ):
        rows = np.array([rng.choice(len(Xs), K, replace=False) for _ in range(B)])
        Xb = Xs[rows]
        true = f(Xb.reshape(-1, Xs.shape[1])).reshape(B, K, -1)
        draws = {s: draw_survivors(rng, B, N, straggler_count(s, N)) for s in RACE_S}
        for scheme, points, order in encodings:
            Y, alpha, beta = encode(f, Xb, scheme, points, N, 0.0, order)
            lams = [0.0]
            if scheme == "spline":
                lams = [lam for o, p, lam in SPLINE_CANDIDATES if (o, p) == (order, points)]
            for s in RACE_S:
                if scheme == "lagrange" and N - straggler_count(s, N) < K:
                    continue  # fewer than K survivors: Lagrange cannot decode
                for lam in lams:
                    dec = decode(Y, draws[s], scheme, alpha, beta, lam, order)
                    key = (split, s, scheme, points, order, str(lam))
                    out[key] = float(np.mean((dec - true) ** 2))
                    agree[key] = float(np.mean(dec.argmax(axis=2) == true.argmax(axis=2)))
    return out, agree


def fair_race(models, config, rng):
    """Every scheme at its best, the spline code also at defaults chosen on tune batches."""
    cells = []
    for name, (f, X, *_) in models.items():
        half = len(X) // 2
        X_tune, X_score = X[:half], X[half:]  # disjoint rows: choose on one, score the other
        for K in config["K"]:
            for N in n_grid(K, config["n_grid"]):
                t0 = time.perf_counter()
                mse, agree = race_cell(f, X_tune, X_score, K, N, config, rng)
                cells.append({"model": name, "K": K, "N": N, "mse": mse, "agree": agree})
                print(f"  race {name} K={K} N={N}: {time.perf_counter() - t0:.1f} s", flush=True)
    # the baselines at their best: per cell and S, the placement of least tune MSE
    for cell in cells:
        for s in RACE_S:
            for scheme, pts in BASELINE_POINTS.items():
                tune = {p: cell["mse"].get(("tune", s, scheme, p, 2, "0.0")) for p in pts}
                tune = {p: v for p, v in tune.items() if v is not None}
                if tune:
                    p = min(tune, key=tune.get)
                    cell[f"{scheme}_best_{s}"] = {
                        "points": p,
                        "tune_mse": tune[p],
                        "score_mse": cell["mse"][("score", s, scheme, p, 2, "0.0")],
                    }
    # spline defaults: least geometric-mean tune MSE relative to the best Berrut, over
    # the tune cells of the target region N >= 4K (the user guide's N >= 3K advice)
    scores = {}
    for cell in cells:
        if cell["N"] < 4 * cell["K"]:
            continue
        for s in RACE_S:
            ref = np.log(cell[f"berrut_best_{s}"]["tune_mse"])
            for order, points, lam in SPLINE_CANDIDATES:
                v = cell["mse"][("tune", s, "spline", points, order, str(lam))]
                scores.setdefault((order, points, str(lam)), []).append(np.log(v) - ref)
    ranking = sorted((float(np.mean(v)), k) for k, v in scores.items())
    default = ranking[0][1]
    for cell in cells:
        for s in RACE_S:
            key = ("score", s, "spline", default[1], default[0], default[2])
            mine = cell["mse"][key]
            tune = {
                c: cell["mse"][("tune", s, "spline", c[1], c[0], str(c[2]))]
                for c in SPLINE_CANDIDATES
            }
            best = min(tune, key=tune.get)
            cell[f"spline_default_{s}"] = {"score_mse": mine, "agree": cell["agree"][key]}
            cell[f"spline_best_{s}"] = {
                "order": best[0],
                "points": best[1],
                "lam": str(best[2]),
                "score_mse": cell["mse"][("score", s, "spline", best[1], best[0], str(best[2]))],
            }
            ref = cell[f"berrut_best_{s}"]["score_mse"]
            cell[f"ratio_default_{s}"] = mine / ref
            cell[f"ratio_best_{s}"] = cell[f"spline_best_{s}"]["score_mse"] / ref
            if f"lagrange_best_{s}" in cell:
                lag = cell[f"lagrange_best_{s}"]["score_mse"]
                cell[f"ratio_default_vs_lagrange_{s}"] = mine / lag
        cell["shared_points"] = {
            p: shared_points(p, cell["K"], cell["N"])
            for p in sorted({*SPLINE_POINTS, *BASELINE_POINTS["berrut"]})
        }
        cell["mse"] = [
            {"split": k[0], "S_label": k[1], "scheme": k[2], "points": k[3], "order": k[4],
             "lam": k[5], "mse": v}
            for k, v in sorted(cell["mse"].items())
        ]  # fmt: skip
        del cell["agree"]
    lam_dec = default[2] if default[2] == "gcv" else float(default[2])
    defaults = {"order": default[0], "points": default[1], "lam_dec": lam_dec, "lam_enc": 0.0}
    ranking = [
        {"order": k[0], "points": k[1], "lam_dec": k[2], "mean_log_ratio_tune_N_ge_4K": v}
        for v, k in ranking
    ]
    return cells, defaults, ranking


def race_targets(cells):
    """Per-cell ratio of the spline defaults to the best Berrut at N >= 4K, S apart."""
    out = {}
    for s in RACE_S:
        for kind in ("default", "best"):
            rs = [c for c in cells if c["N"] >= 4 * c["K"]]
            ratios = [c[f"ratio_{kind}_{s}"] for c in rs]
            by_model = {}
            for c in rs:
                by_model.setdefault(c["model"], []).append(c[f"ratio_{kind}_{s}"])
            out[f"spline_{kind}_over_best_berrut_S{s}"] = {
                "target": "<= 0.1 in every cell (N >= 4K)",
                "median": float(np.median(ratios)),
                "worst": float(np.max(ratios)),
                "pass_fraction": float(np.mean(np.array(ratios) <= 0.1)),
                "worst_by_model": {m: float(np.max(v)) for m, v in by_model.items()},
                "median_by_model": {m: float(np.median(v)) for m, v in by_model.items()},
            }
    return out


def race_slopes(cells, defaults):
    """Slope of log MSE vs log N of the spline code per order (default points, lam = 0)."""
    out = []
    for model in sorted({c["model"] for c in cells}):
        for K in sorted({c["K"] for c in cells}):
            for s in RACE_S:
                for order in (2, 3):
                    pts = []
                    for c in cells:
                        if (c["model"], c["K"]) != (model, K) or c["N"] < 2 * K:
                            continue
                        for r in c["mse"]:
                            if (r["split"], r["S_label"], r["scheme"], r["points"], r["order"],
                                    r["lam"]) == ("score", s, "spline", defaults["points"], order,
                                                  "0.0"):  # fmt: skip
                                pts.append((c["N"], r["mse"]))
                    if len(pts) >= 3:
                        n, e = np.log(np.array(pts)).T
                        out.append({"model": model, "K": K, "S_label": s, "order": order,
                                    "slope": float(np.polyfit(n, e, 1)[0])})  # fmt: skip
    return out


def systematic_study(models, config, rng):
    """When does a systematic layout help? Spline and Berrut, systematic vs interior."""
    K = config["study_K"]
    out = []
    for name in ("mlp", "smooth"):
        if name not in models:
            continue
        f, X = models[name][:2]
        rows = np.array([rng.choice(len(X), K, replace=False) for _ in range(config["batches"])])
        Xb = X[rows]
        true = f(Xb.reshape(-1, X.shape[1])).reshape(len(rows), K, -1)
        for N in (K + 3, 2 * K + 1, 4 * K + 1):
            for s in ("0", "10%", "20%"):
                surv = draw_survivors(rng, len(rows), N, straggler_count(s, N))
                for scheme in ("spline", "berrut"):
                    for points in ("systematic", "interior"):
                        Y, alpha, beta = encode(f, Xb, scheme, points, N)
                        dec = decode(Y, surv, scheme, alpha, beta)
                        out.append({"model": name, "K": K, "N": N, "S_label": s,
                                    "scheme": scheme, "points": points,
                                    "mse": float(np.mean((dec - true) ** 2))})  # fmt: skip
    return out


def clustered_points(K, N, width):
    """Interior data points, each with a cluster of about N / K coded points around it.

    The cluster spans ``width`` times the gap between data points and never contains
    the data point itself. As ``width`` goes to 0 the code becomes replication.
    """
    alpha = make_points("interior", K, role="data")
    gap = alpha[1] - alpha[0]
    counts = np.full(K, N // K) + (np.arange(K) < N % K)
    beta = np.concatenate(
        [
            a + (np.arange(c) - (c - 1) / 2 + 0.31) * width * gap / c
            for a, c in zip(alpha, counts, strict=True)
        ]
    )
    scale = max(1.0, np.abs(beta).max())  # clusters at the ends may leave [-1, 1]
    return alpha / scale, np.sort(beta) / scale


def clustered_study(models, config, rng):
    """Coded points clustered around the data points, against Berrut at its best.

    Berrut's best is the least score MSE over its five placements on the same
    batches (generous to Berrut: chosen on the scored rows).
    """
    K = config["study_K"]
    out = []
    for name in ("mlp", "cnn", "relu", "smooth"):
        if name not in models:
            continue
        f, X = models[name][:2]
        rows = np.array([rng.choice(len(X), K, replace=False) for _ in range(config["batches"])])
        Xb = X[rows]
        true = f(Xb.reshape(-1, X.shape[1])).reshape(len(rows), K, -1)
        for N in (4 * K + 1, 8 * K - 1):
            for s in RACE_S:
                surv = draw_survivors(rng, len(rows), N, straggler_count(s, N))
                berrut = {}
                for p in BASELINE_POINTS["berrut"]:
                    Y, alpha, beta = encode(f, Xb, "berrut", p, N)
                    berrut[p] = float(np.mean((decode(Y, surv, "berrut", alpha, beta) - true) ** 2))
                best = min(berrut.values())
                for width in (0.3, 0.6, 0.9):
                    alpha, beta = clustered_points(K, N, width)
                    row = {"model": name, "K": K, "N": N, "S_label": s, "width": width}
                    for scheme in ("spline", "berrut"):
                        Y, _, _ = encode(f, Xb, scheme, (alpha, beta), N)
                        dec = decode(Y, surv, scheme, alpha, beta)
                        row[f"{scheme}_over_best_berrut"] = float(np.mean((dec - true) ** 2)) / best
                    out.append(row)
    return out


def layout_study(models, config, rng):
    """The one-off scan behind ``INTERIOR_HALF_WIDTH``, on training rows only."""
    out = []
    for name in ("mlp", "smooth"):
        if name not in models:
            continue
        f, X = models[name][0], models[name][3]  # training rows: never scored
        for K in config["K"]:
            for N in (2 * K + 3, 4 * K + 1, 6 * K + 5, 8 * K + 1):
                rows = np.array([rng.choice(len(X), K, replace=False) for _ in range(48)])
                Xb = X[rows]
                true = f(Xb.reshape(-1, X.shape[1])).reshape(len(rows), K, -1)
                for s in ("0", "10%"):
                    surv = draw_survivors(rng, len(rows), N, straggler_count(s, N))
                    for c in (0.85, 0.9, 0.93, 0.95, 0.96, 0.97, 0.99):
                        alpha = c * make_points("uniform", K)
                        beta = make_points("uniform", N)
                        Y, _, _ = encode(f, Xb, "spline", (alpha, beta), N)
                        dec = decode(Y, surv, "spline", alpha, beta)
                        out.append({"model": name, "K": K, "N": N, "S_label": s, "c": c,
                                    "mse": float(np.mean((dec - true) ** 2))})  # fmt: skip

    # a c that puts a data point exactly on a coded point decodes it for free: such
    # (K, N) cells are left out of the summary for every c, so all c see the same cells
    def shared(r):
        alpha, beta = r["c"] * make_points("uniform", r["K"]), make_points("uniform", r["N"])
        return bool(np.isclose(alpha[:, None], beta[None, :], rtol=0, atol=1e-12).any())

    excluded = {(r["K"], r["N"]) for r in out if shared(r)}
    summary = {}
    for r in out:
        r["excluded"] = (r["K"], r["N"]) in excluded
        if not r["excluded"]:
            summary.setdefault(r["c"], []).append(np.log(r["mse"]))
    return out, {str(c): float(np.mean(v)) for c, v in sorted(summary.items())}


# ---------------------------------------------------------------------- report
def print_race(cells):
    print(f"\n{'model':6} {'K':>3} {'N':>4} {'S':>4} | {'best Berrut':>22} | {'best Lagrange':>22} | "
          f"{'spline default':>14} | {'ratio':>6} | {'spline best':>28}")  # fmt: skip
    for c in cells:
        for s in RACE_S:
            b = c[f"berrut_best_{s}"]
            lag = c.get(f"lagrange_best_{s}")
            lag_text = f"{lag['score_mse']:9.2e} {lag['points']:>12}" if lag else "n/a (N-S<K)"
            best = c[f"spline_best_{s}"]
            print(
                f"{c['model']:6} {c['K']:3d} {c['N']:4d} {s:>4} | {b['score_mse']:9.2e} "
                f"{b['points']:>12} | {lag_text:>22} | {c[f'spline_default_{s}']['score_mse']:14.2e}"
                f" | {c[f'ratio_default_{s}']:6.3f} | {best['score_mse']:9.2e} m={best['order']} "
                f"{best['points']:>10} {best['lam']:>6}"
            )


def plot_race(cells, defaults, slope_rows, out_dir, K_plot):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(c["model"] for c in cells))
    fig, axes = plt.subplots(len(models), 2, figsize=(10, 3.2 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        rs = [c for c in cells if c["model"] == model and c["K"] == K_plot]
        N = [c["N"] for c in rs]
        for j, s in enumerate(RACE_S):
            ax = axes[i, j]
            series = {
                "Berrut at its best": [c[f"berrut_best_{s}"]["score_mse"] for c in rs],
                "Lagrange at its best": [
                    c[f"lagrange_best_{s}"]["score_mse"] if f"lagrange_best_{s}" in c else np.nan
                    for c in rs
                ],
                "spline, defaults": [c[f"spline_default_{s}"]["score_mse"] for c in rs],
                "spline at its best": [c[f"spline_best_{s}"]["score_mse"] for c in rs],
            }
            for label, v in series.items():
                ax.plot(N, v, "o-", ms=3, label=label)
            ax.set(xscale="log", yscale="log", xlabel="N", ylabel="MSE (held-out batches)",
                   title=f"{model}, K={K_plot}, S={s} of N")  # fmt: skip
            ax.grid(True, which="both", alpha=0.3)
        axes[i, 0].legend(fontsize=7)
    fig.suptitle(f"Each scheme at its best (chosen on tune batches); spline defaults {defaults}")
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_mse.png", dpi=90)
    plt.close(fig)

    Ks = sorted({c["K"] for c in cells})
    fig, axes = plt.subplots(len(models), 2, figsize=(10, 2.6 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        for j, s in enumerate(RACE_S):
            ax = axes[i, j]
            rs = [c for c in cells if c["model"] == model]
            n_cols = max(len([c for c in rs if c["K"] == K]) for K in Ks)
            grid = np.full((len(Ks), n_cols), np.nan)
            text = np.full((len(Ks), n_cols), "", dtype=object)
            for a, K in enumerate(Ks):  # columns: the position on each K's N grid
                for b, c in enumerate(sorted((c for c in rs if c["K"] == K), key=lambda c: c["N"])):
                    grid[a, b] = np.log10(c[f"ratio_default_{s}"])
                    text[a, b] = f"{c[f'ratio_default_{s}']:.2f}\nN/K={c['N'] / K:.1f}"
            ax.imshow(grid, cmap="RdYlGn_r", vmin=-2, vmax=0, aspect="auto")
            for a in range(len(Ks)):
                for b in range(n_cols):
                    ax.text(b, a, text[a, b], ha="center", va="center", fontsize=6)
            ax.set_xticks([])
            ax.set_yticks(range(len(Ks)), [str(K) for K in Ks])
            ax.set(
                xlabel="N, from K + 1 to 8K",
                ylabel="K",
                title=f"{model}, S={s}: spline / best Berrut",
            )
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_ratio.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.6))
    labels = [f"{r['model']} K={r['K']} S={r['S_label']}" for r in slope_rows if r["order"] == 2]
    for order, marker in ((2, "o"), (3, "s")):
        v = [r["slope"] for r in slope_rows if r["order"] == order]
        ax.plot(range(len(v)), v, marker, label=f"order m={order}")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    ax.set(ylabel="slope of log MSE vs log N", title="Spline code, default points, lam=0")
    ax.axhline(-3, color="gray", lw=0.8, ls="--")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_slopes.png", dpi=90)
    plt.close(fig)


def plot_noisy(noisy, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in noisy})
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), squeeze=False)
    for i, model in enumerate(models):
        ax = axes[0, i]
        for label in sorted({(r["scheme"], r["lam_dec"]) for r in noisy if r["model"] == model}):
            rs = [
                r
                for r in noisy
                if r["model"] == model
                and (r["scheme"], r["lam_dec"]) == label
                and r["S_label"] == "0"
            ]
            ax.plot(
                [r["N"] for r in rs],
                [r["mse_mean"] for r in rs],
                "o-",
                label=f"{label[0]} lam={label[1]}",
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="N",
            ylabel="MSE of decoded logits",
            title=f"{model}: noisy workers, S=0",
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_noisy.png", dpi=90)
    plt.close(fig)


# -------------------------------------------------------------------- studies
def space_study(model, f, X, y, config, defaults, rng):
    """Decode logits, log-probabilities or probabilities from the same worker results."""
    K = config["study_K"]
    batch_rows = np.array([rng.choice(len(X), K, replace=False) for _ in range(config["batches"])])
    Xb, labels = X[batch_rows], y[batch_rows]
    true = f(Xb.reshape(-1, X.shape[1])).reshape(len(Xb), K, -1)
    true_p = softmax(true, axis=2)
    out = []
    for N in (K + K // 2, 2 * K, 4 * K):
        Y, alpha, beta = encode(
            f, Xb, "spline", defaults["points"], N, defaults["lam_enc"], defaults["order"]
        )
        for s in ("0", "10%", "20%"):
            surv = draw_survivors(rng, len(Xb), N, straggler_count(s, N))
            for space in ("logits", "log_proba", "proba"):
                W = {"logits": Y, "log_proba": log_softmax(Y, axis=2), "proba": softmax(Y, axis=2)}[
                    space
                ]
                dec = decode(W, surv, "spline", alpha, beta, defaults["lam_dec"], defaults["order"])
                if space == "proba":
                    p = np.clip(dec, 0, None)
                    p = p / np.maximum(p.sum(axis=2, keepdims=True), 1e-300)
                else:
                    p = softmax(dec, axis=2)
                m = metrics(p, true_p, labels)  # argmax of p = argmax of decoded scores
                row = {"model": model, "K": K, "N": N, "S_label": s, "space": space}
                row.update(summarize(m))
                row["proba_rmse"] = float(np.sqrt(((p - true_p) ** 2).mean()))
                row.pop("mse_mean"), row.pop("mse_std"), row.pop("rmse_mean"), row.pop("rmse_std")
                out.append(row)
    return out


def noisy_study(model, f, X, y, config, defaults, rng):
    """Workers add N(0, sigma^2) to their results; decoder lam in {0, fixed, GCV}."""
    K = config["study_K"]
    batch_rows = np.array([rng.choice(len(X), K, replace=False) for _ in range(config["batches"])])
    Xb, labels = X[batch_rows], y[batch_rows]
    true = f(Xb.reshape(-1, X.shape[1])).reshape(len(Xb), K, -1)
    sigma = NOISE_LEVEL * float(true.std())
    out = []
    for N in n_grid(K, config["n_grid"]):
        Y, alpha, beta = encode(
            f, Xb, "spline", defaults["points"], N, defaults["lam_enc"], defaults["order"]
        )
        Yb, alpha_b, beta_b = encode(f, Xb, "berrut", defaults["points"], N)
        noise = sigma * rng.standard_normal(Y.shape)
        for s in ("0", "10%"):
            surv = draw_survivors(rng, len(Xb), N, straggler_count(s, N))
            cases = [("letcc", lam) for lam in (0.0, 1e-8, 1e-6, "gcv")] + [("bacc_same", 0.0)]
            for label, lam in cases:
                if label == "letcc":
                    dec = decode(Y + noise, surv, "spline", alpha, beta, lam, defaults["order"])
                else:
                    dec = decode(Yb + noise, surv, "berrut", alpha_b, beta_b, 0.0)
                row = {"model": model, "K": K, "N": N, "S_label": s, "scheme": label}
                row.update(lam_dec=str(lam), sigma=sigma, **summarize(metrics(dec, true, labels)))
                out.append(row)
    return out


def validate_estimator(models, defaults, config, seed):
    """One cell end to end: CodedClassifier against the sweep's own decoding."""
    from sklearn_coded.estimators import CodedClassifier

    f, X_test, _, X_train, y_train, _ = models["mlp"]
    K, N = 16, 64
    n = (min(len(X_test), 4 * K) // K) * K + 5  # includes a short last batch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CodedClassifier(
            MLPClassifier((64,), max_iter=config["mlp_iter"], random_state=seed),
            batch_size=K,
            n_coded=N,
            smoothing=(defaults["lam_enc"], defaults["lam_dec"]),
            order=defaults["order"],
            points=defaults["points"],
        ).fit(X_train, y_train)
    estimator = clf.predict_log_proba(X_test[:n])
    # The same by hand: MLPClassifier has no decision_function, so the estimator
    # decodes log-probabilities; consecutive batches, the last one shorter.
    logp = log_softmax(f(X_test[:n]), axis=1)
    by_hand = np.empty_like(logp)
    for start in range(0, n, K):
        rows = np.arange(start, min(start + K, n))
        Xb = X_test[rows][None]
        Y, alpha, beta = encode(
            lambda Z: log_softmax(f(Z), axis=1),
            Xb,
            "spline",
            defaults["points"],
            N,
            defaults["lam_enc"],
            defaults["order"],
        )
        dec = decode(
            Y, [np.arange(N)], "spline", alpha, beta, defaults["lam_dec"], defaults["order"]
        )[0]
        by_hand[rows] = log_softmax(dec, axis=1)
    err = float(np.abs(estimator - by_hand).max())
    return {
        "K": K,
        "N": N,
        "n_rows": n,
        "space": clf.response_,
        "max_abs_diff": err,
        "ok": err < 1e-8,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument(
        "--models", default="mlp,cnn,smooth,relu", help="comma-separated: mlp, cnn, smooth, relu"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    config = dict(QUICK if args.quick else FULL)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(args.seed)
    t_start = time.perf_counter()

    models = {}
    names = args.models.split(",")
    closed = closed_form_models(config, args.seed)
    for name in names:
        t0 = time.perf_counter()
        if name in closed:
            models[name] = closed[name]
        else:
            models[name] = (mlp_model if name == "mlp" else cnn_model)(config, args.seed)
        f, X, y = models[name][:3]
        models[name][5]["base_acc_test"] = float((f(X).argmax(axis=1) == y).mean())
        print(f"{name}: ready in {time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    layout_rows, layout_summary = layout_study(models, config, rng)
    print(f"layout study ({time.perf_counter() - t0:.1f} s): mean log MSE by c {layout_summary}")

    t0 = time.perf_counter()
    cells, defaults, ranking = fair_race(models, config, rng)
    print(
        f"fair race: {time.perf_counter() - t0:.1f} s; defaults chosen on tune batches: {defaults}"
    )
    targets = race_targets(cells)
    slope_rows = race_slopes(cells, defaults)
    relacc_cells = [
        {"model": c["model"], "K": c["K"], "N": c["N"], "agree": c["spline_default_10%"]["agree"]}
        for c in cells
        if c["N"] >= 3 * c["K"]
    ]
    targets["agreement_spline_default_at_N_ge_3K_S_10pct"] = {
        "target": ">= 0.99",
        "worst": min(r["agree"] for r in relacc_cells) if relacc_cells else None,
        "cells": relacc_cells,
    }

    t0 = time.perf_counter()
    systematic_rows = systematic_study(models, config, rng)
    spaces, noisy = [], []
    for name in ("mlp", "cnn"):
        if name in models:
            f, X, y = models[name][:3]
            spaces += space_study(name, f, X, y, config, defaults, rng)
            noisy += noisy_study(name, f, X, y, config, defaults, rng)
    clustered_rows = clustered_study(models, config, rng)
    print(f"systematic, decoding-space, noisy, clustered studies: {time.perf_counter() - t0:.1f} s")
    validation = (
        validate_estimator(models, defaults, config, args.seed) if "mlp" in models else None
    )

    print_race(cells)
    print("\nranking of spline settings (mean log ratio to the best Berrut, tune, N >= 4K):")
    for r in ranking[:8]:
        print(f"  {r}")
    print("\nslope of log MSE vs log N, spline code by order:")
    for r in slope_rows:
        print(
            f"  {r['model']:6} K={r['K']:2d} S={r['S_label']:>3} m={r['order']}: {r['slope']:+.2f}"
        )
    print("\nsystematic vs interior layout (MSE):")
    for r in systematic_rows:
        print(f"  {r['model']:6} N={r['N']:3d} S={r['S_label']:>3} {r['scheme']:6} "
              f"{r['points']:10} {r['mse']:.2e}")  # fmt: skip
    print("\nclustered coded points (MSE / best Berrut placement):")
    for r in clustered_rows:
        print(f"  {r['model']:6} N={r['N']:3d} S={r['S_label']:>3} width={r['width']}: spline "
              f"{r['spline_over_best_berrut']:.3f}, Berrut {r['berrut_over_best_berrut']:.3f}")  # fmt: skip
    print("\ntargets:")
    for key, v in targets.items():
        print(f"  {key}: " + ", ".join(f"{k}={v[k]}" for k in v if k not in ("cells",)))
    if validation:
        print(f"  estimator validation: {validation}")

    total = time.perf_counter() - t_start
    out = {
        "benchmark": "bench_accuracy",
        "quick": args.quick,
        "seed": args.seed,
        "config": config,
        "noise_level": NOISE_LEVEL,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "total_s": total,
        "models": {k: v[5] for k, v in models.items()},
        "protocol": (
            "Rows of each test set split in two halves: tune batches from the first, score "
            "batches from the second. Baselines: per cell and S, the placement of least tune "
            "MSE. Spline defaults: the (order, points, lam_dec) of least mean log(MSE / best "
            "Berrut MSE) over the tune cells with N >= 4K; scored on score batches only."
        ),
        "defaults": defaults,
        "defaults_ranking": ranking,
        "race": cells,
        "slopes": slope_rows,
        "targets": targets,
        "layout_study": {"cells": layout_rows, "mean_log_mse_by_c": layout_summary},
        "systematic_study": systematic_rows,
        "clustered_study": clustered_rows,
        "decoding_space": spaces,
        "noisy": noisy,
        "validation": validation,
    }
    suffix = "_quick" if args.quick else ""
    (args.out_dir / f"accuracy{suffix}.json").write_text(json.dumps(out, indent=1))
    flat = [
        {"model": c["model"], "K": c["K"], "N": c["N"], **r}
        for c in cells
        for r in c["mse"]
        if r["split"] == "score"
    ]
    with open(args.out_dir / f"accuracy{suffix}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
    if not args.quick:
        plot_race(cells, defaults, slope_rows, args.out_dir, config["study_K"])
        plot_noisy(noisy, args.out_dir)
    print(f"\ntotal {total:.1f} s; wrote {args.out_dir}/accuracy{suffix}.json")


if __name__ == "__main__":
    main()
