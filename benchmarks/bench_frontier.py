"""Code or replicate? Every scheme against replication on the redundancy frontier.

A user with slow workers can send each row to two workers instead of coding.
This races the codes against that, at the same number of workers N, on the
functions users deploy, under the straggler models they meet.

Functions f (outputs decoded; digits, 8x8 images, rows scaled to [0, 1]):

- ``mlp``: a torch MLP (64-128-10, GELU) trained here: logits;
- ``cnn``: a torch CNN (two 3x3 convolutions, GELU, pooling) trained here: logits;
- ``forest``: a random forest's ``predict_proba`` (piecewise constant);
- ``svc``: an RBF-SVC's ``predict_proba``;
- ``gbm``: gradient boosting's ``decision_function`` (piecewise constant).

Defaults are tuned on ``mlp`` and ``forest`` (tune rows) and every function is
scored on other rows; ``cnn``, ``svc`` and ``gbm`` are held out of the tuning.
Tuned: Berrut's placement (best of uniform, chebyshev, chebyshev2, interior,
bacc) and the adversary's block position per cell (the worst one on tune rows).

Grid: K in {8, 16}, N/K in {1.125, 1.25, 1.5, 2, 3, 4}. Straggler models
(``sklearn_coded.execution``): ``iid5``, ``iid10`` (each worker misses with p =
5%, 10%, per batch); ``rack`` (``GroupStragglers``: groups of 4 consecutive coded
workers down together with p = 10%, the contiguous layout); ``rack_random``
(the same racks with coded rows dealt at random, as the estimators do on real
executors); ``adversarial`` (``TargetedStragglers``: S = ceil(10% N) workers, the
worst block of adjacent coded points for a code, every replica of rows for
replication). Schemes: ``replication``; ``spline`` (interior points, the old
default), ``spline_sys`` (systematic: the shipped default, ``points="auto"``);
``berrut`` (best placement), ``berrut_sys``; ``lagrange`` (Chebyshev points, N <= 2K
only: unstable above); ``parm`` (learned parity models, ``ParityModel`` with r =
N - K parity networks trained here for the network logits ``mlp`` and ``cnn``, at
r <= 4: K = 8 at N/K in {1.125, 1.25, 1.5} and K = 16 at {1.125, 1.25}; ParM's
degraded mode: a group with more missing data outputs than arrived parities keeps
its arrived data outputs and loses the others).

Each decode is the package's serving decode: its coders, ``decode_groups`` with the
shipped quality floor (K results for a code: a batch with fewer is refused; for
replication a row none of whose replicas arrived is lost), then the estimators'
hook for refused batches (``settle_refused``, docs/method.rst 12.3: a refused batch
keeps the rows whose own worker answered, a systematic layout's data worker or a
replica); rows still lost count as disagreeing. Reported per cell: argmax agreement with the bare model and MSE of
the decoded outputs (relative to the outputs' variance, decoded rows only), the
fraction of rows lost, mean and 95% interval (t, 5 seeds of straggler draws).

``--latency``: p99 request latency and throughput on a dask ``LocalCluster``
(4 workers x 1 thread) at equal N for N/K in {1.25, 1.5, 2}: ``CodedClassifier``
with ``scheme="replication"`` against the default code, and the plain model, with
concurrent client threads, no stragglers and one slow worker (the serving
benchmark's ``SlowWorker`` and ``load``). Writes ``frontier_latency.json`` and
``.png``.

Run ``python benchmarks/bench_frontier.py`` (about 10 minutes on 2 shared cores)
or ``--quick``. Writes ``benchmarks/results/frontier.json`` and
``frontier_<straggler model>.png``.
"""

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from sklearn_coded.coding import CODERS, CodingPlan, ParityModel
from sklearn_coded.estimators._batching import batch_groups, decode_groups
from sklearn_coded.estimators._replicas import settle_refused
from sklearn_coded.execution import GroupStragglers, RandomStragglers, TargetedStragglers

RESULTS = Path(__file__).resolve().parent / "results"
FULL = {"K": [8, 16], "ratios": [1.125, 1.25, 1.5, 2, 3, 4], "seeds": 5, "epochs": 60}
QUICK = {"K": [8], "ratios": [1.25, 2], "seeds": 2, "epochs": 5}
FUNCTIONS = ("mlp", "cnn", "forest", "svc", "gbm")
TUNE_FUNCTIONS = ("mlp", "forest")
BERRUT_PLACEMENTS = ("uniform", "chebyshev", "chebyshev2", "interior", "bacc")
STRAGGLERS = ("iid5", "iid10", "rack", "rack_random", "adversarial")
SCHEMES = (
    "replication",
    "spline",
    "spline_sys",
    "berrut",
    "berrut_sys",
    "lagrange",
    "parm",
)


# ----------------------------------------------------------------------------- functions
def _torch_models():
    import torch
    from torch import nn

    mlp = nn.Sequential(nn.Linear(64, 128), nn.GELU(), nn.Linear(128, 10))
    cnn = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, 3, padding=1),
        nn.GELU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.GELU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 16, 10),
    )
    return torch, {"mlp": mlp, "cnn": cnn}


def train_functions(X, y, epochs, seed=0):
    """name -> f (rows -> outputs), every one fitted on (X, y)."""
    torch, nets = _torch_models()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    functions = {}
    for name, net in nets.items():
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(epochs):
            for idx in torch.randperm(len(Xt)).split(64):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
                opt.step()
        net.eval()

        def logits(Z, net=net):
            with torch.no_grad():
                return net(torch.tensor(Z, dtype=torch.float32)).double().numpy()

        functions[name] = logits
    forest = RandomForestClassifier(100, random_state=seed).fit(X, y)
    svc = CalibratedClassifierCV(SVC(random_state=seed), ensemble=False).fit(X, y)
    gbm = HistGradientBoostingClassifier(max_iter=50, random_state=seed).fit(X, y)
    functions.update(forest=forest.predict_proba, svc=svc.predict_proba)
    functions["gbm"] = gbm.decision_function
    return functions


# ------------------------------------------------------------------------------- schemes
#: ParM's cells: network logits, r = N - K <= PARM_MAX_R parity networks
PARM_FUNCTIONS = ("mlp", "cnn")
PARM_MAX_R = 4
#: the parity networks' training: bench_parm.py's choice for its MLP at k = 4 and 8
PARM_TRAINING = {"max_epochs": 150, "lr": 1e-3, "batch_size": 64}


def scheme_coders(scheme, placement=None):
    """(encoder factory N -> enc, decoder factory k -> dec) of a benchmark scheme.

    The decoder factory carries ``points`` and the package's scheme ``name``, from
    which :func:`decode` builds the :class:`CodingPlan` the serving hook reads.
    """
    name = {"spline_sys": "spline", "berrut_sys": "berrut"}.get(scheme, scheme)
    points = {
        "spline": "interior",
        "spline_sys": "systematic",
        "berrut_sys": "systematic",
        "lagrange": "chebyshev",
        "replication": "uniform",
    }.get(scheme, placement)
    encoder_cls, decoder_cls = CODERS[name]

    def decoder(k):
        return decoder_cls(k, points=points)

    decoder.scheme, decoder.points = name, points
    return (lambda N: encoder_cls(N, points=points)), decoder


def parm_applies(name, K, N):
    """ParM's cells: network logits and 1 <= r = N - K <= PARM_MAX_R."""
    return name in PARM_FUNCTIONS and 1 <= N - K <= PARM_MAX_R


def fit_parm(f, X_train, K, N, seed=0):
    """A ParityModel for f with k = K data and r = N - K parity workers (sum encoder)."""
    pm = ParityModel(f, k=K, r=N - K, random_state=seed, **PARM_TRAINING)
    return pm.fit(X_train)


def parm_results(pm, f, X_rows):
    """(N, B, n_outputs): the K data workers' f(x_k), then the r parity networks."""
    groups = batch_groups(len(X_rows), pm.k)
    (group,) = groups
    batches = X_rows[group.slots]  # (B, K, d)
    data = f(batches.reshape(-1, X_rows.shape[1])).reshape(len(batches), pm.k, -1)
    parity = pm.parity_outputs(pm.encode(batches))  # (B, r, n_outputs)
    return np.concatenate([data, parity], axis=1).transpose(1, 0, 2), groups


def parm_decode(pm, results, missing, groups, n_rows):
    """ParM's degraded mode (docs/method.rst 11): reconstruct what the parities allow."""
    (group,) = groups
    R = np.array(results, dtype=np.float64)
    R[missing] = np.nan
    out, _ = pm.decode(R[: pm.k].transpose(1, 0, 2), R[pm.k :].transpose(1, 0, 2), on_missing="nan")
    decoded = np.full((n_rows, R.shape[2]), np.nan)
    decoded[group.slots] = out
    return decoded


def coded_results(f, X_rows, K, N, encoder):
    """f on the N coded rows of every batch of K rows: (N, B, n_outputs), and the groups."""
    groups = batch_groups(len(X_rows), K)
    (group,) = groups  # len(X_rows) is a multiple of K
    E = encoder(N).fit(X_rows[:K]).encoding_matrix(K)
    batches = X_rows[group.slots]  # (B, K, d)
    coded = np.einsum("nk,bkd->nbd", E, batches)
    out = f(coded.reshape(-1, X_rows.shape[1]))
    return out.reshape(N, len(group.slots), -1), groups


def decode(results, missing, groups, decoder, n_rows):
    """The package's serving decode with the shipped floor; NaN rows are lost.

    ``decode_groups`` with each decoder's ``min_results()`` as the floor (K results
    for a code, 1 for replication), then the estimators' hook for refused batches
    (``settle_refused``: rows whose own worker answered are kept). ``decoder`` is
    a :func:`scheme_coders` factory, or a fitted ``ParityModel`` (ParM).
    """
    if isinstance(decoder, ParityModel):
        return parm_decode(decoder, results, missing, groups, n_rows)
    K = groups[0].slots.shape[1]
    plan = CodingPlan(decoder.scheme, batch_size=K, n_coded=results.shape[0], points=decoder.points)
    report = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = decode_groups(results, ~missing, groups, decoder, n_rows, report=report)
        settle_refused(out, results, ~missing, groups, plan, report)
    return out


def score(decoded, bare):
    """(agreement, relative MSE on decoded rows, lost fraction); lost rows disagree."""
    kept = np.isfinite(decoded).all(axis=1)
    agree = np.zeros(len(bare), dtype=bool)
    agree[kept] = decoded[kept].argmax(axis=1) == bare[kept].argmax(axis=1)
    var = bare.var(axis=0).mean()
    mse = float(((decoded[kept] - bare[kept]) ** 2).mean() / var) if kept.any() else np.nan
    return float(agree.mean()), mse, float(1 - kept.mean())


# ---------------------------------------------------------------------------- stragglers
def draw_missing(model, scheme, N, K, n_batches, seed, worst_start=None):
    """(N, B) missing mask of a straggler model for one scheme and seed."""
    rng = np.random.RandomState(seed)
    S = int(np.ceil(0.1 * N))
    if model == "iid5":
        return RandomStragglers(0.05).draw_missing(N, n_batches, rng)
    if model == "iid10":
        return RandomStragglers(0.10).draw_missing(N, n_batches, rng)
    if model in ("rack", "rack_random"):
        layout = "contiguous" if model == "rack" else "random"
        return GroupStragglers(4, 0.1, layout=layout).draw_missing(N, n_batches, rng)
    if scheme == "replication":
        targeted = TargetedStragglers(S, target="replicas", n_samples=K)
    else:
        targeted = TargetedStragglers(S, start=worst_start)
    return targeted.draw_missing(N, n_batches, rng)


def worst_block(results, groups, decoder, bare, N):
    """The adversary's block start: the lowest agreement (then highest MSE) on tune rows."""
    S = int(np.ceil(0.1 * N))
    n_batches = results.shape[1]
    worst, key = 0, None
    for start in np.unique(np.linspace(0, N - S, 9).round().astype(int)):  # 9 positions
        missing = np.zeros((N, n_batches), dtype=bool)
        missing[start : start + S] = True
        agree, mse, _ = score(decode(results, missing, groups, decoder, len(bare)), bare)
        candidate = (agree, -np.nan_to_num(mse, nan=np.inf))
        if key is None or candidate < key:
            worst, key = start, candidate
    return worst


def interval(values):
    """Mean and 95% t-interval half-width over seeds."""
    values = np.asarray(values, dtype=float)
    if values.size < 2 or not np.isfinite(values).all():
        return float(np.nanmean(values)), float("nan")
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean()), float(half)


# ---------------------------------------------------------------------------------- race
def run_cell(f, data, scheme, K, N, placement, seeds, pm=None):
    """Every straggler model's scores of one scheme in one (f, K, N) cell.

    ``pm``: the fitted ``ParityModel`` of ``scheme="parm"``.
    """
    X_tune, X_score, bare_tune, bare_score = data
    if pm is not None:
        decoder = pm

        def run(X_rows):
            return parm_results(pm, f, X_rows)
    else:
        encoder, decoder = scheme_coders(scheme, placement)

        def run(X_rows):
            return coded_results(f, X_rows, K, N, encoder)

    results, groups = run(X_score)
    worst = None
    if scheme != "replication":  # the adversary's block, chosen on tune rows
        tune_results, tune_groups = run(X_tune)
        worst = worst_block(tune_results, tune_groups, decoder, bare_tune, N)
    n_batches = results.shape[1]
    none = np.zeros((N, n_batches), dtype=bool)
    exact = score(decode(results, none, groups, decoder, len(bare_score)), bare_score)
    cell = {"none": dict(zip(("agreement", "mse", "lost"), exact, strict=True))}
    for model in STRAGGLERS:
        runs = [
            score(
                decode(
                    results,
                    draw_missing(model, scheme, N, K, n_batches, seed, worst),
                    groups,
                    decoder,
                    len(bare_score),
                ),
                bare_score,
            )
            for seed in seeds
        ]
        cell[model] = {
            metric: interval([run[i] for run in runs])
            for i, metric in enumerate(("agreement", "mse", "lost"))
        }
    cell["worst_start"] = worst
    return cell


def tune_berrut(functions, data, config):
    """Berrut's placement of highest mean agreement on the tune functions' tune rows."""
    means = {}
    for placement in BERRUT_PLACEMENTS:
        encoder, decoder = scheme_coders("berrut", placement)
        values = []
        for name in TUNE_FUNCTIONS:
            X_tune, bare_tune = data[name][0], data[name][2]
            for K in config["K"]:
                for ratio in config["ratios"]:
                    N = round(ratio * K)
                    results, groups = coded_results(functions[name], X_tune, K, N, encoder)
                    for model in ("iid10", "rack_random"):
                        missing = draw_missing(model, "berrut", N, K, results.shape[1], 99)
                        values.append(
                            score(
                                decode(results, missing, groups, decoder, len(bare_tune)), bare_tune
                            )[0]
                        )
        means[placement] = float(np.mean(values))
    return max(means, key=means.get), means


def race(functions, data, config, schemes, X_train):
    placement, placements = tune_berrut(functions, data, config)
    print(f"Berrut placement (tuned on {TUNE_FUNCTIONS}): {placement} {placements}", flush=True)
    seeds = list(range(config["seeds"]))
    cells = []
    for name in FUNCTIONS:
        for K in config["K"]:
            for ratio in config["ratios"]:
                N = round(ratio * K)
                for scheme in schemes:
                    if scheme == "lagrange" and N > 2 * K:
                        continue  # unstable above (bench_accuracy.py): not raced
                    if scheme == "parm" and not parm_applies(name, K, N):
                        continue  # ParM: network logits, r <= PARM_MAX_R parity networks
                    tic = time.perf_counter()
                    pm = fit_parm(functions[name], X_train, K, N) if scheme == "parm" else None
                    train = round(time.perf_counter() - tic, 2)
                    f = functions[name]
                    cell = run_cell(f, data[name], scheme, K, N, placement, seeds, pm=pm)
                    if pm is not None:
                        cell["parity_training_seconds"] = train
                    cell.update(
                        function=name,
                        K=K,
                        N=N,
                        ratio=ratio,
                        scheme=scheme,
                        seconds=round(time.perf_counter() - tic, 2),
                    )
                    cells.append(cell)
            print(f"  {name} K={K} done", flush=True)
    return cells, placement, placements


# ------------------------------------------------------------------------------- summary
CANDIDATES = ("spline", "spline_sys", "berrut", "berrut_sys")


def lookup(cells):
    return {(c["function"], c["K"], c["ratio"], c["scheme"]): c for c in cells}


def choose_default(cells):
    """The candidate default of highest mean agreement on the tune functions, every model."""
    means = {}
    for scheme in CANDIDATES:
        values = [
            c[model]["agreement"][0]
            for c in cells
            if c["scheme"] == scheme and c["function"] in TUNE_FUNCTIONS
            for model in STRAGGLERS
        ]
        means[scheme] = float(np.mean(values)) if values else float("nan")
    return max(means, key=lambda s: np.nan_to_num(means[s], nan=-1)), means


def targets(cells, default):
    """The issue's targets for ``default`` against replication, cell by cell."""
    table = lookup(cells)
    out = {
        "low_redundancy_iid10": [],
        "adversarial_and_rack": [],
        "exact_at_s0": [],
        "replication_wins": [],
        "vs_parm": [],
    }
    for (name, K, ratio, scheme), cell in table.items():
        if scheme != default or (name, K, ratio, "replication") not in table:
            continue
        rep = table[(name, K, ratio, "replication")]
        out["exact_at_s0"].append(
            {
                "function": name,
                "K": K,
                "ratio": ratio,
                "agreement": cell["none"]["agreement"],
                "mse": cell["none"]["mse"],
            }
        )
        for model in STRAGGLERS:
            ours, theirs = cell[model]["agreement"], rep[model]["agreement"]
            row = {
                "function": name,
                "K": K,
                "ratio": ratio,
                "model": model,
                "default": ours[0],
                "replication": theirs[0],
                "gap": ours[0] - theirs[0],
            }
            if model == "iid10" and ratio <= 1.5 and name in ("mlp", "cnn"):
                out["low_redundancy_iid10"].append({**row, "met": row["gap"] >= 0.02})
            parm = table.get((name, K, ratio, "parm"))
            if parm is not None:  # ParM at equal N (its degraded mode: what r parities recover)
                gap = ours[0] - parm[model]["agreement"][0]
                out["vs_parm"].append(
                    {**row, "parm": parm[model]["agreement"][0], "gap": gap, "met": gap >= 0}
                )
            if model in ("adversarial", "rack", "rack_random"):
                out["adversarial_and_rack"].append({**row, "met": row["gap"] >= 0})
            if theirs[0] - np.nan_to_num(theirs[1]) > ours[0] + np.nan_to_num(ours[1]):
                out["replication_wins"].append(row)  # past both 95% intervals
    return out


def plot(cells, config, schemes, path_for):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = lookup(cells)
    for model in STRAGGLERS:
        fig, axes = plt.subplots(
            len(config["K"]),
            len(FUNCTIONS),
            squeeze=False,
            figsize=(3.2 * len(FUNCTIONS), 3 * len(config["K"])),
            sharex=True,
        )
        for i, K in enumerate(config["K"]):
            for j, name in enumerate(FUNCTIONS):
                ax = axes[i, j]
                for scheme in schemes:
                    pts = [
                        (r, table[(name, K, r, scheme)][model]["agreement"])
                        for r in config["ratios"]
                        if (name, K, r, scheme) in table
                    ]
                    if not pts:
                        continue
                    r, a = zip(*pts, strict=True)
                    ax.errorbar(
                        r,
                        [m for m, _ in a],
                        yerr=[np.nan_to_num(h) for _, h in a],
                        marker="o",
                        ms=3,
                        capsize=2,
                        label=scheme,
                        ls="--" if scheme == "replication" else "-",
                    )
                ax.set_xscale("log")
                ax.set_xticks(config["ratios"], [f"{r:g}" for r in config["ratios"]], fontsize=7)
                ax.minorticks_off()
                ax.set_title(f"{name}, K={K}" + (" (tune)" if name in TUNE_FUNCTIONS else ""))
                ax.set_xlabel("N / K")
                ax.set_ylabel("argmax agreement")
        axes[0, 0].legend(fontsize=7)
        fig.suptitle(f"Frontier under {model} stragglers (mean, 95% interval over seeds)")
        fig.tight_layout()
        fig.savefig(path_for(model), dpi=90)
        plt.close(fig)


def load_data():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    order = np.random.RandomState(0).permutation(len(X))
    X, y = X[order], y[order]
    return X[:1000], y[:1000], X[1000:1384], X[1392:1776]  # tune and score: 384 rows each


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=SCHEMES)
    parser.add_argument("--replot", action="store_true", help="plots from the saved JSON")
    parser.add_argument(
        "--latency", action="store_true", help="p99 and throughput on dask (about 5 minutes)"
    )
    args = parser.parse_args()
    if args.latency:
        from frontier_latency import LATENCY, plot_latency, run_latency

        tic = time.perf_counter()
        cells = run_latency()
        out = {
            "config": {**LATENCY, "ratios": list(LATENCY["ratios"])},
            "cells": cells,
            "seconds": round(time.perf_counter() - tic, 1),
            "platform": platform.platform(),
            "note": "absolute timings drift with the load of a shared 2-core machine; "
            "compare the schemes of one cell, measured in turns",
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "frontier_latency.json").write_text(json.dumps(out, indent=1, default=float))
        plot_latency(cells, RESULTS / "frontier_latency.png")
        print(f"done in {out['seconds']} s")
        return
    if args.replot:
        saved = json.loads((RESULTS / "frontier.json").read_text())
        plot(
            saved["cells"],
            saved["config"],
            saved["schemes"],
            lambda m: RESULTS / f"frontier_{m}.png",
        )
        return
    config = QUICK if args.quick else FULL
    schemes = list(args.schemes)
    threadpool_limits(1)  # OpenMP and BLAS threads spin on shared cores: 100x slower
    tic = time.perf_counter()
    X_train, y_train, X_tune, X_score = load_data()
    functions = train_functions(X_train, y_train, config["epochs"])
    data = {}
    for name, f in functions.items():
        data[name] = (X_tune, X_score, f(X_tune), f(X_score))
        print(f"{name}: trained, {time.perf_counter() - tic:.0f} s", flush=True)
    cells, placement, placements = race(functions, data, config, schemes, X_train)
    default, default_means = choose_default(cells)
    summary = {name: targets(cells, name) for name in CANDIDATES}
    out = {
        "config": config,
        "schemes": schemes,
        "functions": FUNCTIONS,
        "tune_functions": TUNE_FUNCTIONS,
        "berrut_placement": placement,
        "berrut_placements": placements,
        "default_choice": default,
        "default_means_on_tune_functions": default_means,
        "targets": summary,
        "cells": cells,
        "seconds": round(time.perf_counter() - tic, 1),
        "platform": platform.platform(),
    }
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"frontier{suffix}.json").write_text(json.dumps(out, indent=1, default=float))
    plot(cells, config, schemes, lambda m: RESULTS / f"frontier_{m}{suffix}.png")
    print(f"default chosen on {TUNE_FUNCTIONS}: {default} {default_means}")
    print(f"done in {out['seconds']} s")


if __name__ == "__main__":
    main()
