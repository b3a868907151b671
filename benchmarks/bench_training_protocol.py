"""The training benchmark's protocol: coded-smoothing against tuned baselines, fixed in advance.

The protocol is written in the user guide ("Protocol of the training benchmark"),
committed before the runs it governs; its results are reported whatever they are.
In short:

- regimes: digits 300, 500 and 1000 training images (a 64-256-10 ReLU MLP), then
  Fashion-MNIST 1000 and 5000 (a 784-128-10 ReLU MLP: a small network, so that all
  the fits of both regimes run in about an hour of 2 shared CPU cores) and breast
  cancer 250 (``load_breast_cancer``, standardised, a 30-64-2 MLP). Every regime
  has its own test set, disjoint from every other regime's: the digits' 1797
  images give three 250-image test sets, Fashion-MNIST's 10000 test images two of
  2000, breast cancer a test set of 200 of its 569 rows;
- ERM, weight decay, mixup, coded-smoothing with the convex loss
  ``(1 - mu) L_main + mu L_coded`` (``coded``, the primary method) and with the
  additive ``L_main + mu L_coded`` (``coded_additive``), each tuned by
  ``GridSearchCV`` with its default scorer (the plain network's accuracy: the
  README recipe) on the regime's own tuning draw (seed 100), 3 folds, 12 settings
  each, the learning rate included; fashion1000 also races a BatchNorm MLP
  (784-128-BN-ReLU-10): ERM and coded-smoothing with the coded batches updating
  the BatchNorm statistics (``bn_stats="both"``) or not (``"plain"``);
- every fit early-stopped on 20% of its training rows (stratified; at most 60
  epochs, patience 10 on the validation loss), the best checkpoint restored;
- each method at its chosen setting on 5 seeds (a new training draw and new
  weights each); paired 95% t-intervals; Holm over the primary comparisons
  (coded minus ERM, coded minus mixup) of every regime run, and Bonferroni
  intervals beside the 95% ones;
- ``--recipe``: the README recipe run as a user runs it, on each seed's own
  training draw: ``GridSearchCV`` (default scorer, 3 folds) over mu in
  {0, 0.3, 0.6} and the training N in {8, 32} at the learning rate chosen for
  ``coded``, refitted, scored on the regime's test set, paired with the
  regime's ``coded`` and ``erm`` runs.

Run ``python benchmarks/bench_training_protocol.py --regimes fashion1000 cancer250``
(one JSON per regime, ``training_protocol_<regime>.json``, rewritten after every
method so that a stopped run keeps what it finished), ``--recipe --regimes
digits300`` (adds the recipe's runs to that regime's JSON), and ``--combine``
(merges the regimes into ``training_protocol.json`` and ``.png``). ``--quick``: a
smoke run of a minute.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from bench_training import MLP, MixupNet, _jsonable
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from torch import nn

from sklearn_coded.datasets import load_fashion_mnist
from sklearn_coded.nn import make_coded_net

RESULTS = Path(__file__).resolve().parent / "results"
K = 16
TUNING_SEED = 100
LRS = [0.02, 0.05, 0.1]
CODED_GRID = [
    {"lr": LRS, "mu": [0.0], "n_coded": [K]},
    {"lr": LRS, "mu": [0.3], "n_coded": [K // 2]},
    {"lr": LRS, "mu": [0.6], "n_coded": [K // 2]},
    {"lr": LRS, "mu": [0.3], "n_coded": [2 * K]},
]
PROTOCOL = {
    "regimes": ["digits300", "digits500", "digits1000", "fashion1000", "fashion5000", "cancer250"],
    "test_size": {"digits": 250, "fashion": 2000, "cancer": 200},
    "fashion_pool": 20000,
    "seeds": [0, 1, 2, 3, 4],
    "cv": 3,
    "max_epochs": 60,
    "patience": 10,
    "valid_fraction": 0.2,
    "grids": {  # in the order of priority (the primary comparisons first)
        "erm": [{"lr": [0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.13, 0.16, 0.2, 0.3]}],
        "coded": CODED_GRID,
        "mixup": [{"lr": LRS, "mixup_alpha": [0.1, 0.2, 0.4, 1.0]}],
        "coded_additive": CODED_GRID,
        "weight_decay": [{"lr": LRS, "optimizer__weight_decay": [1e-4, 5e-4, 1e-3, 5e-3]}],
    },
    # the BatchNorm measurement: one regime, the BatchNorm MLP, the same budgets
    "bn_regimes": ["fashion1000"],
    "bn_grids": {"erm_bn": "erm", "coded_bn_both": "coded", "coded_bn_plain": "coded"},
    "recipe_grid": {"mu": [0.0, 0.3, 0.6], "n_coded": [K // 2, 2 * K]},
    # fixed before any fashion5000 result, when the shared machine's load (about 19
    # processes on 2 cores) left too little CPU for the full budget: 2 folds and 6
    # settings per method, equal for every method
    "reduced": {
        "fashion5000": {
            "cv": 2,
            "grids": {
                "erm": [{"lr": [0.01, 0.02, 0.03, 0.05, 0.1, 0.2]}],
                "coded": [
                    {"lr": [0.02, 0.05], "mu": [0.0], "n_coded": [K]},
                    {"lr": [0.02, 0.05], "mu": [0.3, 0.6], "n_coded": [K // 2]},
                ],
                "mixup": [{"lr": [0.02, 0.05], "mixup_alpha": [0.1, 0.2, 0.4]}],
                "coded_additive": [
                    {"lr": [0.02, 0.05], "mu": [0.0], "n_coded": [K]},
                    {"lr": [0.02, 0.05], "mu": [0.3, 0.6], "n_coded": [K // 2]},
                ],
                "weight_decay": [
                    {"lr": [0.02, 0.05], "optimizer__weight_decay": [1e-4, 5e-4, 1e-3]}
                ],
            },
        }
    },
}
PROTOCOL_QUICK = {
    **PROTOCOL,
    "regimes": ["fashion1000", "cancer250"],
    "fashion_pool": 4000,
    "seeds": [0, 1],
    "cv": 2,
    "max_epochs": 3,
    "patience": 2,
    "grids": {
        "erm": [{"lr": [0.05]}],
        "weight_decay": [{"lr": [0.05], "optimizer__weight_decay": [1e-3]}],
        "mixup": [{"lr": [0.05], "mixup_alpha": [0.2]}],
        "coded": [{"lr": [0.05], "mu": [0.0, 0.3], "n_coded": [K // 2]}],
        "coded_additive": [{"lr": [0.05], "mu": [0.3], "n_coded": [K // 2]}],
    },
    "recipe_grid": {"mu": [0.0, 0.3], "n_coded": [K // 2]},
}
PRIMARY = [("coded", "erm"), ("coded", "mixup")]
SECONDARY = [
    ("coded", "weight_decay"),
    ("coded_additive", "coded"),
    ("coded_additive", "erm"),
    ("mixup", "erm"),
    ("coded_bn_both", "erm_bn"),
    ("coded_bn_plain", "erm_bn"),
    ("coded_bn_plain", "coded_bn_both"),
    ("recipe", "erm"),
    ("recipe", "coded"),
]


class BNMLP(nn.Module):
    """Linear, BatchNorm1d, ReLU, Linear (logits): the BatchNorm measurement's network."""

    def __init__(self, n_in=784, hidden=128, n_out=10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, n_out)
        )

    def forward(self, x):
        return self.net(x)


# ------------------------------------------------------------------------- data
def _split(X, y, test_size, seed=0):
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)


def load_regimes(cfg, names):
    """``{name: (pool, test, module, module_params)}``; test sets disjoint across regimes."""
    out = {}
    digits = [n for n in cfg["regimes"] if n.startswith("digits")]
    if any(n in digits for n in names):
        X, y = load_digits(return_X_y=True)
        X, y = (X / 16.0).astype(np.float32), y.astype(np.int64)
        size = cfg["test_size"]["digits"]
        X_pool, X_test, y_pool, y_test = _split(X, y, size * len(digits))
        rest = X_test, y_test
        for i, name in enumerate(digits):  # the cut of the first protocol runs
            if i < len(digits) - 1:
                X_a, X_b, y_a, y_b = train_test_split(
                    *rest, train_size=size, stratify=rest[1], random_state=i
                )
                test, rest = (X_a, y_a), (X_b, y_b)
            else:
                test = rest
            params = {"n_in": 64, "hidden": (256,), "n_out": 10}
            out[name] = ((X_pool, y_pool), test, MLP, params)
    fashion = [n for n in cfg["regimes"] if n.startswith("fashion")]
    if any(n in fashion for n in names):
        pool = load_fashion_mnist("train", n_samples=cfg["fashion_pool"])
        X_test, y_test = load_fashion_mnist("test")
        order = np.random.default_rng(0).permutation(len(y_test))
        size = cfg["test_size"]["fashion"]
        for i, name in enumerate(fashion):  # consecutive blocks of one permutation
            rows = order[i * size : (i + 1) * size]
            params = {"n_in": 784, "hidden": (128,), "n_out": 10}
            out[name] = (pool, (X_test[rows], y_test[rows]), MLP, params)
    if "cancer250" in names:
        X, y = load_breast_cancer(return_X_y=True)
        X_pool, X_test, y_pool, y_test = _split(X, y, cfg["test_size"]["cancer"])
        mean, std = X_pool.mean(0), X_pool.std(0)  # the pool's statistics, not the test's
        pool = ((X_pool - mean) / std).astype(np.float32), y_pool.astype(np.int64)
        test = ((X_test - mean) / std).astype(np.float32), y_test.astype(np.int64)
        out["cancer250"] = (pool, test, MLP, {"n_in": 30, "hidden": (64,), "n_out": 2})
    return {name: out[name] for name in names}


def draw(pool, n, seed):
    """``n`` stratified training rows of the pool (the seed's draw)."""
    X_pool, y_pool = pool
    X, _, y, _ = train_test_split(
        X_pool, y_pool, train_size=n, stratify=y_pool, random_state=seed
    )  # fmt: skip
    return X, y


def regime_size(name):
    return int(name.lstrip("abcdefghijklmnopqrstuvwxyz"))


# ------------------------------------------------------------------------- nets
def _silent(*args, **kwargs):
    """EarlyStopping's sink: no message per fit."""


def protocol_net(method, cfg, seed, module=MLP, module_params=None):
    """An unfitted net of ``method`` (default setting), early-stopped, seeded by ``seed``."""
    module_params = (
        {"n_in": 64, "hidden": (256,), "n_out": 10} if module_params is None else module_params
    )
    params = {
        "criterion": nn.CrossEntropyLoss,
        "optimizer": torch.optim.SGD,
        "optimizer__momentum": 0.9,
        "lr": 0.05,
        "max_epochs": cfg["max_epochs"],
        "batch_size": K,
        "iterator_train__shuffle": True,
        "train_split": ValidSplit(cfg["valid_fraction"], stratified=True, random_state=seed),
        "callbacks": [
            (
                "early_stopping",
                EarlyStopping(patience=cfg["patience"], load_best=True, sink=_silent),
            )
        ],
        "verbose": 0,
    }
    if method.endswith("_bn"):
        module, method = BNMLP, method.removesuffix("_bn")
    elif "_bn_" in method:
        module = BNMLP
    if module is BNMLP:
        module_params = {"n_in": module_params["n_in"], "n_out": module_params["n_out"]}
        params["iterator_train__drop_last"] = True  # no one-row batch through BatchNorm
    params.update({f"module__{k}": v for k, v in module_params.items()})
    if method == "mixup":
        return MixupNet(module, random_state=seed, **params)
    net = NeuralNetClassifier(module, **params)
    # ERM and weight decay: the coded net with mu = 0, exactly skorch's training step
    weighting = "additive" if method == "coded_additive" else "convex"
    bn_stats = "plain" if method == "coded_bn_plain" else "both"
    return make_coded_net(
        net, n_coded=K, batch_size=K, mu=0.0, weighting=weighting, bn_stats=bn_stats,
        random_state=seed,
    )  # fmt: skip


# --------------------------------------------------------------------- the runs
def methods_of(name, cfg):
    """``{method: grid}`` raced in regime ``name``."""
    methods = dict(cfg.get("reduced", {}).get(name, cfg)["grids"])
    if name in cfg["bn_regimes"]:
        for method, like in cfg["bn_grids"].items():
            methods[method] = cfg["grids"][like]
    return methods


def _write(name, cfg, out, suffix="", tail=""):
    part = {"config": _jsonable(cfg), "regimes": {name: out}}
    path = RESULTS / f"training_protocol{suffix}_{name}{tail}.json"
    path.write_text(json.dumps(part, indent=1))


def protocol_regime(name, cfg, data, suffix="", only=None):
    """Tune every method by GridSearchCV on the regime's tuning draw; test on the seeds.

    ``only``: these methods alone, written to ``training_protocol_<name>__<methods>.json``
    (one process per method; ``--combine`` merges them).
    """
    pool, test, module, module_params = data
    n = regime_size(name)
    X_tune, y_tune = draw(pool, n, TUNING_SEED)
    folds = cfg.get("reduced", {}).get(name, cfg)["cv"]
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    methods = methods_of(name, cfg)
    if only:
        methods = {m: methods[m] for m in only}
    tail = "__" + "_".join(only) if only else ""
    out = {"n_train": n, "n_test": len(test[1]), "module_params": module_params, "methods": {}}
    out["environment"] = {"python": platform.python_version(), "torch": torch.__version__}
    for method, grid in methods.items():
        start = time.perf_counter()
        base = protocol_net(method, cfg, TUNING_SEED, module, module_params)
        search = GridSearchCV(base, grid, cv=cv, refit=False)
        search.fit(X_tune, y_tune)  # the default scorer: the plain network's accuracy
        chosen = search.best_params_
        scores, epochs = [], []
        for seed in cfg["seeds"]:
            X, y = draw(pool, n, seed)
            net = protocol_net(method, cfg, seed, module, module_params)
            net.set_params(**chosen).fit(X, y)
            scores.append(float(net.score(*test)))
            epochs.append(len(net.history))
        table = zip(
            search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
        )
        out["methods"][method] = {
            "chosen": _jsonable(chosen),
            "cv_accuracy": float(search.best_score_),
            "cv_table": [{**_jsonable(p), "cv_accuracy": float(m)} for p, m in table],
            "test_accuracy": scores,
            "mean": float(np.mean(scores)),
            "epochs_run": epochs,
            "seconds": time.perf_counter() - start,
        }
        _write(name, cfg, out, suffix, tail)  # partial results survive a stopped run
        print(
            f"[{name}] {method:15s} test {100 * np.mean(scores):6.2f}%  cv "
            f"{100 * search.best_score_:6.2f}%  {chosen}  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    return out


def recipe(name, cfg, data, suffix=""):
    """The README recipe on each seed's draw, added to the regime's JSON as ``recipe``."""
    pool, test, module, module_params = data
    path = RESULTS / f"training_protocol{suffix}_{name}.json"
    part = json.loads(path.read_text())
    out = part["regimes"][name]
    lr = out["methods"]["coded"]["chosen"]["lr"]
    cv = StratifiedKFold(cfg["cv"], shuffle=True, random_state=0)
    start, scores, chosen = time.perf_counter(), [], []
    for seed in cfg["seeds"]:
        X, y = draw(pool, regime_size(name), seed)
        net = protocol_net("coded", cfg, seed, module, module_params).set_params(lr=lr)
        search = GridSearchCV(net, cfg["recipe_grid"], cv=cv).fit(X, y)  # as the README
        scores.append(float(search.score(*test)))  # the deployed (plain) network
        chosen.append(search.best_params_)
    out["methods"]["recipe"] = {
        "chosen_per_seed": _jsonable(chosen),
        "grid": _jsonable(cfg["recipe_grid"]),
        "lr": lr,
        "test_accuracy": scores,
        "mean": float(np.mean(scores)),
        "seconds": time.perf_counter() - start,
    }
    path.write_text(json.dumps(part, indent=1))  # the regime's own config kept
    print(f"[{name}] recipe test {100 * np.mean(scores):6.2f}%  chose {chosen}", flush=True)


# -------------------------------------------------------------------- statistics
def paired(a, b, level=0.95):
    """Mean of ``a - b`` in points, its t-interval at ``level`` and the paired t-test p."""
    diff = 100 * (np.asarray(a) - np.asarray(b))
    half = stats.t.ppf(0.5 + level / 2, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    p = float(stats.ttest_rel(a, b).pvalue) if np.any(diff != diff[0]) else float(diff[0] == 0)
    return float(diff.mean()), [float(diff.mean() - half), float(diff.mean() + half)], p


def holm(pvalues):
    """Holm's step-down adjusted p-values (family-wise error)."""
    order = np.argsort(pvalues)
    m, adjusted, running = len(pvalues), np.empty(len(pvalues)), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted.tolist()


def protocol_summary(results):
    """Differences, Holm-adjusted p-values, Bonferroni intervals and the target per regime.

    The family is every primary comparison of every regime in the protocol (12): a
    comparison not run counts with p = 1 in Holm's adjustment (conservative).
    """
    regimes = results["regimes"]
    n_tests = len(PRIMARY) * len(results["config"]["regimes"])
    bonferroni = 1 - 0.05 / n_tests
    rows = []
    for name, regime in regimes.items():
        methods = regime["methods"]
        for a, b in PRIMARY + SECONDARY:
            if a not in methods or b not in methods:
                continue
            acc_a, acc_b = methods[a]["test_accuracy"], methods[b]["test_accuracy"]
            mean, ci, p = paired(acc_a, acc_b)
            _, ci_bonf, _ = paired(acc_a, acc_b, bonferroni)
            rows.append({"regime": name, "comparison": f"{a} - {b}", "points": mean,
                         "ci95": ci, "ci_bonferroni": ci_bonf, "p": p,
                         "primary": (a, b) in PRIMARY})  # fmt: skip
    primary = [row for row in rows if row["primary"]]
    padded = [row["p"] for row in primary] + [1.0] * (n_tests - len(primary))
    for row, adjusted in zip(primary, holm(padded), strict=False):
        row["p_holm"] = adjusted
    target = {}
    for name in regimes:
        by = {row["comparison"]: row for row in rows if row["regime"] == name}
        erm, mixup = by.get("coded - erm"), by.get("coded - mixup")
        target[name] = bool(
            erm and mixup and erm["points"] >= 0.5 and erm["ci95"][0] > 0 and mixup["ci95"][1] >= 0
        )
    return rows, target, bonferroni


def protocol_plot(results, rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["regimes"])
    cols = min(3, len(names))
    nrows = -(-len(names) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.4 * cols, 4.4 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        cells = [row for row in rows if row["regime"] == name]
        labels = [row["comparison"] for row in cells]
        means = np.array([row["points"] for row in cells])
        ci = np.array([row["ci95"] for row in cells]).reshape(-1, 2)
        colors = ["tab:red" if row["primary"] else "tab:blue" for row in cells]
        ax.barh(labels, means, xerr=[means - ci[:, 0], ci[:, 1] - means], color=colors,
                capsize=4)  # fmt: skip
        ax.axvline(0, color="k", lw=0.8)
        ax.axvline(0.5, color="tab:red", ls="--", lw=0.8)
        accs = {m: 100 * v["mean"] for m, v in results["regimes"][name]["methods"].items()}
        ax.set_title(f"{name}: paired difference, points (95% CI)\n"
                     f"ERM {accs.get('erm', float('nan')):.1f}%, "
                     f"coded {accs.get('coded', float('nan')):.1f}%", fontsize=9)  # fmt: skip
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def combine(cfg, suffix):
    results = {"config": _jsonable(cfg), "regimes": {}}
    for name in cfg["regimes"]:
        part = RESULTS / f"training_protocol{suffix}_{name}.json"
        if part.exists():
            results["regimes"][name] = json.loads(part.read_text())["regimes"][name]
        for split in sorted(RESULTS.glob(f"training_protocol{suffix}_{name}__*.json")):
            regime = json.loads(split.read_text())["regimes"][name]
            results["regimes"].setdefault(name, {**regime, "methods": {}})
            results["regimes"][name]["methods"].update(regime["methods"])
    rows, target, bonferroni = protocol_summary(results)
    results["comparisons"], results["target_met"] = rows, target
    results["bonferroni_level"] = bonferroni
    for row in rows:
        holm_p = f"  p_holm {row['p_holm']:.3f}" if "p_holm" in row else ""
        print(f"[{row['regime']}] {row['comparison']:30s} {row['points']:+.2f} "
              f"[{row['ci95'][0]:+.2f}, {row['ci95'][1]:+.2f}]  p {row['p']:.3f}{holm_p}")  # fmt: skip
    print(f"target (>= +0.5 over ERM, CI > 0, level with mixup) per regime: {target}")
    (RESULTS / f"training_protocol{suffix}.json").write_text(json.dumps(results, indent=1))
    protocol_plot(results, rows, RESULTS / f"training_protocol{suffix}.png")
    print(f"wrote {RESULTS}/training_protocol{suffix}.json and .png")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="smoke run of about a minute")
    parser.add_argument("--regimes", nargs="+", default=None, help="regimes to run")
    parser.add_argument("--recipe", action="store_true", help="add the README recipe's runs")
    parser.add_argument("--combine", action="store_true", help="merge the regimes' JSON")
    parser.add_argument("--methods", nargs="+", default=None, help="only these methods")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = PROTOCOL_QUICK if args.quick else PROTOCOL
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(exist_ok=True)
    names = args.regimes or ([] if args.combine else cfg["regimes"])
    unknown = set(names) - set(cfg["regimes"])
    if unknown:
        parser.error(f"--regimes must be among {cfg['regimes']}; got {sorted(unknown)}")
    if names:
        data = load_regimes(cfg, names)
        for name in names:
            if args.recipe:
                recipe(name, cfg, data[name], suffix)
            else:
                protocol_regime(name, cfg, data[name], suffix, args.methods)
    if args.combine or not args.regimes:
        combine(cfg, suffix)


if __name__ == "__main__":
    main()
