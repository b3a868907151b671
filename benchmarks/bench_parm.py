"""Learned parity models (ParM) against the codes and replication at the same N = k + 1.

The deployed model f is a skorch net trained on digits (an MLP and a small CNN);
its test rows are cut into groups of k in {2, 4, 8} and every scheme gets N = k + 1
workers per group (N/K = 1.5, 1.25, 1.125), of which exactly one is missing:

- ``parm``: k data workers run f on the rows, one parity worker runs a parity model
  (the deployed model's architecture, trained from scratch, MSE on the summed
  logits, docs/method.rst 11) on the sum of the k rows; a missing data output is
  the parity output minus the others. ``parm_concat`` (k = 2, 4): ParM's image
  encoder (k 8x8 digits downsampled and tiled into one 8x8 image);
- ``spline`` on its default ``"interior"`` points and on ``"systematic"`` points
  (the data points are coded points: k exact workers and one coded one);
- ``berrut`` at its best placement of {uniform, chebyshev, chebyshev2, bacc,
  interior}, picked per model and k on validation rows;
- ``replication``: k workers hold the k rows and the (k+1)-th a copy of one row,
  drawn per group. A row whose only worker is missing is *lost*: it counts as
  wrong (and as disagreeing with f), the outcome a deadline without a fallback gives.

Missing worker: drawn uniformly per group (``random``, the same draw for every
scheme), or chosen per group as the worst for that scheme (``adversarial``: most
rows whose argmax changes, ties broken by the logits' MSE).

Reported per model, k, scheme and missing mode, over >= 5 seeds (each seed a new
split, a new f and new parity models) with 95% t-intervals: accuracy and argmax
agreement with f on all rows of the groups (every group has one missing worker),
and the *degraded-mode* figures of ParM: the same on the rows whose own output
did not arrive (ParM, replication, systematic spline: the missing data worker's
row; the non-systematic codes decode every row, so all rows count). Training cost
(seconds, epochs) of f and of each parity model, side by side in one run.

The parity model's learning rate and epochs are chosen on validation rows of the
first seed (degraded-mode agreement) from a small grid, then fixed.

Run ``python benchmarks/bench_parm.py`` (about 10 minutes on 2 shared cores) or
``--quick`` (a minute). Writes ``benchmarks/results/parm.json`` and ``parm.png``.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

from sklearn_coded.coding import ParityModel
from sklearn_coded.operators import coding_operator, coding_points

RESULTS = Path(__file__).resolve().parent / "results"

FULL = {
    "seeds": 5,
    "ks": [2, 4, 8],
    "models": ["mlp", "cnn"],
    "f_epochs": {"mlp": 60, "cnn": 40},
    # (lr, epochs) of the parity models, per model: the CNN's grid is cut to what a
    # shared 2-core machine runs in the time (its epochs cost 3x the MLP's).
    "parity_grid": {"mlp": [(1e-3, 150), (3e-3, 150)], "cnn": [(3e-3, 60), (3e-3, 120)]},
}
QUICK = {**FULL, "seeds": 2, "ks": [2, 4], "parity_grid": {"mlp": [(3e-3, 20)]}, "models": ["mlp"]}
BERRUT_POINTS = ("uniform", "chebyshev", "chebyshev2", "bacc", "interior")
MODES = ("random", "adversarial")


class MLP(torch.nn.Module):
    """ParM's MNIST MLP (two ReLU layers of 200 and 100) on 64 pixels."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, 200),
            torch.nn.ReLU(),
            torch.nn.Linear(200, 100),
            torch.nn.ReLU(),
            torch.nn.Linear(100, 10),
        )

    def forward(self, X):
        return self.net(X)


class CNN(torch.nn.Module):
    """Two 3x3 convolutions (16, 32 channels) with max pooling, on 8x8 digits."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        )
        self.head = torch.nn.Linear(32 * 2 * 2, 10)

    def forward(self, X):
        return self.head(self.features(X.reshape(-1, 1, 8, 8)).flatten(1))


def fit_f(kind, X, y, config, seed):
    torch.manual_seed(seed)
    net = NeuralNetClassifier(
        MLP if kind == "mlp" else CNN,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=config["f_epochs"][kind],
        batch_size=64,
        train_split=None,
        verbose=0,
    )
    tic = time.perf_counter()
    net.fit(X, y)
    return net, time.perf_counter() - tic


def logits(net, X):
    return net.forward(X, training=False).numpy().astype(np.float64)


# ----------------------------------------------------------------- outcomes
# Every scheme gives ``outcomes``: (N, G, k, C), the group's outputs when worker m
# is missing (NaN rows where a row is lost), and ``own``: (N, k) bool, the rows
# whose own output did not arrive when worker m is missing (degraded-mode rows).


def parm_outcomes(pm, Xg, Y):
    k = Xg.shape[1]
    F = pm.parity_outputs(pm.encode(Xg))  # (G, 1, C)
    out = np.repeat(Y[None], k + 1, axis=0)
    for m in range(k):
        data = Y.copy()
        data[:, m] = np.nan
        out[m] = pm.decode(data, F)[0]  # (11.3): F - sum of the others
    own = np.zeros((k + 1, k), dtype=bool)
    own[np.arange(k), np.arange(k)] = True
    return out, own


def code_outcomes(net, Xg, scheme, points):
    G, k, d = Xg.shape
    N = k + 1
    alpha, beta = coding_points(points, k, N)
    E = coding_operator(scheme, alpha, beta, 0.0)[0]
    coded = np.einsum("nk,gkd->gnd", E, Xg).astype(np.float32)
    R = logits(net, coded.reshape(G * N, d)).reshape(G, N, -1)
    out = np.empty((N, G, k, R.shape[2]))
    for m in range(N):
        F = np.delete(np.arange(N), m)
        D = coding_operator(scheme, beta[F], alpha, 0.0)[0]
        out[m] = np.einsum("kf,gfc->gkc", D, R[:, F])
    shared = np.isclose(alpha[:, None], beta[None, :], atol=1e-12)  # systematic workers
    own = np.ones((N, k), dtype=bool)
    if shared.any(axis=1).all():
        own = shared.T.copy()  # only the row whose exact worker is missing
    return out, own


def replication_outcomes(Y, rng):
    G, k, _ = Y.shape
    copy_of = rng.integers(k, size=G)  # the row the (k+1)-th worker repeats
    out = np.repeat(Y[None], k + 1, axis=0)
    own = np.zeros((k + 1, G, k), dtype=bool)
    for m in range(k):
        lost = copy_of != m
        out[m, lost, m] = np.nan
        own[m, lost, m] = True
    return out, own


def choose_missing(out, Y, mode, rng):
    """The missing worker of each group: random, or the worst for this scheme."""
    N, G = out.shape[:2]
    if mode == "random":
        return rng.integers(N, size=G)
    base = Y.argmax(axis=2)
    pred = np.where(np.isnan(out).any(axis=3), -1, np.nan_to_num(out).argmax(axis=3))
    wrong = (pred != base[None]).sum(axis=2)  # (N, G)
    mse = np.nanmean((np.nan_to_num(out, nan=1e6) - Y[None]) ** 2, axis=(2, 3))
    score = wrong + mse / (1.0 + mse.max())  # ties broken by MSE
    return score.argmax(axis=0)


def score(out, own, Y, labels, missing):
    """Accuracy and agreement on all rows and on the degraded rows, one draw."""
    G = Y.shape[0]
    chosen = out[missing, np.arange(G)]  # (G, k, C)
    rows_own = own[missing] if own.ndim == 2 else own[missing, np.arange(G)]
    lost = np.isnan(chosen).any(axis=2)
    pred = np.where(lost, -1, np.nan_to_num(chosen).argmax(axis=2))
    base = Y.argmax(axis=2)
    res = {
        "acc": (pred == labels).mean(),
        "agree": (pred == base).mean(),
        "lost": lost.mean(),
        "mse": float(np.mean((chosen[~lost] - Y[~lost]) ** 2)) if (~lost).any() else np.nan,
    }
    if rows_own.any():
        res["degraded_acc"] = (pred == labels)[rows_own].mean()
        res["degraded_agree"] = (pred == base)[rows_own].mean()
    return {key: float(v) for key, v in res.items()}


def groups(X, y, k, rng):
    n = len(X) // k * k
    order = rng.permutation(len(X))[:n]
    return X[order].reshape(-1, k, X.shape[1]), y[order].reshape(-1, k)


def fit_parity(net, X_train, k, lr, epochs, seed, encoder="sum"):
    pm = ParityModel(
        net,
        k=k,
        encoder=encoder,
        image_shape=(8, 8) if encoder == "concat" else None,
        max_epochs=epochs,
        lr=lr,
        batch_size=64,
        random_state=seed,
    )
    return pm.fit(X_train)


def tune(net, X_val, y_val, X_train, k, grid, seed):
    """(lr, epochs) of the parity model and Berrut's placement, on validation rows."""
    rng = np.random.default_rng(seed)
    Xg, yg = groups(X_val, y_val, k, rng)
    Y = logits(net, Xg.reshape(-1, Xg.shape[2])).reshape(*Xg.shape[:2], -1)
    missing = rng.integers(k + 1, size=len(Xg))
    trials = {}
    for lr, epochs in grid:
        pm = fit_parity(net, X_train, k, lr, epochs, seed)
        out, own = parm_outcomes(pm, Xg, Y)
        degraded = np.repeat(np.arange(k)[None], len(Xg), axis=0)  # every row reconstructed
        agree = np.mean([score(out, own, Y, yg, degraded[:, i])["agree"] for i in range(k)])
        trials[f"lr={lr:g},epochs={epochs}"] = float(agree)
    best = max(trials, key=trials.get)
    lr, epochs = grid[list(trials).index(best)]
    placements = {}
    for points in BERRUT_POINTS:
        out, own = code_outcomes(net, Xg, "berrut", points)
        s = score(out, own, Y, yg, missing)
        placements[points] = (s["agree"], -s["mse"])
    berrut = max(placements, key=placements.get)
    return {"lr": lr, "epochs": epochs, "parity_trials": trials, "berrut_points": berrut}


def run_seed(kind, seed, config, tuned, data):
    X, y = data
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=seed
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.25, stratify=y_rest, random_state=seed
    )
    net, f_seconds = fit_f(kind, X_train, y_train, config, seed)
    base_acc = float((net.predict(X_test) == y_test).mean())
    rows, costs = [], []
    for k in config["ks"]:
        if (kind, k) not in tuned:
            grid = config["parity_grid"][kind]
            tuned[kind, k] = tune(net, X_val, y_val, X_train, k, grid, seed)
        t = tuned[kind, k]
        rng = np.random.default_rng([seed, k])
        Xg, yg = groups(X_test, y_test, k, rng)
        Y = logits(net, Xg.reshape(-1, 64)).reshape(*Xg.shape[:2], -1)
        schemes = {}
        for encoder in ("sum", "concat") if k in (2, 4) else ("sum",):
            pm = fit_parity(net, X_train, k, t["lr"], t["epochs"], seed, encoder)
            name = "parm" if encoder == "sum" else "parm_concat"
            schemes[name] = parm_outcomes(pm, Xg, Y)
            costs.append(
                {
                    "model": kind,
                    "k": k,
                    "scheme": name,
                    "seed": seed,
                    "parity_seconds": pm.training_time_,
                    "parity_epochs": pm.n_epochs_,
                    "f_seconds": f_seconds,
                    "f_epochs": config["f_epochs"][kind],
                }
            )
        schemes["spline"] = code_outcomes(net, Xg, "spline", "interior")
        schemes["spline_systematic"] = code_outcomes(net, Xg, "spline", "systematic")
        schemes["berrut"] = code_outcomes(net, Xg, "berrut", t["berrut_points"])
        schemes["replication"] = replication_outcomes(Y, rng)
        shared_random = rng.integers(k + 1, size=len(Xg))  # one draw for every scheme
        for name, (out, own) in schemes.items():
            for mode in MODES:
                missing = shared_random if mode == "random" else choose_missing(out, Y, mode, rng)
                s = score(out, own, Y, yg, missing)
                rows.append(
                    {"model": kind, "k": k, "scheme": name, "mode": mode, "seed": seed, **s}
                )
    return rows, costs, base_acc


def interval(values):
    values = np.asarray([v for v in values if np.isfinite(v)])
    if values.size < 2:
        return float(values.mean()) if values.size else None, None
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean()), float(half)


def summarize(rows, costs):
    table = {}
    for r in rows:
        table.setdefault((r["model"], r["k"], r["scheme"], r["mode"]), []).append(r)
    out = []
    for (model, k, scheme, mode), rs in sorted(table.items()):
        entry = {"model": model, "k": k, "N": k + 1, "scheme": scheme, "mode": mode}
        for metric in ("acc", "agree", "degraded_acc", "degraded_agree", "lost", "mse"):
            mean, half = interval([r.get(metric, np.nan) for r in rs])
            entry[metric] = mean
            entry[metric + "_ci95"] = half
        out.append(entry)
    cost = {}
    for c in costs:
        cost.setdefault((c["model"], c["k"], c["scheme"]), []).append(c)
    cost_rows = [
        {
            "model": m,
            "k": k,
            "scheme": s,
            "parity_seconds": float(np.mean([c["parity_seconds"] for c in cs])),
            "parity_epochs": cs[0]["parity_epochs"],
            "f_seconds": float(np.mean([c["f_seconds"] for c in cs])),
            "f_epochs": cs[0]["f_epochs"],
        }
        for (m, k, s), cs in sorted(cost.items())
    ]
    return out, cost_rows


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({s["model"] for s in summary})
    panels = [("agree", "random"), ("agree", "adversarial"), ("degraded_agree", "random")]
    fig, axes = plt.subplots(len(models), 3, figsize=(14, 4 * len(models)), squeeze=False)
    schemes = sorted({s["scheme"] for s in summary})
    for i, model in enumerate(models):
        for j, (metric, mode) in enumerate(panels):
            ax = axes[i, j]
            for scheme in schemes:
                rs = [
                    s
                    for s in summary
                    if s["model"] == model and s["scheme"] == scheme and s["mode"] == mode
                ]
                rs = [s for s in rs if s[metric] is not None]
                if not rs:
                    continue
                ks = [s["k"] for s in rs]
                ax.errorbar(
                    ks,
                    [s[metric] for s in rs],
                    yerr=[s[metric + "_ci95"] or 0 for s in rs],
                    marker="o",
                    capsize=3,
                    label=scheme,
                )
            ax.set_xscale("log", base=2)
            ax.set_xticks([2, 4, 8], ["k=2\nN/K=1.5", "k=4\n1.25", "k=8\n1.125"])
            ax.set_title(f"{model}: {metric.replace('_', ' ')}, {mode} missing worker")
            ax.set_ylabel("argmax agreement with f")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("One of N = k + 1 workers missing per group (digits, 95% CI over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_models(config, models):
    torch.set_num_threads(1)  # architecture.md: spinning intra-op threads on shared cores
    X, y = load_digits(return_X_y=True)
    data = ((X / 16.0).astype(np.float32), y.astype(np.int64))
    tic = time.perf_counter()
    rows, costs, base, tuned = [], [], {}, {}
    for kind in models:
        for seed in range(config["seeds"]):
            r, c, acc = run_seed(kind, seed, config, tuned, data)
            rows += r
            costs += c
            base.setdefault(kind, []).append(acc)
            print(f"{kind} seed {seed} done, {time.perf_counter() - tic:.0f} s", flush=True)
    return {
        "rows": rows,
        "costs": costs,
        "base": base,
        "tuned": {f"{m}/k={k}": t for (m, k), t in tuned.items()},
        "seconds": time.perf_counter() - tic,
    }


def report(parts, config, quick, out, name):
    rows = [r for p in parts for r in p["rows"]]
    costs = [c for p in parts for c in p["costs"]]
    summary, cost_rows = summarize(rows, costs)
    result = {
        "config": {**config, "quick": quick},
        "machine": platform.platform(),
        "seconds": {m: p["seconds"] for p in parts for m in p["base"]},
        "base_accuracy": {m: interval(v) for p in parts for m, v in p["base"].items()},
        "tuned": {key: t for p in parts for key, t in p["tuned"].items()},
        "summary": summary,
        "training_cost": cost_rows,
        "rows": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    plot(summary, out / f"{name}.png")
    nan = float("nan")
    for s in summary:
        degraded = [nan if s[m] is None else s[m] for m in ("degraded_agree", "degraded_acc")]
        print(
            f"{s['model']} k={s['k']} {s['scheme']:18s} {s['mode']:11s} "
            f"agree {s['agree']:.3f}+-{s['agree_ci95'] or 0:.3f} acc {s['acc']:.3f} "
            f"degraded agree {degraded[0]:.3f} acc {degraded[1]:.3f}"
        )
    for c in cost_rows:
        print(c)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in about a minute")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--jobs", type=int, default=2, help="processes, one model each (default 2)")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    models = config["models"]
    if args.jobs > 1 and len(models) > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(min(args.jobs, len(models))) as pool:
            parts = pool.starmap(run_models, [(config, [m]) for m in models])
    else:
        parts = [run_models(config, models)]
    report(parts, config, args.quick, args.out, "parm_quick" if args.quick else "parm")


if __name__ == "__main__":
    main()
