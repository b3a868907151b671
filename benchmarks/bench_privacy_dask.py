"""Privacy end to end on dask: what the workers received, attacked, against ``leakage_``.

``python benchmarks/bench_privacy.py --dask`` (or this file). ``CodedClassifier(
RecordingLogistic(...), n_private=2, executor=client)`` (spline and Lagrange,
``max_leakage=0.25``), fitted on the standardized digits of each model seed, on
the ``LocalCluster`` set-ups of :data:`SETUPS`: two of 2 worker processes, whose
each would compute 32 of the N = 64 coded rows of a batch (the estimator must
refuse, and no worker may receive a row), and one of 17 processes x 2 threads
with N = 34, one task per coded worker, 2 coded rows per process. The inner
model records on each dask worker every coded row it is asked to score, named
by the call that computes it, which names the coded worker (``_recording.py``); nothing is
rebuilt from the encoder. The estimator then predicts ``requests`` requests of
37 batches of random rows, each padded with the estimator's own fresh secret
noise, and the T = 2 colluders of each row's worst pair (the public layout's
worst pair for that batch position, ``gaussian_leakage``) attack every batch:

- ``lmmse``: the posterior mean with the true covariance (``bench_privacy.lmmse_attack``),
  R^2 on the top principal component, with its standard error;
- ``pixel_map`` and ``ridge``: fitted linear maps (``collusion_r2``).

Every measured R^2 is compared with ``leakage_`` (raw, and within ``Z_SE``
standard errors), row by row. The leakage budget is off (``leakage_budget=None``):
the rows differ between requests, and each batch is attacked from one view.
Writes ``benchmarks/results/privacy_leakage_dask.json``.
"""

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _recording import RecordingLogistic, read_views  # noqa: E402
from bench_privacy import RESULTS, Z_SE, lmmse_attack, r2_scores  # noqa: E402

from sklearn_coded.estimators import CodedClassifier  # noqa: E402
from sklearn_coded.estimators._batching import batch_groups, make_coders  # noqa: E402
from sklearn_coded.execution import CollusionError  # noqa: E402
from sklearn_coded.operators import collusion_r2, gaussian_leakage  # noqa: E402

K, T, ROWS = 16, 2, 592  # 37 full batches per request
SCHEMES = ("spline", "lagrange")
FULL = {"seeds": (0, 1, 2), "requests": 24}
QUICK = {"seeds": (0,), "requests": 4}
#: (worker processes, threads each, n_coded): two clusters of 2 processes whose each
#: would compute N / 2 = 32 coded rows of a batch (one task of 32 rows per process,
#: or 32 one-row tasks): refused, nothing sent; and 17 processes x 2 threads for
#: N = 34 (the fewest the spline code allows with T = 2: K + 17 noise rows), one
#: task per coded worker, T = 2 coded rows on each process: served and attacked.
SETUPS = ((2, 1, None), (2, 32, None), (17, 2, 34))


def _data(seed):
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X_all, y_all = load_digits(return_X_y=True)
    order = np.random.RandomState(seed).permutation(len(X_all))
    train, test = order[:1000], order[1000:]
    scaler = StandardScaler().fit(X_all[train])
    X_pop = scaler.transform(X_all)  # the population the attacker knows exactly
    return scaler.transform(X_all[train]), y_all[train], scaler.transform(X_all[test]), X_pop


def attack(views, truth, A, B, sigma, C, mean, pairs, leakage):
    """Per-row attacks on the recorded views; (per-row results, summary)."""
    n = truth.shape[0]
    top = np.linalg.eigh(C)[1][:, -1]
    rows = []
    for k in range(truth.shape[1]):
        seen = np.stack([views[j] for j in pairs[k]], axis=1)  # (n, T, d)
        estimate = lmmse_attack(seen, None, A, B, sigma, C, mean, pairs[k], k)
        _, lmmse, se = r2_scores(truth[:, k], estimate, mean, top)
        pixel = collusion_r2(truth[:, k].reshape(-1, 1), seen.transpose(0, 2, 1).reshape(-1, T))
        ridge = collusion_r2(truth[:, k], seen.reshape(n, -1), ridge=float(n))
        rows.append(
            {
                "row": k,
                "pair": [int(j) for j in pairs[k]],
                "leakage_": float(leakage[k]),
                "lmmse_top": lmmse,
                "lmmse_se": se,
                "pixel_map": float(pixel),
                "ridge": float(ridge),
            }
        )
    measured = np.array([max(r["lmmse_top"], r["pixel_map"], r["ridge"]) for r in rows])
    within = all(
        r["lmmse_top"] - Z_SE * r["lmmse_se"] <= r["leakage_"]
        and max(r["pixel_map"], r["ridge"]) <= r["leakage_"]
        for r in rows
    )
    return rows, {
        "batches": n,
        "leakage_max": float(leakage.max()),
        "measured_max": float(measured.max()),
        "lmmse_top_max": float(max(r["lmmse_top"] for r in rows)),
        "pixel_map_max": float(max(r["pixel_map"] for r in rows)),
        "ridge_max": float(max(r["ridge"] for r in rows)),
        "rows_over_raw": int((measured > leakage).sum()),
        "measured_within_bound": bool(within),
    }


def _lmmse_rows(seen, AJ, BJ, sigma, C, mean):
    """Posterior mean of all K rows from the views ``seen`` (n, |J|, d), true covariance.

    The same estimate as ``lmmse_attack`` for every row at once, computed in the
    eigenbasis of C, where the features decouple: per eigen-direction of variance
    lam, ``x_k = lam a_k' (lam AJ AJ' + sigma^2 BJ BJ')^-1 (v - AJ 1 mean)``.
    """
    lam, U = np.linalg.eigh(C)
    v = (seen - AJ.sum(axis=1)[None, :, None] * mean) @ U  # centred, rotated (n, |J|, d)
    G, H = AJ @ AJ.T, BJ @ BJ.T
    out = np.empty((seen.shape[0], AJ.shape[1], seen.shape[2]))
    for j, value in enumerate(lam):
        W = value * np.linalg.pinv(value * G + sigma**2 * H, hermitian=True) @ AJ  # (|J|, K)
        out[:, :, j] = v[:, :, j] @ W
    return out @ U.T + mean


def known_points_attack(views, truth, held, A, B, sigma, C, mean, leakage):
    """The LMMSE of one worker process from every coded row it ran, knowing their points.

    Per request, the process that ran the most tasks (about N / 2 of them) pools
    their rows; its points are the tasks' coded workers (named by their calls),
    and the posterior mean with the true covariance estimates every row of
    every batch. R^2 on the top principal component, pooled over the requests.
    """
    top = np.linalg.eigh(C)[1][:, -1]
    estimates, sizes = [], []
    for r, process in enumerate(held):
        owners = sorted(set(process.values()))
        mine = max(owners, key=lambda o: sum(p == o for p in process.values()))
        J = np.array(sorted(j for j, p in process.items() if p == mine))
        seen = np.stack([views[j][r][0] for j in J], axis=1)  # (batches, |J|, d)
        estimates.append(_lmmse_rows(seen, A[J], B[J], sigma, C, mean))
        sizes.append(len(J))
    estimate, truth = np.concatenate(estimates), np.concatenate(truth)
    r2 = np.array([r2_scores(truth[:, k], estimate[:, k], mean, top)[1] for k in range(A.shape[1])])
    return {
        "coded_rows_per_process_mean": float(np.mean(sizes)),
        "lmmse_top_max": float(r2.max()),
        "lmmse_top_min": float(r2.min()),
        "rows_over_leakage_": int((r2 > leakage).sum()),
    }


def one_cell(client, seed, scheme, config, record_dir, rng, n_coded=None):
    """Fit, serve ``requests`` requests on dask, read what the workers got, attack it.

    A cluster whose worker processes would each compute more than T coded rows
    of a batch is refused at the first request (``CollusionError``): the cell
    records the refusal and that no worker received a row.
    """
    X_train, y_train, X_test, X_pop = _data(seed)
    C, mean = np.cov(X_pop.T), X_pop.mean(axis=0)
    clf = CodedClassifier(
        RecordingLogistic(record_dir=str(record_dir)),
        scheme=scheme,
        n_private=T,
        n_coded=n_coded,
        executor=client,
        leakage_budget=None,
        random_state=seed,
    ).fit(X_train, y_train)
    try:
        agree = float((clf.predict(X_test) == clf.estimator_.predict(X_test)).mean())
    except CollusionError as error:
        views, _ = read_views(record_dir)
        return {"seed": seed, "scheme": scheme, "N": clf._coding_config().n_coded,
                "refused": True, "error": str(error), "rows_received": len(views)}  # fmt: skip
    read_views(record_dir)  # the agreement request (a short last batch): not attacked
    plan = clf._coding_config()
    encoder = make_coders(plan)[0]().fit(X_train[:K])  # the public layout (A, B)
    A, B = encoder.encoding_matrix(K), encoder.noise_matrix(K)
    sigma = float(clf.noise_scale_)
    lam_max = float(np.linalg.eigvalsh(C).max())
    pairs = gaussian_leakage(A, B, sigma, T, signal_var=lam_max, max_subsets=10**6,
                             return_subsets=True)[2]  # fmt: skip
    views, truth, held, tic = {}, [], [], time.perf_counter()
    slots = batch_groups(ROWS, K)[0].slots  # (37, K): the request's batches
    for _ in range(config["requests"]):
        rows = X_pop[rng.choice(len(X_pop), ROWS, replace=False)]
        clf.predict(rows)
        got, process = read_views(record_dir)
        for task, v in got.items():  # task: its coded rows, point-major
            views.setdefault(task, []).append(v.reshape(-1, slots.shape[0], v.shape[1]))
        truth.append(rows[slots])
        held.append(process)
    seconds = time.perf_counter() - tic
    truth_all = np.concatenate(truth)  # (n_batches, K, d)
    # one task per coded worker (SETUPS): T = 2 colluding tasks, and one process alone
    joined = {j: np.concatenate(v, axis=1)[0] for j, v in views.items()}
    per_row, summary = attack(joined, truth_all, A, B, sigma, C, mean, pairs, clf.leakage_)
    # one worker process alone, from every task it ran (their names name the points)
    summary["process_known_points"] = known_points_attack(
        views, truth, held, A, B, sigma, C, mean, clf.leakage_
    )
    return {
        "seed": seed,
        "scheme": scheme,
        "N": plan.n_coded,
        "points": plan.points if isinstance(plan.points, str) else "explicit",
        "sigma": sigma,
        "agree": agree,
        "refused": False,
        "requests": config["requests"],
        "request_seconds": seconds / config["requests"],
        **summary,
        "rows": per_row,
    }


def main(quick=False, out_dir=RESULTS):
    from distributed import Client, LocalCluster

    config = QUICK if quick else FULL
    # worker processes import the recording model from this folder
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]
    )
    cells, t0 = [], time.perf_counter()
    for n_workers, threads, n_coded in SETUPS:
        with (
            tempfile.TemporaryDirectory() as tmp,
            # many workers share this 2-core machine as threads of one process
            LocalCluster(n_workers=n_workers, threads_per_worker=threads,
                         processes=n_workers <= 2, dashboard_address="127.0.0.1:0") as cluster,
            Client(cluster) as client,
        ):  # fmt: skip
            for seed in config["seeds"]:
                rng = np.random.default_rng(300 + seed)
                for scheme in SCHEMES:
                    cell = one_cell(client, seed, scheme, config, Path(tmp), rng, n_coded)
                    cell.update(worker_processes=n_workers, threads_per_worker=threads)
                    cells.append(cell)
                    print(f"dask {n_workers} x {threads} seed {seed} {scheme:8s} N={cell['N']} "
                          + ("refused" if cell["refused"] else
                             f"sigma {cell['sigma']:.2f} leakage_ {cell['leakage_max']:.3f} "
                             f"measured {cell['measured_max']:.3f} within "
                             f"{cell['measured_within_bound']} agree {cell['agree']:.3f}"),
                          flush=True)  # fmt: skip
    summary = {}
    for n_workers, threads, _ in SETUPS:
        group = [c for c in cells if (c["worker_processes"], c["threads_per_worker"]) == (
            n_workers, threads)]  # fmt: skip
        served = [c for c in group if not c["refused"]]
        summary[f"{n_workers} processes x {threads} threads"] = {
            "refused": sum(c["refused"] for c in group),
            "rows_received_when_refused": sum(c.get("rows_received", 0) for c in group),
            "served": len(served),
        } | ({
            "measured_within_bound_every_row": all(c["measured_within_bound"] for c in served),
            "rows_over_raw_bound": sum(c["rows_over_raw"] for c in served),
            "rows_compared": sum(len(c["rows"]) for c in served),
            "process_known_points_max": max(
                c["process_known_points"]["lmmse_top_max"] for c in served),
            "by_scheme": {
                s: {
                    "leakage_max": max(c["leakage_max"] for c in served if c["scheme"] == s),
                    "measured_max": max(c["measured_max"] for c in served if c["scheme"] == s),
                    "agree_mean": float(np.mean([c["agree"] for c in served if c["scheme"] == s])),
                }
                for s in SCHEMES
            },
        } if served else {})  # fmt: skip
    print(json.dumps(summary, indent=1))
    payload = {
        "config": {"K": K, "T": T, "rows_per_request": ROWS, "Z_SE": Z_SE, **config},
        "clusters": "LocalCluster(n_workers, threads_per_worker) for SETUPS (processes=True for 2)",
        "setups": SETUPS,
        "summary": summary,
        "cells": cells,
        "platform": platform.platform(),
        "seconds": time.perf_counter() - t0,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    name = "privacy_leakage_dask_quick.json" if quick else "privacy_leakage_dask.json"
    (out_dir / name).write_text(json.dumps(payload, indent=1, default=str))
    return payload


if __name__ == "__main__":
    main("--quick" in sys.argv)
