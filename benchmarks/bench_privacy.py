"""Privacy through the encoders' own secret noise: chosen attacks against ``leakage_``.

Issue 16 items 1-3 and 8. Digits, standardized with the training split's scaler;
a logistic regression (an affine f) and an MLP, each fitted once per seed inside
``CodedClassifier(n_private=2, n_coded=N, leakage_budget=None)``; T = 2 colluders,
K = 16. For each scheme (spline, Berrut, Lagrange, on the estimator's ``"auto"``
points) and each ``max_leakage`` target, the estimator's own encoder
(``make_coders``, noise from the operating system's secret source, scale
calibrated at fit) codes ``attack_batches`` batches of held-out rows, and the
colluders attack:

- ``exact_lmmse``: the exact R^2 of the LMMSE attacker who knows the layout,
  sigma and the TRUE covariance (of the rows attacked), on the worst linear
  feature (top principal component) of each row, over *every* pair of the N
  workers (``gaussian_leakage`` at the true lambda_max; independent rows);
- ``lmmse``: that attacker run on the coded rows (no fitting: the posterior
  mean from the true covariance), measured R^2 on the top principal component
  and pooled over the 64 pixels, at each row's worst pair;
- ``pixel_map``: one affine map from the pair's 2 values of a pixel to that
  pixel, fitted on half of the batches and scored on the rest;
- ``ridge``: a ridge map from the 2 x 64 pooled values to the 64 pixels;
- repeats (at the 0.25 target): the same batches coded R times with fresh noise and averaged (the
  sufficient statistic), attacked by the LMMSE at sigma^2 / R; against the
  composed bound (eq. R) and the number of identical requests the estimator's
  default budget serves before it refuses.

Every measured R^2 is compared with ``leakage_`` (the bound per row), raw and
within ``Z_SE`` standard errors (the bound is tight: the exact attack reaches it
within a few percent, so a finite-sample estimate lands above it about half the
time for the worst row); the utility is the argmax agreement of ``predict`` with the bare model on the test
split. The default configuration (``CodedClassifier(est, n_private=2)``: spline,
N = 4K = 64, ``max_leakage=0.25``) is a cell of its own.

Run ``python benchmarks/bench_privacy.py`` (a few minutes; ``--quick``: one seed,
fewer batches). Writes ``benchmarks/results/privacy_leakage.json`` and ``.png``.
``--dask`` runs the estimators end to end on a dask cluster and attacks what the
workers received (``bench_privacy_dask.py``, ``privacy_leakage_dask.json``).
Timings are not measured.
"""

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_coded.estimators import CodedClassifier
from sklearn_coded.estimators._batching import batch_groups, encode_groups, make_coders
from sklearn_coded.operators import (
    LeakageBudgetError,
    collusion_r2,
    gaussian_leakage,
    leakage_bound,
)

RESULTS = Path(__file__).resolve().parent / "results"
#: A measured R^2 is within sampling error of the bound when it exceeds it by at most this
#: many standard errors: Bonferroni over the ~700 (row, cell) comparisons at 5% (z = 3.9).
Z_SE = 4.0
K, T, N = 16, 2, 128
SCHEMES = ("spline", "berrut", "lagrange")
TARGETS = (0.05, 0.1, 0.25, 0.5)
REPEATS = (1, 3, 4, 16, 64)
FULL = {"seeds": (0, 1, 2), "attack_batches": 1000, "repeat_batches": 300, "mlp_iter": 500}
QUICK = {"seeds": (0,), "attack_batches": 300, "repeat_batches": 100, "mlp_iter": 100}


def lmmse_attack(views, X_rows, A, B, sigma, C, mean, pair, k):
    """Posterior-mean estimate of row k from the pair's views, with the true covariance.

    ``views``: (n, T, d) coded rows of the pair; the data rows are independent with
    column covariance C, so the estimate is ``S_k G' (G S G' + sigma^2 BB' kron I)^-1``
    applied to the centred views, S = I_K kron C, G = A_J kron I.
    """
    d = C.shape[0]
    AJ, BJ = A[pair], B[pair]
    cov_y = np.kron(AJ @ AJ.T, C) + sigma**2 * np.kron(BJ @ BJ.T, np.eye(d))
    cross = np.kron(AJ[:, k][None, :], C)  # Cov(x_k, y): (d, T d)
    offset = (AJ.sum(axis=1)[:, None] * mean[None, :]).ravel()  # E y (data part)
    W = np.linalg.solve(cov_y, cross.T).T
    return mean + (views.reshape(len(views), -1) - offset) @ W.T


def r2_scores(truth, estimate, mean, top):
    """(pooled over pixels, top principal component, its standard error) R^2 of an estimate.

    The standard error is the delta method's for the ratio of the mean squared error
    to the mean square, over the n independent batches.
    """
    pooled = 1 - ((truth - estimate) ** 2).sum() / ((truth - mean) ** 2).sum()
    t, e = (truth - mean) @ top, (estimate - mean) @ top
    u, w = (t - e) ** 2, t**2
    ratio = u.mean() / w.mean()
    se = (u - ratio * w).std() / (np.sqrt(len(u)) * w.mean())
    return float(pooled), float(1 - ratio), float(se)


def attack_cell(encoder_factory, X_pool, C, mean, config, rng, with_repeats=True):
    """Leakage bound, exact and measured attacks of one (scheme, N, target) cell."""
    n_coded = encoder_factory().n_coded
    enc = encoder_factory().fit(X_pool[:K])
    A, B, sigma = enc.encoding_matrix(K), enc.noise_matrix(K), enc.noise_scale_
    lam = np.linalg.eigvalsh(C)
    top = np.linalg.eigh(C)[1][:, -1]
    exact, _, pairs = gaussian_leakage(
        A, B, sigma, T, signal_var=lam.max(), max_subsets=10**6, return_subsets=True
    )
    n = config["attack_batches"]
    idx = np.array([rng.choice(len(X_pool), K, replace=False) for _ in range(n)])
    rows = X_pool[idx]  # (n, K, d)
    coded = encode_groups(rows.reshape(n * K, -1), batch_groups(n * K, K), encoder_factory)
    coded = coded.transpose(1, 0, 2)  # (n, N, d): the estimator's own secret noise
    out = {"pixel_map": [], "ridge": [], "lmmse_top": [], "lmmse_pooled": []}
    ses = []  # standard errors of lmmse_top
    for k in range(K):
        seen = coded[:, pairs[k]]
        truth = rows[:, k]
        out["pixel_map"].append(
            collusion_r2(truth.reshape(-1, 1), seen.transpose(0, 2, 1).reshape(-1, T))
        )
        out["ridge"].append(collusion_r2(truth, seen.reshape(n, -1), ridge=float(n)))
        pooled, top_r2, se = r2_scores(
            truth, lmmse_attack(seen, truth, A, B, sigma, C, mean, pairs[k], k), mean, top
        )
        out["lmmse_pooled"].append(pooled)
        out["lmmse_top"].append(top_r2)
        ses.append(se)
    # Repeats: the same batches R times with fresh noise, averaged, LMMSE at sigma^2 / R.
    m = config["repeat_batches"] if with_repeats else 0
    rep_rows = rows[:m]
    total = np.zeros((m, K, T, rows.shape[2]))
    repeats = {}
    done = 0
    for R in REPEATS if with_repeats else ():
        while done < R:
            views = encode_groups(
                rep_rows.reshape(m * K, -1), batch_groups(m * K, K), encoder_factory
            ).transpose(1, 0, 2)
            total += np.stack([views[:, pairs[k]] for k in range(K)], axis=1)
            done += 1
        mean_views = total / R
        scores = np.array(
            [
                r2_scores(
                    rep_rows[:, k],
                    lmmse_attack(
                        mean_views[:, k], None, A, B, sigma / np.sqrt(R), C, mean, pairs[k], k
                    ),
                    mean,
                    top,
                )[1:]
                for k in range(K)
            ]
        )
        exact_R = gaussian_leakage(A, B, sigma / np.sqrt(R), T, signal_var=lam.max())[0]
        bound = leakage_bound(R * enc.leakage_information(K))
        repeats[R] = {
            "lmmse_top_max": float(scores[:, 0].max()),
            "lmmse_top_mean": float(scores[:, 0].mean()),
            "exact_max": float(exact_R.max()),
            "exact_mean": float(exact_R.mean()),
            "bound_max": float(bound.max()),
            "bound_mean": float(bound.mean()),
            # measured - Z_SE standard errors <= bound, every row: within sampling error
            "within_bound": bool((scores[:, 0] - Z_SE * scores[:, 1] <= bound).all()),
            "rows_over_raw": int((scores[:, 0] > bound).sum()),
            "exact_le_bound": bool((exact_R <= bound + 1e-12).all()),
        }
    measured = np.max([out[key] for key in out], axis=0)  # per row, the best attack
    ses = np.array(ses)
    return {
        "N": n_coded,
        "sigma": float(sigma),
        "leakage_max": float(enc.leakage_.max()),
        "exact_lmmse_max": float(exact.max()),
        "exact_le_bound_every_row": bool((exact <= enc.leakage_ + 1e-12).all()),
        **{f"{key}_max": float(max(v)) for key, v in out.items()},
        "measured_max": float(measured.max()),
        "measured_le_bound_every_row": bool((measured <= enc.leakage_).all()),
        "lmmse_top_se_max": float(ses.max()),
        # within sampling error: lmmse_top - Z_SE se <= leakage_ and the fitted attacks <= it
        "measured_within_bound": bool(
            (np.array(out["lmmse_top"]) - Z_SE * ses <= enc.leakage_).all()
            and (np.maximum(out["pixel_map"], out["ridge"]) <= enc.leakage_).all()
        ),
        "rows_over_raw": int((measured > enc.leakage_).sum()),
        "lmmse_top_mean": float(np.mean(out["lmmse_top"])),
        "exact_mean": float(exact.mean()),
        "leakage_mean": float(enc.leakage_.mean()),
        "repeats": repeats,
    }


def budget_requests(clf, X_rows):
    """Identical requests the estimator's default budget serves before refusing."""
    clf.set_params(leakage_budget="auto")
    clf._leakage_ledger = None
    served = 0
    try:
        while served < 100:
            clf.predict(X_rows)
            served += 1
    except LeakageBudgetError:
        pass
    clf.set_params(leakage_budget=None)
    return served


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--dask",
        action="store_true",
        help="end to end on a dask LocalCluster, attacking what the workers received "
        "(bench_privacy_dask.py; privacy_leakage_dask.json)",
    )
    args = parser.parse_args(argv)
    if args.dask:
        from bench_privacy_dask import main as dask_main

        dask_main(args.quick, args.out_dir)
        return
    config = dict(QUICK if args.quick else FULL)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    X_all, y_all = load_digits(return_X_y=True)
    cells = []
    for seed in config["seeds"]:
        order = np.random.RandomState(seed).permutation(len(X_all))
        train, test = order[:1000], order[1000:]
        scaler = StandardScaler().fit(X_all[train])
        X_train, X_test = scaler.transform(X_all[train]), scaler.transform(X_all[test])
        # The population the attacker knows exactly: all 1797 images (the train scaler);
        # attacked rows are drawn from it. (The 797 test rows alone have outliers that
        # the training rows do not show: their top eigenvalue is 8.2-10.8 against
        # 7.5-7.6 for the population and 7.2-7.6 for the training rows.)
        X_pop = scaler.transform(X_all)
        C, mean = np.cov(X_pop.T), X_pop.mean(axis=0)
        models = {
            "logistic": LogisticRegression(max_iter=3000),
            "mlp": MLPClassifier((64,), max_iter=config["mlp_iter"], random_state=seed),
        }
        fitted = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for name, model in models.items():
                fitted[name] = CodedClassifier(
                    model, n_private=2, n_coded=N, batch_size=K, leakage_budget=None
                ).fit(X_train, y_all[train])
        bare = {name: clf.estimator_.predict(X_test) for name, clf in fitted.items()}
        rng = np.random.default_rng(seed + 100)
        settings = [(s, N, t) for s in SCHEMES for t in TARGETS] + [("default", 64, 0.25)]
        for scheme, n_coded, target in settings:
            params = {"scheme": "spline" if scheme == "default" else scheme}
            params.update(n_coded=n_coded, max_leakage=target)
            for clf in fitted.values():
                clf.set_params(**params)
            config_ = fitted["logistic"]._coding_config()
            cell = attack_cell(
                make_coders(config_)[0], X_pop, C, mean, config, rng, with_repeats=target == 0.25
            )
            cell.update(seed=seed, scheme=scheme, target=target)
            for name, clf in fitted.items():
                cell[f"agree_{name}"] = float((clf.predict(X_test) == bare[name]).mean())
            if target == 0.25:
                cell["budget_requests"] = budget_requests(fitted["logistic"], X_test[:64])
            cells.append(cell)
            print(
                f"seed {seed} {scheme:8s} N={n_coded:3d} target {target:.2f}: "
                f"sigma {cell['sigma']:7.2f} leakage_ {cell['leakage_max']:.3f} "
                f"exact {cell['exact_lmmse_max']:.3f} measured {cell['measured_max']:.3f} "
                f"agree LR {cell['agree_logistic']:.3f} MLP {cell['agree_mlp']:.3f}",
                flush=True,
            )
    summary = summarize(cells)
    print(json.dumps(summary["targets"], indent=1))
    payload = {
        "config": {"K": K, "T": T, "N": N, **config, "targets": TARGETS, "repeats": REPEATS},
        "cells": cells,
        "summary": summary,
        "platform": platform.platform(),
        "seconds": time.perf_counter() - t_start,
    }
    suffix = "_quick" if args.quick else ""
    path = args.out_dir / f"privacy_leakage{suffix}.json"
    path.write_text(json.dumps(payload, indent=1, default=str))
    plot(cells, args.out_dir / f"privacy_leakage{suffix}.png")


def summarize(cells):
    """Means over seeds per (scheme, target) and the issue's targets."""
    table = []
    for scheme in (*SCHEMES, "default"):
        for target in TARGETS:
            group = [c for c in cells if c["scheme"] == scheme and c["target"] == target]
            if not group:
                continue
            row = {"scheme": scheme, "target": target, "N": group[0]["N"]}
            for key in (
                "sigma",
                "leakage_max",
                "exact_lmmse_max",
                "measured_max",
                "lmmse_top_max",
                "lmmse_pooled_max",
                "ridge_max",
                "pixel_map_max",
                "agree_logistic",
                "agree_mlp",
            ):
                row[key] = float(np.mean([c[key] for c in group]))
            row["measured_worst_seed"] = float(max(c["measured_max"] for c in group))
            table.append(row)
    exact_ok = all(c["exact_le_bound_every_row"] for c in cells)
    measured_ok = all(c["measured_within_bound"] for c in cells)
    raw_ok = all(c["measured_le_bound_every_row"] for c in cells)
    repeats_ok = all(
        v["within_bound"] and v["exact_le_bound"] for c in cells for v in c["repeats"].values()
    )
    default = [c for c in cells if c["scheme"] == "default"]
    return {
        "table": table,
        "targets": {
            "exact_lmmse_le_leakage_every_row": exact_ok,
            "measured_within_4se_of_leakage_every_row": measured_ok,
            "rows_over_raw_bound": sum(c["rows_over_raw"] for c in cells),
            "rows_compared": K * len(cells),
            "measured_raw_le_leakage_every_row": raw_ok,
            "repeats_le_composed_bound": repeats_ok,
            "default_leakage_max": max(c["leakage_max"] for c in default),
            "default_measured_max": max(c["measured_max"] for c in default),
            "default_le_0.25": all(c["leakage_max"] <= 0.25 + 1e-12 for c in default),
            "budget_requests_served": sorted({c.get("budget_requests") for c in cells} - {None}),
        },
    }


def plot(cells, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    for scheme, marker in zip(SCHEMES, "osd", strict=True):
        for model, ls in (("logistic", "-"), ("mlp", "--")):
            xs = TARGETS
            ys = [
                np.mean(
                    [
                        c[f"agree_{model}"]
                        for c in cells
                        if c["scheme"] == scheme and c["target"] == t
                    ]
                )
                for t in xs
            ]
            ax.plot(xs, ys, marker=marker, ls=ls, label=f"{scheme}, {model}")
    ax.set(xlabel="max_leakage (R^2 target)", ylabel="argmax agreement with the model")
    ax.set_xscale("log")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[1]
    bound = [c["leakage_max"] for c in cells]
    for key, marker in (("exact_lmmse_max", "x"), ("lmmse_top_max", "o"), ("ridge_max", "s")):
        ax.scatter(bound, [c[key] for c in cells], marker=marker, label=key, alpha=0.7)
    ax.plot([0, 0.55], [0, 0.55], "k:", lw=1)
    ax.set(xlabel="leakage_ (bound, worst row)", ylabel="attack R^2 (worst row)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[2]
    for scheme in (*SCHEMES, "default"):
        group = [c for c in cells if c["scheme"] == scheme and c["target"] == 0.25]
        if not group:
            continue
        r2 = [np.mean([c["repeats"][R]["lmmse_top_max"] for c in group]) for R in REPEATS]
        ax.plot(REPEATS, r2, "o-", label=f"{scheme}: LMMSE on the mean of R views")
    exact = [np.mean([c["repeats"][R]["exact_max"] for c in group]) for R in REPEATS]
    ax.plot(REPEATS, exact, "kx", label="exact LMMSE, default cell (true covariance)")
    composed = [group[0]["repeats"][R]["bound_max"] for R in REPEATS]
    ax.plot(REPEATS, composed, "k--", label="composed bound (eq. R)")
    served = max(c.get("budget_requests") or 0 for c in cells)
    ax.axvline(served + 0.5, color="r", ls=":", label=f"default budget: refuses after {served}")
    ax.set(xscale="log", xlabel="identical requests R", ylabel="R^2 (top component, worst row)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.suptitle(f"Digits, T={T} colluders, K={K}, N={N}: the encoders' own secret noise")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
