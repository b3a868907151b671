"""Generalization and cost of coded-smoothing training (method.md section 5).

Three ways to train the same skorch net, same optimizer, epochs and batch size K:

- ``erm``: plain training (mu = 0);
- ``mixup``: Zhang et al. (2018), a skorch net whose ``train_step_single`` mixes
  each batch with a permutation of itself, lam ~ Beta(alpha, alpha);
- ``coded``: :func:`sklearn_coded.nn.make_coded_net`,
  ``L = (1 - mu) L_main + mu L_coded`` with the whole network coded (raw pixels
  encoded, logits decoded).

on two problems:

- ``digits``: ``load_digits`` (pixels / 16), a 64-256-256-10 MLP, a stratified
  70/30 train/test split;
- ``fashion``: a 10,000-image subset of the Fashion-MNIST training set, a small
  CNN with BatchNorm (two stride-2 3x3 convolutions, 16 and 32 channels), tested
  on the 10,000 test images. The full 60k training set does not fit the ~15
  minute budget on 2 shared CPU cores.

Hyperparameters are chosen on the training data only: ``GridSearchCV`` over mu,
N/K in {1.5, 2} (N = K on the same points is the identity code) and ``coded_loss``
for coded-smoothing and over alpha for mixup (3-fold on digits, one 80/20
hold-out split on Fashion-MNIST, where ``coded_loss`` is not searched but both
losses are scored on the test set at the chosen mu and N). Then each method is refitted
on the whole training set for several seeds (weights, shuffling and draws) and
scored on the test set: mean and std of test accuracy.

Cost: CPU seconds per epoch (``time.process_time``, robust to other jobs on the
machine, with torch on 1 thread) of coded training with N/K in {1, 1.5, 2}
against ERM, with the target ratio ``1.15 (1 + N/K)``; and the BatchNorm choice
(plain and coded rows in one forward pass or two) on the CNN.

Run ``python benchmarks/bench_training.py`` (about 15 minutes on 2 cores) or
``--quick`` (under a minute). Writes ``benchmarks/results/training.json`` and
``training.png`` (``training_quick.*`` with ``--quick``).
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, ShuffleSplit, StratifiedKFold, train_test_split
from skorch import NeuralNetClassifier
from skorch.dataset import unpack_data
from torch import nn

from sklearn_coded.datasets import load_fashion_mnist
from sklearn_coded.nn import make_coded_net

RESULTS = Path(__file__).resolve().parent / "results"

FULL = {
    "seeds": [0, 1, 2],
    "batch_size": 64,
    "digits": {"epochs": 40, "cv": 3},
    # coded_loss is searched on digits; on Fashion-MNIST both are scored at the chosen (mu, N)
    "fashion": {"epochs": 6, "n_train": 10000, "n_test": 10000, "grid_loss": ["task"]},
    "grid_mu": [0.3, 0.6],
    "grid_ratio": [1.5, 2.0],
    "grid_loss": ["task", "consistency"],
    "grid_alpha": [0.2, 0.4],
    "cost_epochs": 2,
    "cost_ratios": [1.0, 1.5, 2.0],
}
QUICK = {
    "seeds": [0, 1],
    "batch_size": 64,
    "digits": {"epochs": 4, "cv": 2},
    "fashion": {"epochs": 1, "n_train": 1000, "n_test": 1000, "grid_loss": ["task"]},
    "grid_mu": [0.5],
    "grid_ratio": [1.5],
    "grid_loss": ["task", "consistency"],
    "grid_alpha": [0.2],
    "cost_epochs": 1,
    "cost_ratios": [1.0, 2.0],
}


class MLP(nn.Module):
    """64-256-256-10 ReLU network for the 8 x 8 digits."""

    def __init__(self, n_in=64, hidden=256, n_out=10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_out),
        )

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    """Small CNN with BatchNorm for 28 x 28 images given as rows of 784 pixels."""

    def __init__(self, c1=16, c2=32, n_out=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Linear(c2 * 49, n_out)

    def forward(self, x):
        return self.head(self.features(x.reshape(-1, 1, 28, 28)))


class MixupNet(NeuralNetClassifier):
    """mixup training through skorch's ``train_step_single`` hook.

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


def load_problem(name, config):
    """(X_train, y_train, X_test, y_test, module, module_params, lr) of a problem."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y.astype(np.int64), test_size=0.3, stratify=y, random_state=0
        )
        return X_train, y_train, X_test, y_test, MLP, 1e-3
    X_train, y_train = load_fashion_mnist("train", n_samples=config["n_train"])
    X_test, y_test = load_fashion_mnist("test", n_samples=config["n_test"])
    return X_train, y_train, X_test, y_test, CNN, 2e-3


def base_net(module, lr, epochs, batch_size, cls=NeuralNetClassifier, **kwargs):
    return cls(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=lr,
        max_epochs=epochs,
        batch_size=batch_size,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=0,
        **kwargs,
    )


def seeded_erm(module, lr, epochs, batch_size):
    # ERM is the coded net with mu = 0 (exactly plain training), which seeds torch.
    return make_coded_net(
        base_net(module, lr, epochs, batch_size),
        n_coded=batch_size,
        batch_size=batch_size,
        mu=0.0,
        random_state=0,
    )


def search(name, data, config, cfg):
    """Pick coded-smoothing's (mu, N, coded_loss) and mixup's alpha on the training data."""
    X_train, y_train, _, _, module, lr = data
    K, epochs = cfg["batch_size"], config["epochs"]
    if "cv" in config:
        cv = StratifiedKFold(config["cv"], shuffle=True, random_state=0)
    else:
        cv = ShuffleSplit(n_splits=1, test_size=0.2, random_state=0)
    coded = make_coded_net(
        base_net(module, lr, epochs, K), n_coded=K, batch_size=K, mu=0.5, random_state=0
    )
    grid = {
        "mu": cfg["grid_mu"],
        "n_coded": [round(r * K) for r in cfg["grid_ratio"]],
        "coded_loss": config.get("grid_loss", cfg["grid_loss"]),
    }
    start = time.perf_counter()
    coded_search = GridSearchCV(coded, grid, cv=cv).fit(X_train, y_train)
    mixup = base_net(module, lr, epochs, K, cls=MixupNet, random_state=0)
    mixup_search = GridSearchCV(mixup, {"mixup_alpha": cfg["grid_alpha"]}, cv=cv).fit(
        X_train, y_train
    )
    results = coded_search.cv_results_
    table = [
        {
            "mu": p["mu"],
            "n_coded": p["n_coded"],
            "coded_loss": p["coded_loss"],
            "cv_accuracy": float(m),
        }
        for p, m in zip(results["params"], results["mean_test_score"], strict=True)
    ]
    print(f"[{name}] search done in {time.perf_counter() - start:.0f} s")
    for row in table:
        print(f"   {row}")
    return {
        "coded": coded_search.best_params_,
        "mixup": mixup_search.best_params_,
        "coded_grid": table,
        "mixup_grid": [
            {"mixup_alpha": p["mixup_alpha"], "cv_accuracy": float(m)}
            for p, m in zip(
                mixup_search.cv_results_["params"],
                mixup_search.cv_results_["mean_test_score"],
                strict=True,
            )
        ],
    }


def evaluate(name, data, config, cfg, best):
    """Test accuracy over seeds of ERM, mixup and coded-smoothing (best parameters)."""
    X_train, y_train, X_test, y_test, module, lr = data
    K, epochs = cfg["batch_size"], config["epochs"]
    other_loss = "consistency" if best["coded"]["coded_loss"] == "task" else "task"
    factories = {
        "erm": lambda seed: seeded_erm(module, lr, epochs, K).set_params(random_state=seed),
        "mixup": lambda seed: base_net(
            module, lr, epochs, K, cls=MixupNet, random_state=seed, **best["mixup"]
        ),
        "coded": lambda seed: make_coded_net(
            base_net(module, lr, epochs, K), batch_size=K, random_state=seed, **best["coded"]
        ),
        f"coded_{other_loss}": lambda seed: make_coded_net(
            base_net(module, lr, epochs, K),
            batch_size=K,
            random_state=seed,
            **{**best["coded"], "coded_loss": other_loss},
        ),
    }
    out = {}
    for method, factory in factories.items():
        scores, seconds = [], []
        for seed in cfg["seeds"]:
            start = time.process_time()
            net = factory(seed).fit(X_train, y_train)
            seconds.append(time.process_time() - start)
            scores.append(float(net.score(X_test, y_test)))
        out[method] = {
            "test_accuracy": scores,
            "mean": float(np.mean(scores)),
            "std": float(np.std(scores)),
            "cpu_seconds_per_fit": float(np.mean(seconds)),
        }
        print(
            f"[{name}] {method:18s} test accuracy {100 * out[method]['mean']:.2f} "
            f"+- {100 * out[method]['std']:.2f} (seeds {cfg['seeds']})"
        )
    return out


def cost(name, data, cfg, best):
    """CPU seconds per epoch of coded training for N/K in cfg["cost_ratios"] vs ERM."""
    X_train, y_train, _, _, module, lr = data
    K, epochs = cfg["batch_size"], cfg["cost_epochs"]

    def seconds_per_epoch(net):
        start = time.process_time()
        net.fit(X_train, y_train)
        return (time.process_time() - start) / epochs

    erm = seconds_per_epoch(seeded_erm(module, lr, epochs, K))
    rows = []
    for ratio in cfg["cost_ratios"]:
        for joint in (True, False):
            net = make_coded_net(
                base_net(module, lr, epochs, K),
                n_coded=round(ratio * K),
                batch_size=K,
                mu=best["coded"]["mu"],
                coded_loss=best["coded"]["coded_loss"],
                joint_forward=joint,
                random_state=0,
                # N = K on the same points is the identity code: use other coded points
                points=("chebyshev", "chebyshev2") if ratio == 1 else "chebyshev",
            )
            per_epoch = seconds_per_epoch(net)
            rows.append(
                {
                    "ratio_N_over_K": ratio,
                    "joint_forward": joint,
                    "cpu_s_per_epoch": per_epoch,
                    "erm_cpu_s_per_epoch": erm,
                    "cost_ratio": per_epoch / erm,
                    "target_ratio": 1.15 * (1 + ratio),
                }
            )
            print(
                f"[{name}] N/K={ratio:.1f} joint={joint!s:5s}: {per_epoch:.2f} CPU s/epoch, "
                f"{per_epoch / erm:.2f} x ERM (target <= {1.15 * (1 + ratio):.2f})"
            )
    return rows


def batchnorm_study(data, config, cfg, best, separate_scores):
    """Test accuracy of the CNN with plain and coded rows in one forward pass or two."""
    X_train, y_train, X_test, y_test, module, lr = data
    K, epochs = cfg["batch_size"], config["epochs"]
    out = {"separate": {"test_accuracy": separate_scores, "mean": float(np.mean(separate_scores))}}
    for joint in (True,):
        scores = []
        for seed in cfg["seeds"]:
            net = make_coded_net(
                base_net(module, lr, epochs, K),
                batch_size=K,
                random_state=seed,
                joint_forward=joint,
                **best["coded"],
            ).fit(X_train, y_train)
            scores.append(float(net.score(X_test, y_test)))
        key = "joint" if joint else "separate"
        out[key] = {"test_accuracy": scores, "mean": float(np.mean(scores))}
    for key, value in out.items():
        print(f"[fashion] BatchNorm {key:8s}: {100 * value['mean']:.2f}")
    return out


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(results["problems"])
    fig, axes = plt.subplots(1, len(problems) + 1, figsize=(4.5 * (len(problems) + 1), 3.8))
    for ax, name in zip(axes, problems, strict=False):
        acc = results["problems"][name]["test"]
        methods = list(acc)
        means = [100 * acc[m]["mean"] for m in methods]
        stds = [100 * acc[m]["std"] for m in methods]
        ax.bar(methods, means, yerr=stds, color=["0.6", "tab:orange", "tab:blue", "tab:cyan"])
        low = min(means) - 3 * max(max(stds), 0.3)
        ax.set_ylim(low, max(means) + 3 * max(max(stds), 0.3))
        ax.set_title(f"{name}: test accuracy (%)")
        ax.tick_params(axis="x", rotation=20)
    ax = axes[-1]
    for name in problems:
        rows = [r for r in results["problems"][name]["cost"] if not r["joint_forward"]]
        ax.plot(
            [r["ratio_N_over_K"] for r in rows], [r["cost_ratio"] for r in rows], "o-", label=name
        )
    ratios = np.array(results["config"]["cost_ratios"])
    ax.plot(ratios, 1.15 * (1 + ratios), "k--", label="target 1.15 (1 + N/K)")
    ax.set_xlabel("N / K")
    ax.set_ylabel("CPU time per epoch / ERM")
    ax.set_title("cost of coded training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run in under a minute")
    parser.add_argument("--problems", nargs="+", default=["digits", "fashion"])
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    torch.set_num_threads(1)  # CPU-time costs are then per-core work; others share the cores
    results = {
        "config": {k: v for k, v in cfg.items()},
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
        },
        "problems": {},
    }
    start = time.perf_counter()
    for name in args.problems:
        config = cfg[name]
        data = load_problem(name, config)
        best = search(name, data, config, cfg)
        print(f"[{name}] chosen: coded {best['coded']}, mixup {best['mixup']}")
        entry = {"search": best, "test": evaluate(name, data, config, cfg, best)}
        entry["cost"] = cost(name, data, cfg, best)
        if name == "fashion":
            separate_scores = entry["test"]["coded"]["test_accuracy"]  # the default
            entry["batchnorm"] = batchnorm_study(data, config, cfg, best, separate_scores)
        test = entry["test"]
        entry["coded_minus_erm_points"] = 100 * (test["coded"]["mean"] - test["erm"]["mean"])
        entry["coded_minus_mixup_points"] = 100 * (test["coded"]["mean"] - test["mixup"]["mean"])
        results["problems"][name] = entry
    results["wall_seconds"] = time.perf_counter() - start

    print("\nSummary (test accuracy %, mean +- std over seeds)")
    print(f"{'problem':8s} {'ERM':>13s} {'mixup':>13s} {'coded':>13s} {'coded-ERM':>10s}")
    for name, entry in results["problems"].items():
        t = entry["test"]
        cells = [f"{100 * t[m]['mean']:6.2f}+-{100 * t[m]['std']:4.2f}" for m in ("erm", "mixup")]
        cells.append(f"{100 * t['coded']['mean']:6.2f}+-{100 * t['coded']['std']:4.2f}")
        print(f"{name:8s} {' '.join(cells)} {entry['coded_minus_erm_points']:+9.2f}")
    print("targets: coded >= ERM + 0.5 points and >= mixup; cost <= 1.15 (1 + N/K) x ERM")
    RESULTS.mkdir(exist_ok=True)
    stem = "training_quick" if args.quick else "training"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2))
    plot(results, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / stem}.json and .png in {results['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
