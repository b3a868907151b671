"""Does coded-smoothing regularise? Tuned against tuned baselines where regularisers matter.

Coded-smoothing trains on ``L = (1 - mu) L_main + mu L_coded`` (docs/method.rst section 5).
Its regularising signal is the decoding error ``D f(E h) - f(h)``, which vanishes as
N grows; so it is measured in small-data regimes, where an over-parameterised network
overfits and a regulariser has room:

- ``moons``: a noisy two-moons task in 2-D (``make_moons(noise=0.35)`` with 10% of
  the training labels flipped), 200 training points per seed, a 2-64-64-2 MLP,
  5000 clean test points; a decision-boundary plot;
- ``digits300``: 300 training images of ``load_digits`` (pixels / 16), a
  64-256-10 MLP (the setting of issue 9), a fixed test set of 719 images.

Every net: SGD (lr 0.05, momentum 0.9), K = 16 rows per batch, 60 epochs (moons)
and 40 (digits300), long enough that ERM fits its training rows (the regime where
regularisers matter). Methods, each tuned the same way:

- ``erm``: plain training;
- ``weight_decay``: SGD weight decay, grid ``GRID["weight_decay"]``;
- ``mixup``: Zhang et al. (2018), ``train_step_single`` mixes each batch with a
  permutation of itself, lam ~ Beta(alpha, alpha), grid over alpha;
- ``coded``: :func:`sklearn_coded.nn.make_coded_net`; stage 1 is a grid over
  ``coded_loss`` (task, consistency), mu in {0.3, 0.6} and N/K in {0.5, 2, 4}
  with the package defaults (whole network coded, fresh jittered Chebyshev coded
  points per batch); stage 2 tries the variants on the stage-1 winner: fixed
  Chebyshev points, a coded block (the last hidden nonlinearity), encoder
  smoothing lam_enc = 1e-3.

Hyperparameters are chosen by 3-fold cross-validation on a *tuning draw* of the
training data (its own seed, never the test rows); then every method, at its chosen
setting, is refitted on 5 independent training draws (seeds 0-4: new training rows and
new weights) and scored on the fixed test set. Reported: mean test accuracy and the
95% t-interval of the paired difference to ERM over the seeds.

Also measured: the decoding error (RMS of ``D f(E h) - f(h)`` at the coded block,
logged by the net per batch) in the first and last epoch against N/K, and the
training cost per epoch (CPU seconds, torch on one thread; median of 3 interleaved
repeats) against ERM, with the target ``1.15 (1 + N/K)``.

Fashion-MNIST (the CNN of ``bench_robustness.py``, 2000 fixed test images) runs
separately, one regime per call:

- ``--regimes fashion1000 --out training_fashion1000_tuned``: 1000 training images
  (30 epochs), tuned like the others on its own tuning draw (about 9 minutes);
- ``--regimes fashion5000 --settings-from fashion1000 --settings-json
  training_fashion1000_tuned.json --erm-early-epochs 13``: 5000 images, 20 epochs,
  every method at the setting chosen on fashion1000 (tuning at 5000 images is too
  costly on 2 shared cores), and ERM stopped at epoch 13 (about 9 minutes). 20 epochs: one ERM run with 20% of its training rows held out had its
  lowest validation loss at epoch 8 and its best validation accuracy at epoch 13,
  with the validation loss rising after (ERM overfits, so regularisers have room;
  ``--regimes fashion5000 --epoch-check`` writes ``training_fashion5000_epochs.json``);
- ``--regimes fashion1000 --settings-from digits300``: the digits' settings carried
  over untuned (``training_fashion1000.*``).

The training draws come from the first ``max(10000, 4 n)`` training images.

The grid is sized for 2 CPU cores shared by five jobs (about 400 s of CPU time):
N/K in {0.75, 1.25, 1.5} and coding the head on the penultimate features are in the
code (``--quick`` runs the head variant) but not in the full run.

``--protocol`` runs instead the protocol written in the user guide before its runs:
``python benchmarks/bench_training.py --protocol ARGS`` is
``python benchmarks/bench_training_protocol.py ARGS`` (see that script).

Run ``python benchmarks/bench_training.py`` (about 20 minutes on 2 busy cores) or
``--quick`` (a smoke run of a minute). Writes ``benchmarks/results/training.json``
and ``training.png`` (``training_quick.*`` with ``--quick``).
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from sklearn.datasets import load_digits, make_moons
from sklearn.model_selection import (
    StratifiedKFold,
    cross_val_score,
    train_test_split,
)
from skorch import NeuralNetClassifier
from skorch.dataset import ValidSplit, unpack_data
from torch import nn

from sklearn_coded.datasets import load_fashion_mnist
from sklearn_coded.nn import make_coded_net

RESULTS = Path(__file__).resolve().parent / "results"
K = 16
TUNING_SEED = 100

FULL = {
    "seeds": [0, 1, 2, 3, 4],
    "cv": 3,
    "epochs": {"moons": 60, "digits300": 40, "fashion1000": 30, "fashion5000": 20},
    "grid": {
        "weight_decay": [1e-4, 1e-3, 1e-2],
        "mixup_alpha": [0.2, 1.0],
        "coded_loss": ["task", "consistency"],
        "mu": [0.3, 0.6],
        "ratio": [0.5, 2.0, 4.0],
    },
    "variants": ["fixed_points", "block_hidden", "lam_enc"],
    "cost_epochs": 3,
    "cost_ratios": [0.5, 1.0, 2.0, 4.0],
}
QUICK = {
    "seeds": [0, 1],
    "cv": 2,
    "epochs": {"moons": 5, "digits300": 4, "fashion1000": 1, "fashion5000": 1},
    "grid": {
        "weight_decay": [1e-3],
        "mixup_alpha": [0.2],
        "coded_loss": ["consistency"],
        "mu": [0.5],
        "ratio": [0.5, 2.0],
    },
    "variants": ["fixed_points", "block_hidden", "block_head", "lam_enc"],
    "cost_epochs": 1,
    "cost_ratios": [1.0],
}


class MLP(nn.Module):
    """ReLU network ``net``: Linear, ReLU, (Linear, ReLU,) Linear, returning logits."""

    def __init__(self, n_in=64, hidden=(256,), n_out=10):
        super().__init__()
        layers, width = [], n_in
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.net = nn.Sequential(*layers, nn.Linear(width, n_out))

    def forward(self, x):
        return self.net(x)


class MixupNet(NeuralNetClassifier):
    """mixup through skorch's ``train_step_single`` hook.

    Each batch is mixed with a random permutation of itself,
    ``x = lam x_i + (1 - lam) x_j``, and trained on
    ``lam L(f(x), y_i) + (1 - lam) L(f(x), y_j)``, lam ~ Beta(alpha, alpha).
    """

    def __init__(self, module, *args, mixup_alpha=0.2, random_state=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.mixup_alpha = mixup_alpha
        self.random_state = random_state

    def fit(self, X, y=None, **fit_params):
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        return super().fit(X, y, **fit_params)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        alpha = torch.tensor(float(self.mixup_alpha))
        lam = torch.distributions.Beta(alpha, alpha).sample().item()
        permutation = torch.randperm(len(yi))
        y_pred = self.infer(lam * Xi + (1 - lam) * Xi[permutation], **fit_params)
        loss = lam * self.get_loss(y_pred, yi, X=Xi, training=True) + (1 - lam) * self.get_loss(
            y_pred, yi[permutation], X=Xi, training=True
        )
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}


# ------------------------------------------------------------------------ regimes
def moons_draw(seed, n_samples=200, flip=0.1):
    X, y = make_moons(n_samples, noise=0.35, random_state=seed)
    rng = np.random.default_rng(seed)
    flipped = rng.random(n_samples) < flip
    y = np.where(flipped, 1 - y, y)
    return X.astype(np.float32), y.astype(np.int64)


class Regime:
    """A training-data generator per seed, a fixed test set and the network."""

    module = MLP
    train_size = {"digits300": 300, "fashion1000": 1000, "fashion5000": 5000}

    def __init__(self, name):
        self.name = name
        if name == "moons":
            X_test, y_test = make_moons(5000, noise=0.35, random_state=12345)
            self.test = X_test.astype(np.float32), y_test.astype(np.int64)
            self.module_params = {"n_in": 2, "hidden": (64, 64), "n_out": 2}
            self.blocks = {"hidden": "net.3", "head": "net.4"}
        elif name.startswith("fashion"):
            from bench_robustness import CNN

            # a pool of at least 4 training draws, so the seeds' draws differ
            n_pool = max(10000, 4 * self.train_size[name])
            X_pool, y_pool = load_fashion_mnist("train", n_samples=n_pool)
            self.pool = X_pool, y_pool
            self.test = load_fashion_mnist("test", n_samples=2000)
            self.module, self.module_params = CNN, {}
            self.blocks = {"hidden": "features.5", "head": "head"}
        else:
            X, y = load_digits(return_X_y=True)
            X = (X / 16.0).astype(np.float32)
            X_pool, X_test, y_pool, y_test = train_test_split(
                X, y.astype(np.int64), test_size=0.4, stratify=y, random_state=0
            )
            self.pool = X_pool, y_pool
            self.test = X_test, y_test
            self.module_params = {"n_in": 64, "hidden": (256,), "n_out": 10}
            self.blocks = {"hidden": "net.1", "head": "net.2"}

    def train(self, seed):
        if self.name == "moons":
            return moons_draw(seed)
        X_pool, y_pool = self.pool
        X, _, y, _ = train_test_split(
            X_pool, y_pool, train_size=self.train_size[self.name], stratify=y_pool,
            random_state=seed,
        )  # fmt: skip
        return X, y


def base_params(regime, epochs):
    params = {
        "criterion": nn.CrossEntropyLoss,
        "optimizer": torch.optim.SGD,
        "optimizer__momentum": 0.9,
        "lr": 0.05,
        "max_epochs": epochs,
        "batch_size": K,
        "iterator_train__shuffle": True,
        "train_split": None,
        "verbose": 0,
    }
    params.update({f"module__{k}": v for k, v in regime.module_params.items()})
    return params


def make(method, regime, epochs, seed, **hyper):
    """An unfitted net of ``method`` with hyperparameters ``hyper``, seeded by ``seed``."""
    params = base_params(regime, epochs)
    if method == "mixup":
        return MixupNet(regime.module, random_state=seed, **params, **hyper)
    net = NeuralNetClassifier(regime.module, **params)
    if method == "weight_decay":
        net.set_params(optimizer__weight_decay=hyper.pop("weight_decay"))
    # ERM is the coded net with mu = 0: exactly plain training, seeded like the others
    coded = {"mu": 0.0, "n_coded": K} if method in ("erm", "weight_decay") else {}
    coded.update(hyper)
    n_coded = coded.pop("n_coded")
    return make_coded_net(net, n_coded=n_coded, batch_size=K, random_state=seed, **coded)


def cv_search(method, regime, data, cfg, epochs, grid):
    """GridSearchCV on the tuning draw; returns the best setting and the table."""
    X, y = data
    cv = StratifiedKFold(cfg["cv"], shuffle=True, random_state=0)
    rows = []
    for hyper in grid:
        try:
            scores = cross_val_score(
                make(method, regime, epochs, TUNING_SEED, **hyper), X, y, cv=cv
            )
            accuracy = float(np.mean(scores))
        except ValueError as error:  # a fixed layout that decodes rows exactly is refused
            print(f"[{regime.name}] {hyper}: refused ({error})")
            accuracy = float("nan")
        rows.append({**hyper, "cv_accuracy": accuracy})
    best = max(rows, key=lambda row: np.nan_to_num(row["cv_accuracy"], nan=-1.0))
    return {k: v for k, v in best.items() if k != "cv_accuracy"}, rows


def tune(regime, cfg):
    """Choose every method's hyperparameters by CV on the tuning draw."""
    data = regime.train(TUNING_SEED)
    epochs = cfg["epochs"][regime.name]
    g = cfg["grid"]
    start = time.perf_counter()
    chosen, tables = {"erm": {}}, {}
    chosen["weight_decay"], tables["weight_decay"] = cv_search(
        "weight_decay", regime, data, cfg, epochs, [{"weight_decay": w} for w in g["weight_decay"]]
    )
    chosen["mixup"], tables["mixup"] = cv_search(
        "mixup", regime, data, cfg, epochs, [{"mixup_alpha": a} for a in g["mixup_alpha"]]
    )
    stage1 = [
        {"coded_loss": loss, "mu": mu, "n_coded": round(ratio * K)}
        for loss in g["coded_loss"]
        for mu in g["mu"]
        for ratio in g["ratio"]
    ]
    best1, tables["coded_stage1"] = cv_search("coded", regime, data, cfg, epochs, stage1)
    fixed = "chebyshev"
    if best1["n_coded"] % K == 0 and (best1["n_coded"] // K) % 2 == 1:
        fixed = ("chebyshev", "chebyshev2")  # N/K odd: Chebyshev points coincide
    every_variant = {
        "fixed_points": {**best1, "jitter": False, "points": fixed},
        "block_hidden": {**best1, "block": regime.blocks["hidden"]},
        "block_head": {**best1, "block": regime.blocks["head"]},
        "lam_enc": {**best1, "smoothing": (1e-3, 0.0)},
    }
    variants = [every_variant[name] for name in cfg["variants"]]
    _, tables["coded_stage2"] = cv_search("coded", regime, data, cfg, epochs, variants)
    every = tables["coded_stage1"] + tables["coded_stage2"]
    best = max(every, key=lambda row: np.nan_to_num(row["cv_accuracy"], nan=-1.0))
    chosen["coded"] = {k: v for k, v in best.items() if k != "cv_accuracy"}
    chosen["coded_stage1"] = best1
    print(f"[{regime.name}] tuned in {time.perf_counter() - start:.0f} s: {chosen}")
    return chosen, tables


def evaluate(regime, cfg, chosen, erm_early=None):
    """Test accuracy of every method at its chosen setting, over the seeds.

    ``erm_early``: also ERM stopped after this many epochs (``erm_early``).
    """
    epochs = cfg["epochs"][regime.name]
    X_test, y_test = regime.test
    methods = {
        "erm": ("erm", {}),
        "weight_decay": ("weight_decay", chosen["weight_decay"]),
        "mixup": ("mixup", chosen["mixup"]),
        "coded": ("coded", chosen["coded"]),
    }
    if chosen["coded_stage1"] != chosen["coded"]:
        methods["coded_stage1"] = ("coded", chosen["coded_stage1"])
    if erm_early:
        methods["erm_early"] = ("erm", {"epochs": erm_early})
    out, nets = {}, {}
    for name, (method, hyper) in methods.items():
        scores, errors = [], []
        for seed in cfg["seeds"]:
            X, y = regime.train(seed)
            setting = dict(hyper)
            net = make(method, regime, setting.pop("epochs", epochs), seed, **setting)
            net.fit(X, y)
            scores.append(float(net.score(X_test, y_test)))
            if method == "coded":
                errors.append(decoding_errors(net))
            if seed == cfg["seeds"][0]:
                nets[name] = net
        out[name] = {"hyper": _jsonable(hyper), "test_accuracy": scores}
        out[name]["mean"] = float(np.mean(scores))
        if errors:
            out[name]["decoding_error_first_last_epoch"] = np.mean(errors, axis=0).tolist()
    erm = np.array(out["erm"]["test_accuracy"])
    for name, entry in out.items():
        diff = 100 * (np.array(entry["test_accuracy"]) - erm)
        half = (
            stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
            if len(diff) > 1
            else float("nan")
        )
        entry["minus_erm_points"] = float(diff.mean())
        entry["minus_erm_ci95"] = [float(diff.mean() - half), float(diff.mean() + half)]
        print(
            f"[{regime.name}] {name:13s} {100 * entry['mean']:6.2f}%  minus ERM "
            f"{diff.mean():+.2f} [{entry['minus_erm_ci95'][0]:+.2f}, "
            f"{entry['minus_erm_ci95'][1]:+.2f}]  {entry['hyper']}"
        )
    return out, nets


def epoch_check(regime, epochs=40):
    """One ERM run (seed 0) with 20% of its training rows held out: loss per epoch."""
    params = base_params(regime, epochs)
    params["train_split"] = ValidSplit(0.2, stratified=True, random_state=0)
    torch.manual_seed(0)
    net = NeuralNetClassifier(regime.module, **params).fit(*regime.train(0))
    out = {key: net.history[:, key] for key in ("train_loss", "valid_loss", "valid_acc")}
    out["best_valid_loss_epoch"] = int(np.argmin(out["valid_loss"])) + 1
    out["best_valid_acc_epoch"] = int(np.argmax(out["valid_acc"])) + 1
    print(
        f"[{regime.name}] ERM: lowest validation loss at epoch {out['best_valid_loss_epoch']}, "
        f"best validation accuracy at epoch {out['best_valid_acc_epoch']} of {epochs}"
    )
    return out


def decoding_errors(net):
    """Mean logged decoding error of the first and the last epoch."""
    return [float(np.mean(net.history[i, "batches", :, "train_decoding_error"])) for i in (0, -1)]


def cost(regime, cfg, chosen):
    """CPU seconds per epoch of coded training against ERM, and the decoding error, vs N/K."""
    X, y = regime.train(0)
    epochs = cfg["cost_epochs"]

    def per_epoch(net):
        start = time.process_time()
        net.fit(X, y)
        return (time.process_time() - start) / epochs, net

    # the chosen setting at every N/K, with the default (jittered) points
    hyper = {k: v for k, v in chosen["coded"].items() if k not in ("n_coded", "jitter", "points")}
    rows = []
    for repeat in range(3):  # interleaved, so load drift hits both alike
        erm, _ = per_epoch(make("erm", regime, epochs, 0))
        for ratio in cfg["cost_ratios"]:
            seconds, net = per_epoch(
                make("coded", regime, epochs, 0, **hyper, n_coded=round(ratio * K))
            )
            rows.append(
                {
                    "repeat": repeat,
                    "ratio_N_over_K": ratio,
                    "cpu_s_per_epoch": seconds,
                    "erm_cpu_s_per_epoch": erm,
                    "cost_ratio": seconds / erm,
                    "target_ratio": 1.15 * (1 + ratio),
                    "decoding_error_first_last_epoch": decoding_errors(net),
                }
            )
    for ratio in cfg["cost_ratios"]:
        cells = [r for r in rows if r["ratio_N_over_K"] == ratio]
        ratio_cost = float(np.median([r["cost_ratio"] for r in cells]))
        print(
            f"[{regime.name}] N/K={ratio:4.2f}: cost {ratio_cost:.2f} x ERM "
            f"(target <= {1.15 * (1 + ratio):.2f}), decoding error "
            f"{cells[0]['decoding_error_first_last_epoch']}"
        )
    return rows


def _settings(chosen):
    """Chosen settings read back from JSON (lists back to tuples)."""
    return {
        method: {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}
        for method, hyper in chosen.items()
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def plot(results, nets_by_regime, regimes, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["regimes"])
    fig, axes = plt.subplots(1, len(names) + 2, figsize=(4.6 * (len(names) + 2), 4.0))
    for ax, name in zip(axes, names, strict=False):
        test = results["regimes"][name]["test"]
        methods = list(test)
        means = [test[m]["minus_erm_points"] for m in methods]
        low = [m - test[k]["minus_erm_ci95"][0] for m, k in zip(means, methods, strict=True)]
        high = [test[k]["minus_erm_ci95"][1] - m for m, k in zip(means, methods, strict=True)]
        ax.bar(methods, means, yerr=[low, high], capsize=4, color="tab:blue")
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(0.5, color="tab:red", ls="--", lw=0.8, label="target +0.5")
        ax.set_title(f"{name}: test accuracy minus ERM\n(points, 95% CI, paired seeds)")
        ax.tick_params(axis="x", rotation=25)
        ax.legend()
    ax = axes[len(names)]
    for name in names:
        rows = [r for r in results["regimes"][name]["cost"] if r["repeat"] == 0]
        if not rows:
            continue
        ax.plot(
            [r["ratio_N_over_K"] for r in rows],
            [r["decoding_error_first_last_epoch"][-1] for r in rows],
            "o-",
            label=name,
        )
    ax.set(xscale="log", yscale="log", xlabel="N / K", ylabel="RMS of D f(E h) - f(h)")
    ax.set_title("decoding error, last epoch")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    else:  # no cost rows with --settings-from
        ax.set_axis_off()
        ax.set_title("")
    ax = axes[-1]
    if "moons" in nets_by_regime:
        X_test, y_test = regimes["moons"].test
        grid = np.stack(np.meshgrid(np.linspace(-2, 3, 200), np.linspace(-1.5, 2, 160)), -1)
        flat = grid.reshape(-1, 2).astype(np.float32)
        ax.scatter(*X_test[:600].T, c=y_test[:600], s=4, cmap="coolwarm", alpha=0.4)
        colors = ["k", "tab:green", "tab:orange", "tab:blue", "c"]
        for (name, net), color in zip(nets_by_regime["moons"].items(), colors, strict=False):
            proba = net.predict_proba(flat)[:, 1].reshape(grid.shape[:2])
            ax.contour(grid[..., 0], grid[..., 1], proba, [0.5], colors=color)
            ax.plot([], [], color=color, label=name)
        ax.set_title("moons: decision boundaries (seed 0)")
        ax.legend(fontsize=7)
    else:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of about a minute")
    parser.add_argument(
        "--protocol",
        action="store_true",
        help="the protocol of the user guide: runs bench_training_protocol.py with the "
        "other arguments",
    )
    parser.add_argument("--regimes", nargs="+", default=None)
    parser.add_argument(
        "--settings-from",
        default=None,
        help="skip the tuning and use every method's setting chosen on this regime in "
        "--settings-json (for regimes too costly to tune here); writes "
        "training_<regimes>.json",
    )
    parser.add_argument(
        "--settings-json",
        default="training.json",
        help="results file (in benchmarks/results) that --settings-from reads",
    )
    parser.add_argument(
        "--out", default=None, help="output stem in benchmarks/results (default: see above)"
    )
    parser.add_argument(
        "--epoch-check",
        action="store_true",
        help="only one ERM run per regime with a validation split, to choose the epochs; "
        "writes training_<regimes>_epochs.json",
    )
    parser.add_argument(
        "--erm-early-epochs",
        type=int,
        default=None,
        help="also race ERM stopped after this many epochs (chosen with --epoch-check)",
    )
    if "--protocol" in sys.argv:  # the protocol lives in its own script
        from bench_training_protocol import main as protocol_main

        protocol_main()
        return
    args = parser.parse_args()
    torch.set_num_threads(1)  # CPU-time costs are then per-core work
    args.regimes = args.regimes or ["moons", "digits300"]
    cfg = QUICK if args.quick else FULL
    if args.epoch_check:
        check = {name: epoch_check(Regime(name)) for name in args.regimes}
        path = RESULTS / ("training_" + "_".join(args.regimes) + "_epochs.json")
        path.write_text(json.dumps(check, indent=1))
        print(f"wrote {path}")
        return
    results = {
        "config": {**cfg, "K": K, "tuning_seed": TUNING_SEED},
        "environment": {"python": platform.python_version(), "torch": torch.__version__},
        "regimes": {},
    }
    start = time.perf_counter()
    nets_by_regime, regimes = {}, {}
    for name in args.regimes:
        regime = regimes[name] = Regime(name)
        if args.settings_from:
            tuned = json.loads((RESULTS / args.settings_json).read_text())["regimes"]
            chosen = _settings(tuned[args.settings_from]["chosen"])
            tables = {"settings_from": f"{args.settings_json}: {args.settings_from}"}
        else:
            chosen, tables = tune(regime, cfg)
        test, nets_by_regime[name] = evaluate(regime, cfg, chosen, args.erm_early_epochs)
        results["regimes"][name] = {
            "chosen": _jsonable(chosen),
            "cv_tables": _jsonable(tables),
            "test": test,
            "cost": [] if args.settings_from else cost(regime, cfg, chosen),
        }
    results["wall_seconds"] = time.perf_counter() - start
    print("targets: coded >= ERM + 0.5 points (CI excluding 0) and level with mixup in 2 regimes")
    RESULTS.mkdir(exist_ok=True)
    stem = "training_" + "_".join(args.regimes) if args.settings_from else "training"
    stem = args.out or (f"{stem}_quick" if args.quick else stem)
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=1))
    plot(results, nets_by_regime, regimes, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / stem}.json and .png in {results['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
