"""Adversarial robustness of coded-smoothing and randomized coded inference (RCI).

Models (the Fashion-MNIST CNN of ``bench_training.py``, 10,000 training images):

- ``erm``: plain training, plain prediction;
- ``erm+rci``: the same weights, predicting with RCI;
- ``coded``: coded-smoothing training (mu, N, coded_loss from
  ``results/training.json`` when it exists), plain prediction;
- ``coded+rci``: coded-smoothing training, predicting with RCI.

RCI (method.md section 6) is :class:`sklearn_coded.nn.RandomizedCodedModule`: per
batch a random permutation, groups of K rows encoded to N, the network, decoding,
and the permutation undone. It is differentiable, so every attack is white-box
*through the randomized coded forward*; one draw per gradient for FGSM and PGD,
and the adaptive EOT-PGD averages the gradient over ``eot_iter`` draws.

Attacks (torchattacks 3.5.1, L-inf on [0, 1] pixels, on the first ``n_eval`` test
images, in batches of ``attack_batch`` rows): FGSM, PGD (``steps`` steps of
``2.5 eps / steps``, random start) and EOT-PGD for eps in ``eps``, plus a stronger
EOT-PGD (more steps and draws, ``strong_eot``) against the RCI models at eps = 0.1. Accuracy on
the adversarial images is measured with the attacked model itself (for RCI, a
fresh draw). Also reported: prediction time of RCI against a plain forward.

Run ``python benchmarks/bench_robustness.py`` (about 10 minutes on 2 cores) or
``--quick`` (seconds). Writes ``benchmarks/results/robustness.json`` and ``.png``
(``robustness_quick.*`` with ``--quick``). Needs ``pip install --no-deps
torchattacks==3.5.1``.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torchattacks
from bench_training import CNN, base_net

from sklearn_coded.datasets import load_fashion_mnist
from sklearn_coded.nn import CodedSmoothing, RandomizedCodedModule, make_coded_net

RESULTS = Path(__file__).resolve().parent / "results"

FULL = {
    "n_train": 10000,
    "epochs": 6,
    "n_eval": 1000,
    "attack_batch": 250,
    "eps": [0.03, 0.05, 0.1, 0.2],
    "steps": 10,
    "eot_iter": 5,
    # a stronger adaptive attack on the RCI models at one eps
    "strong_eot": {"eps": 0.1, "steps": 40, "eot_iter": 10},
    "batch_size": 64,
    "seed": 0,
}
QUICK = {
    **FULL,
    "n_train": 1000,
    "epochs": 1,
    "n_eval": 128,
    "attack_batch": 128,
    "eps": [0.1],
    "steps": 3,
    "eot_iter": 2,
    "strong_eot": {"eps": 0.1, "steps": 4, "eot_iter": 2},
}
DEFAULT_CODED = {"mu": 0.6, "n_coded": 128, "coded_loss": "task"}


def coded_params(K):
    """mu, N and coded_loss chosen by bench_training.py on Fashion-MNIST, if it ran."""
    path = RESULTS / "training.json"
    if path.exists():
        problems = json.loads(path.read_text())["problems"]
        if "fashion" in problems:
            return dict(problems["fashion"]["search"]["coded"]), "results/training.json"
    return dict(DEFAULT_CODED), "default (no results/training.json)"


def accuracy(model, X, y, batch):
    with torch.no_grad():
        predictions = torch.cat(
            [model(X[i : i + batch]).argmax(1) for i in range(0, len(X), batch)]
        )
    return float((predictions == y).float().mean())


def attack_accuracy(attack, model, X, y, batch):
    correct = 0
    for i in range(0, len(X), batch):
        adversarial = attack(X[i : i + batch], y[i : i + batch])
        with torch.no_grad():
            correct += int((model(adversarial).argmax(1) == y[i : i + batch]).sum())
    return correct / len(X)


def prediction_time(model, X, batch, repeats=3):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(X), batch):
                model(X[i : i + batch])
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run in seconds")
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    torch.set_num_threads(1)
    start_all = time.perf_counter()
    K, seed = cfg["batch_size"], cfg["seed"]
    X_train, y_train = load_fashion_mnist("train", n_samples=cfg["n_train"])
    X_test, y_test = load_fashion_mnist("test", n_samples=cfg["n_eval"])
    params, source = coded_params(K)
    print(f"coded-smoothing parameters {params} from {source}")

    base = base_net(CNN, 2e-3, cfg["epochs"], K)
    erm = make_coded_net(base, n_coded=K, batch_size=K, mu=0.0, random_state=seed)
    coded = make_coded_net(base, batch_size=K, random_state=seed, **params)
    for net in (erm, coded):
        net.fit(X_train, y_train)
        net.module_.eval()

    def rci(net, draw_seed):
        coder = CodedSmoothing(K, params["n_coded"], scheme=coded.scheme, points=coded.points)
        generator = torch.Generator().manual_seed(draw_seed)
        return RandomizedCodedModule(net.module_, coder, generator=generator).eval()

    models = {
        "erm": erm.module_,
        "erm+rci": rci(erm, seed),
        "coded": coded.module_,
        "coded+rci": rci(coded, seed),
    }
    X, y = torch.from_numpy(X_test), torch.from_numpy(y_test)
    batch = cfg["attack_batch"]
    results = {
        "config": cfg,
        "coded_params": params,
        "coded_params_source": source,
        "environment": {"python": platform.python_version(), "torch": torch.__version__},
        "models": {},
    }
    for name, model in models.items():
        entry = {"clean": accuracy(model, X, y, batch), "attacks": {}}
        for eps in cfg["eps"]:
            alpha = 2.5 * eps / cfg["steps"]
            attacks = {
                "fgsm": torchattacks.FGSM(model, eps=eps),
                "pgd": torchattacks.PGD(model, eps=eps, alpha=alpha, steps=cfg["steps"]),
            }
            if name.endswith("rci"):  # EOT is PGD for a deterministic model
                attacks["eot_pgd"] = torchattacks.EOTPGD(
                    model, eps=eps, alpha=alpha, steps=cfg["steps"], eot_iter=cfg["eot_iter"]
                )
            strong = cfg["strong_eot"]
            if name.endswith("rci") and eps == strong["eps"]:
                attacks["eot_pgd_strong"] = torchattacks.EOTPGD(
                    model,
                    eps=eps,
                    alpha=2.5 * eps / strong["steps"],
                    steps=strong["steps"],
                    eot_iter=strong["eot_iter"],
                )
            for attack_name, attack in attacks.items():
                torch.manual_seed(seed)  # random starts
                start = time.perf_counter()
                acc = attack_accuracy(attack, model, X, y, batch)
                entry["attacks"].setdefault(attack_name, {})[str(eps)] = acc
                print(
                    f"{name:10s} {attack_name:8s} eps={eps:<5} accuracy {100 * acc:6.2f} "
                    f"({time.perf_counter() - start:.1f} s)"
                )
        entry["predict_seconds"] = prediction_time(model, X, batch)
        results["models"][name] = entry
        print(f"{name:10s} clean accuracy {100 * entry['clean']:.2f}")

    plain_time = results["models"]["coded"]["predict_seconds"]
    rci_time = results["models"]["coded+rci"]["predict_seconds"]
    results["rci_predict_time_ratio"] = rci_time / plain_time
    eps_target = "0.1" if "0.1" in results["models"]["erm"]["attacks"]["pgd"] else None
    if eps_target:
        lift = {
            attack: 100
            * (
                results["models"]["coded+rci"]["attacks"][attack][eps_target]
                - results["models"]["erm"]["attacks"]["pgd"][eps_target]
            )
            for attack in ("pgd", "eot_pgd", "eot_pgd_strong")
        }
        results["rci_lift_over_erm_pgd_eps0.1_points"] = lift
    results["wall_seconds"] = time.perf_counter() - start_all

    print("\nSummary: accuracy (%) under attack, first", cfg["n_eval"], "test images")
    header = f"{'model':10s} {'clean':>6s} " + " ".join(
        f"{a}@{e:>4}".rjust(12) for a in ("fgsm", "pgd", "eot_pgd") for e in cfg["eps"]
    )
    print(header)
    for name, entry in results["models"].items():
        cells = [
            f"{100 * entry['attacks'][a][str(e)]:12.2f}" if a in entry["attacks"] else " " * 12
            for a in ("fgsm", "pgd", "eot_pgd")
            for e in cfg["eps"]
        ]
        print(f"{name:10s} {100 * entry['clean']:6.2f} " + " ".join(cells))
    if eps_target:
        print(
            f"RCI lift over ERM at PGD eps=0.1: {lift['pgd']:+.1f} points (target +20); "
            f"against EOT-PGD: {lift['eot_pgd']:+.1f} points, against the stronger EOT-PGD "
            f"({cfg['strong_eot']}): {lift['eot_pgd_strong']:+.1f} points"
        )
    print(f"prediction time RCI / plain: {results['rci_predict_time_ratio']:.2f}")
    RESULTS.mkdir(exist_ok=True)
    stem = "robustness_quick" if args.quick else "robustness"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2))
    plot(results, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / stem}.json and .png in {results['wall_seconds']:.0f} s")


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eps = results["config"]["eps"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, attack in zip(axes, ("fgsm", "pgd", "eot_pgd"), strict=True):
        for name, entry in results["models"].items():
            source = entry["attacks"].get(attack) or entry["attacks"]["pgd"]
            style = "--" if attack not in entry["attacks"] else "-"
            accuracies = [100 * entry["clean"]] + [100 * source[str(e)] for e in eps]
            ax.plot([0, *eps], accuracies, style, marker="o", label=name)
        ax.set_title(
            f"{attack} (dashed: PGD, model is deterministic)" if attack == "eot_pgd" else attack
        )
        ax.set_xlabel("eps (L-inf, pixels in [0, 1])")
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
