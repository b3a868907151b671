"""``bench_frontier.py --latency``: p99 and throughput at equal N on a dask cluster.

``CodedClassifier(scheme="replication")`` against the default code (spline,
``points="auto"``: systematic) at the same N, for N/K in {1.25, 1.5, 2}, K = 16, and
the plain model (one task per request), on a dask ``LocalCluster`` of 4 worker
processes x 1 thread; 8 client threads send 64-row requests back to back, the
schemes take turns (2 rounds of 4 s per scheme and cell), with no stragglers and
with one slow worker (worker 0 sleeps 50 ms plus a Pareto tail before every task).
Reuses the serving benchmark's ``SlowWorker``, ``Uncoded``, ``load`` and ``pooled``.
Absolute timings drift with the machine's load: compare the schemes of one cell.
"""

import warnings

import numpy as np

#: ``--latency``: K, the N/K ratios, client threads, rows per request, seconds per turn
LATENCY = {"K": 16, "ratios": (1.25, 1.5, 2), "clients": 8, "rows": 64, "duration": 4.0}


def latency_schemes(client, worker_model, X, y, K, N):
    """Replication and the default code at N workers on ``client``, serving ``worker_model``.

    Both tolerate S = min(N - K, N / 4) missing coded rows (one physical worker of four
    holds N / 4), ``on_uncertified="nan"``, ``timeout=30``; the fitted model is swapped in
    as the serving benchmark's ``Coded`` does (the same model object as the baseline).
    """
    from sklearn.linear_model import LogisticRegression

    from sklearn_coded.estimators import CodedClassifier

    S = min(N - K, N // 4)
    schemes = []
    for scheme in ("replication", "spline"):
        clf = CodedClassifier(
            LogisticRegression(max_iter=2000), scheme=scheme, batch_size=K, n_coded=N,
            stragglers=S, executor=client, timeout=30, on_uncertified="nan",
        ).fit(X[:200], y[:200])  # fmt: skip
        clf.estimator_ = worker_model
        clf._worker.estimator = worker_model
        clf.response_ = clf._worker.space = "log_proba"
        clf.classes_ = worker_model.classes_
        name = "replication" if scheme == "replication" else "default code"

        def predict(X_rows, clf=clf):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # refused rows are NaN, counted below
                return clf.predict_proba(X_rows)

        predict.name, predict.clf, predict.S = name, clf, S
        schemes.append(predict)
    return schemes


def run_latency(rounds=2):
    """p99 and throughput at equal N: replication, the default code, the plain model."""
    import distributed
    from bench_serving import (
        SLOW,
        SlowWorker,
        Uncoded,
        load,
        local_cluster,
        make_data,
        pooled,
        train_mlp,
    )

    cfg = LATENCY
    K = cfg["K"]
    X, y = make_data(6000, seed=1)
    model = train_mlp(X[:2000], y[:2000])
    X_serve = X[2000:]
    bare = model.predict_proba(X_serve[:1024])
    cells = []
    with local_cluster() as cluster, distributed.Client(cluster) as client:
        for condition, slow in (("no stragglers", None), ("one slow worker", SLOW)):
            worker_model = SlowWorker(model, slow)
            plain = Uncoded(client, worker_model)
            for ratio in cfg["ratios"]:
                N = round(ratio * K)
                schemes = [plain, *latency_schemes(client, worker_model, X, y, K, N)]
                for scheme in schemes:  # warm: model scattered, operators cached
                    for _ in range(2):
                        scheme(X_serve[:64])
                runs = {s.name: [] for s in schemes}
                for r in range(rounds):  # the schemes take turns, round by round
                    for scheme in schemes:
                        runs[scheme.name].append(
                            load(scheme, X_serve, cfg["clients"], cfg["rows"], cfg["duration"], r)
                        )
                for scheme in schemes:
                    cell = pooled(runs[scheme.name])
                    out = np.asarray(scheme(X_serve[:1024]), dtype=float)
                    if out.ndim == 1:  # the plain model's task returns labels
                        out = np.eye(bare.shape[1])[out.astype(int)]
                    kept = np.isfinite(out).all(axis=1)
                    agree = np.zeros(len(out), dtype=bool)
                    agree[kept] = out[kept].argmax(axis=1) == bare[kept].argmax(axis=1)
                    cell.update(
                        condition=condition, ratio=ratio, K=K, N=N, scheme=scheme.name,
                        S=getattr(scheme, "S", None), agreement=float(agree.mean()),
                        lost=float(1 - kept.mean()),
                    )  # fmt: skip
                    cells.append(cell)
                    print(
                        f"{condition:16s} N/K={ratio:<5g} {scheme.name:13s} "
                        f"{cell['throughput_rows_s']:8.0f} rows/s  p50 {cell['p50_ms']:7.1f} ms "
                        f"p99 {cell['p99_ms']:7.1f} ms  agreement {cell['agreement']:.3f} "
                        f"errors {cell['errors']}",
                        flush=True,
                    )
    return cells


def plot_latency(cells, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = ("no stragglers", "one slow worker")
    names = ("uncoded", "replication", "default code")
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), squeeze=False)
    for j, condition in enumerate(conditions):
        for i, metric in enumerate(("p99_ms", "throughput_rows_s")):
            ax = axes[i, j]
            for s, name in enumerate(names):
                pts = [c for c in cells if c["condition"] == condition and c["scheme"] == name]
                ratios = [c["ratio"] for c in pts]
                x = np.arange(len(ratios)) + (s - 1) * 0.27
                ax.bar(x, [c[metric] for c in pts], width=0.27, label=name)
                ax.set_xticks(np.arange(len(ratios)), [f"N/K={r:g}" for r in ratios])
            ax.set_title(f"{condition}: {'p99 latency (ms)' if i == 0 else 'rows / s'}")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(
        f"dask LocalCluster 4x1, {LATENCY['clients']} clients, {LATENCY['rows']} rows per "
        f"request, K = {LATENCY['K']} (plain model: one task per request)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
