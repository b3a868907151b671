"""Certified Byzantine decoding end to end: ``CodedClassifier`` in process and on dask.

The digits MLP of ``bench_accuracy.py`` (two model seeds) behind
``CodedClassifier(batch_size=16, n_coded=80, stragglers=4, n_adversaries=2,
on_uncertified="nan")``, its workers run by ``run_workers`` in process and on a
dask ``LocalCluster`` (2 in-process workers), with
:class:`~sklearn_coded.execution.ChoosingAdversaries` lying inside the workers:
honest, 2 liars next to the stragglers along the weakest direction, and 4
framing liars (more than declared). Per cell: the fraction of test rows refused
(NaN, their batch not certified), the argmax agreement of the served rows with
the bare model and with the honest coded model's (a certified batch decoded off
by the liars would lower it), and the predict time against ``n_adversaries=0``
on the same executor, side by side.

Run ``python benchmarks/bench_adversarial_e2e.py`` (``--quick``: one seed).
Writes ``benchmarks/results/adversarial_e2e.json``. Timings on a shared 2-core
machine: ratios, not absolutes.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import mlp_model

from sklearn_coded import SplineDecoder
from sklearn_coded.estimators import CodedClassifier
from sklearn_coded.execution import ChoosingAdversaries

RESULTS = Path(__file__).resolve().parent / "results"
K, N, S, A = 16, 80, 4, 2
ATTACKS = {
    "honest": None,
    "stragglers/weakest, 2 liars": (2, "stragglers", "weakest"),
    "weakest/frame, 4 liars": (4, "weakest", "frame"),
}


def _classifier(seed, n_adversaries, attack, executor, mlp_iter):
    adversaries = None
    if attack is not None:
        n, position, lie = attack
        code = SplineDecoder(K, points="interior")
        adversaries = ChoosingAdversaries(n, code=code, position=position, lie=lie, scale=30.0)
    return CodedClassifier(
        MLPClassifier((64,), max_iter=mlp_iter, random_state=seed),
        batch_size=K,
        n_coded=N,
        stragglers=S,
        n_adversaries=n_adversaries,
        adversaries=adversaries,
        on_uncertified="nan",
        executor=executor,
        random_state=seed,
    )


def _predict(clf, X):
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one UncertifiedBatchWarning per refused call
        proba = clf.predict_proba(X)
    return proba, time.perf_counter() - tic


def run(seeds, n_rows, mlp_iter, executors):
    rows = []
    for seed in seeds:
        _, X_test, _, X_train, y_train, _ = mlp_model({"mlp_iter": mlp_iter}, seed)
        X_test = X_test[:n_rows]
        for name, executor in executors.items():
            fitted = {}
            for label, attack in ATTACKS.items():
                for declared in (0, A) if attack is None else (A,):
                    clf = _classifier(seed, declared, attack, executor, mlp_iter)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        clf.fit(X_train, y_train)
                    proba, seconds = _predict(clf, X_test)
                    fitted[(label, declared)] = (proba, seconds)
                    bare = clf.estimator_.predict(X_test)
            t_plain = fitted[("honest", 0)][1]
            honest_robust = fitted[("honest", A)][0]
            for (label, declared), (proba, seconds) in fitted.items():
                served = ~np.isnan(proba).any(axis=1)
                pred = proba.argmax(axis=1)
                row = {
                    "seed": seed,
                    "executor": name,
                    "attack": label,
                    "n_adversaries": declared,
                    "refused_rows": float(1 - served.mean()),
                    "agree_bare": float((pred[served] == bare[served]).mean()),
                    "agree_honest_coded": float(
                        (pred[served] == honest_robust.argmax(axis=1)[served]).mean()
                    ),
                    "predict_s": seconds,
                    "time_vs_plain": seconds / t_plain,
                }
                rows.append(row)
                print(row, flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    seeds, n_rows, mlp_iter = ((0,), 64, 60) if args.quick else ((0, 1), 160, 300)
    t_start = time.perf_counter()
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        rows = run(seeds, n_rows, mlp_iter, {"in process": None, "dask": client})
    served = [r for r in rows if r["attack"] != "honest"]
    summary = {
        "refused_rows_honest_A2": float(
            np.mean(
                [r["refused_rows"] for r in rows if r["attack"] == "honest" and r["n_adversaries"]]
            )
        ),
        "min_agree_honest_coded_under_attack": float(min(r["agree_honest_coded"] for r in served)),
        "time_vs_plain_A2_honest": {
            name: float(
                np.median(
                    [
                        r["time_vs_plain"]
                        for r in rows
                        if r["executor"] == name and r["attack"] == "honest" and r["n_adversaries"]
                    ]
                )
            )
            for name in ("in process", "dask")
        },
    }
    print("summary:", summary)
    payload = {
        "config": {"K": K, "N": N, "S": S, "A": A, "seeds": seeds, "rows": n_rows},
        "summary": summary,
        "rows": rows,
        "platform": platform.platform(),
        "seconds": time.perf_counter() - t_start,
        "note": "timings on a 2-core machine shared with other jobs: ratios, not absolutes",
    }
    suffix = "_quick" if args.quick else ""
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"adversarial_e2e{suffix}.json").write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
