"""The main job: the whole story of coded computing on one data set, in minutes.

``python -m sklearn_coded`` (or the ``sklearn-coded`` command) runs, on the digits
bundled with scikit-learn unless ``--data fashion-mnist`` is given:

1. coded-smoothing training: GridSearchCV over mu and N for a skorch network
   wrapped in :class:`~sklearn_coded.estimators.CodedClassifier`;
2. straggler-resilient prediction with the best network: the spline code (LeTCC)
   against the Berrut code (BACC) on the same points as the stragglers S grow;
3. randomized coded inference (RCI) under a white-box PGD attack from the
   adversarial-robustness-toolbox, the attacker differentiating through the
   randomized code.

It prints a results table and writes ``results.json`` and PNG plots into a
report folder.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

DATA_SETS = ("digits", "fashion-mnist")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_coded",
        description=(
            "Coded computing end to end: coded-smoothing training (GridSearchCV over mu "
            "and N), straggler-resilient prediction (LeTCC against BACC as stragglers "
            "grow), and randomized coded inference under a PGD attack."
        ),
    )
    parser.add_argument(
        "--data",
        choices=DATA_SETS,
        default="digits",
        help="digits: bundled with scikit-learn (default); fashion-mnist: local files from "
        "Debian's dataset-fashion-mnist package (see --data-home)",
    )
    parser.add_argument(
        "--data-home",
        default=None,
        help="folder with the Fashion-MNIST idx files (default: /usr/share/datasets/"
        "fashion-mnist or $SKLEARN_CODED_FASHION_MNIST)",
    )
    parser.add_argument(
        "--n-train", type=int, default=6000, help="Fashion-MNIST training images (default 6000)"
    )
    parser.add_argument(
        "--batch-size", "-K", type=int, default=16, help="K, rows coded together (default 16)"
    )
    parser.add_argument(
        "--n-coded",
        "-N",
        type=int,
        nargs="+",
        default=[24, 48],
        help="values of N, coded rows per batch, for the grid search (default 24 48)",
    )
    parser.add_argument(
        "--mu",
        type=float,
        nargs="+",
        default=[0.0, 0.3],
        help="values of mu, the weight of the coded loss, for the grid search; 0 is plain "
        "training (default 0 0.3)",
    )
    parser.add_argument(
        "--predict-n-coded",
        type=int,
        default=None,
        help="N for the prediction studies (default 4K): training and prediction may code "
        "with different redundancy",
    )
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    parser.add_argument("--cv", type=int, default=3, help="cross-validation folds (default 3)")
    parser.add_argument(
        "--stragglers",
        type=float,
        nargs="+",
        default=[0.0, 0.1, 0.2, 0.3],
        help="shares of the N workers that never answer, one row each (default 0 0.1 0.2 0.3)",
    )
    parser.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=[0.0, 0.05, 0.1],
        help="L-inf radii of the PGD attack on [0, 1] pixels (default 0 0.05 0.1)",
    )
    parser.add_argument(
        "--report", default="report", help="folder for results.json and the plots (default report)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument(
        "--quick", action="store_true", help="a small, fast run (a smoke test of the pipeline)"
    )
    return parser


def load_data(args):
    """Train and test pixels in [0, 1] as float32, labels as int64."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if args.data == "digits":
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        return train_test_split(X, y, test_size=0.3, random_state=args.seed, stratify=y)
    from .datasets import load_fashion_mnist

    X_train, y_train = load_fashion_mnist("train", n_samples=args.n_train, data_home=args.data_home)
    X_test, y_test = load_fashion_mnist("test", n_samples=2000, data_home=args.data_home)
    return X_train, X_test, y_train, y_test


class MLP(nn.Module):
    """A one-hidden-layer perceptron returning logits."""

    def __init__(self, n_features=64, n_classes=10, hidden=64):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, X):
        return self.layers(X)


def make_network(n_features, n_classes, epochs):
    """The MLP as a skorch classifier trained with cross-entropy on its logits."""
    from skorch import NeuralNetClassifier

    return NeuralNetClassifier(
        MLP,
        module__n_features=n_features,
        module__n_classes=n_classes,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=3e-3,
        max_epochs=epochs,
        train_split=None,
        verbose=0,
    )


def grid_search(args, X, y, tqdm):
    """GridSearchCV over mu and N; the scorer ticks a progress bar per fitted fold."""
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import GridSearchCV

    from .estimators import CodedClassifier

    grid = {"mu": args.mu, "n_coded": args.n_coded}
    n_fits = len(args.mu) * len(args.n_coded) * args.cv
    net = make_network(X.shape[1], len(np.unique(y)), args.epochs)
    coded = CodedClassifier(net, batch_size=args.batch_size, random_state=args.seed)
    with tqdm(total=n_fits + 1, desc="grid search over mu and N", unit="fit") as bar:

        def scorer(estimator, X_fold, y_fold):
            bar.update(1)
            return accuracy_score(y_fold, estimator.predict(X_fold))

        search = GridSearchCV(coded, grid, cv=args.cv, scoring=scorer, refit=True)
        search.fit(X, y)
        bar.update(1)
    rows = [
        {"mu": p["mu"], "n_coded": p["n_coded"], "cv_accuracy": float(m), "cv_std": float(s)}
        for p, m, s in zip(
            search.cv_results_["params"],
            search.cv_results_["mean_test_score"],
            search.cv_results_["std_test_score"],
            strict=True,
        )
    ]
    return search.best_estimator_, search.best_params_, rows


def network_logits(model, X):
    """The trained network's own logits: what every coded prediction approximates."""
    with torch.no_grad():
        return model.estimator_.forward(X.astype(np.float32)).numpy()


def straggler_study(args, model, X, y, tqdm):
    """Accuracy and logit error of coded prediction, LeTCC against BACC, as S grows.

    The fitted model reads its coding parameters at prediction time, so a copy with
    another scheme and straggler count needs no refit.
    """
    import copy

    reference = network_logits(model, X)
    coded = copy.deepcopy(model)
    N = model.n_coded
    rows = []
    for share in tqdm(args.stragglers, desc="straggler-resilient prediction", unit="S"):
        S = round(share * N)
        for scheme in ("spline", "berrut"):
            logits = coded.set_params(scheme=scheme, stragglers=S).decision_function(X)
            rows.append(
                {
                    "S": S,
                    "S_share": share,
                    "scheme": scheme,
                    "accuracy": float(np.mean(model.classes_[logits.argmax(1)] == y)),
                    "agreement": float(np.mean(logits.argmax(1) == reference.argmax(1))),
                    "logit_rmse": float(np.sqrt(np.mean((logits - reference) ** 2))),
                }
            )
    plain = float(np.mean(model.classes_[reference.argmax(1)] == y))
    return plain, rows


def attack_study(args, model, X, y, tqdm):
    """PGD (L-inf) against plain prediction and against randomized coded inference.

    Three accuracies per radius: the plain network under PGD on itself; RCI under
    the same (transferred) examples; and RCI under PGD that differentiates through
    the randomized code (white-box against RCI, a new permutation per gradient).
    """
    import copy

    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    from .nn import CodedSmoothing, RandomizedCodedModule

    module = model.estimator_.module_.eval()
    n_classes = len(model.classes_)
    coder = CodedSmoothing(model.batch_size, model.n_coded, points=model.points)
    generator = torch.Generator().manual_seed(args.seed)

    def art_classifier(network):
        return PyTorchClassifier(
            model=network,
            loss=torch.nn.CrossEntropyLoss(),
            input_shape=(X.shape[1],),
            nb_classes=n_classes,
            clip_values=(0.0, 1.0),
        )

    plain_target = art_classifier(module)
    rci_target = art_classifier(RandomizedCodedModule(module, coder, generator=generator))
    rci = copy.deepcopy(model).set_params(randomized=True, stragglers=0)
    labels = np.searchsorted(model.classes_, y)
    rows = []
    for eps in tqdm(args.eps, desc="PGD attack", unit="eps"):
        row = {"eps": eps}
        for name, target in (("plain", plain_target), ("rci_white_box", rci_target)):
            if eps == 0:
                X_adv = X
            else:
                attack = ProjectedGradientDescent(
                    target, eps=eps, eps_step=eps / 4, max_iter=10, batch_size=64,
                    verbose=False,
                )  # fmt: skip
                torch.manual_seed(args.seed)
                X_adv = attack.generate(X, y=np.eye(n_classes)[labels]).astype(np.float32)
            if name == "plain":
                row["plain"] = float(np.mean(network_logits(model, X_adv).argmax(1) == labels))
                row["rci_transfer"] = float(np.mean(rci.predict(X_adv) == y))
            else:
                row["rci_white_box"] = float(np.mean(rci.predict(X_adv) == y))
        rows.append(row)
    return rows


def plot_report(results, folder):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (grid_ax, straggler_ax, attack_ax) = plt.subplots(1, 3, figsize=(15, 4.2))
    grid = results["grid_search"]["cv"]
    for mu in sorted({row["mu"] for row in grid}):
        cells = [row for row in grid if row["mu"] == mu]
        grid_ax.errorbar(
            [row["n_coded"] for row in cells], [row["cv_accuracy"] for row in cells],
            yerr=[row["cv_std"] for row in cells], marker="o", capsize=3,
            label=f"mu = {mu:g}" + (" (plain training)" if mu == 0 else ""),
        )  # fmt: skip
    grid_ax.set(xlabel="N, coded rows per batch", ylabel="cross-validated accuracy")
    grid_ax.set_title("Coded-smoothing: GridSearchCV over mu and N")
    grid_ax.legend()
    for scheme, style in (("spline", "-o"), ("berrut", "--s")):
        cells = [row for row in results["stragglers"]["rows"] if row["scheme"] == scheme]
        straggler_ax.plot(
            [100 * row["S_share"] for row in cells], [row["agreement"] for row in cells], style,
            label=f"{'LeTCC (spline)' if scheme == 'spline' else 'BACC (Berrut)'}",
        )  # fmt: skip
    straggler_ax.set(
        xlabel="stragglers, % of the N workers", ylabel="agreement with the uncoded network"
    )
    straggler_ax.set_title(f"Coded prediction, K = {results['K']}, N = {results['N']}")
    straggler_ax.legend()
    attack = results["attack"]
    eps = [row["eps"] for row in attack]
    for key, label in (
        ("plain", "plain network, PGD on it"),
        ("rci_transfer", "RCI, same examples"),
        ("rci_white_box", "RCI, PGD through the random code"),
    ):
        attack_ax.plot(eps, [row[key] for row in attack], marker="o", label=label)
    attack_ax.set(xlabel="PGD radius eps (L-inf, pixels in [0, 1])", ylabel="test accuracy")
    attack_ax.set_title("Randomized coded inference under attack")
    attack_ax.legend()
    fig.tight_layout()
    path = Path(folder) / "report.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def print_table(results):
    print(f"\n{results['data']}: {results['n_train']} training and {results['n_test']} test images")
    best = results["grid_search"]["best"]
    print(f"best by {results['cv']}-fold CV: mu = {best['mu']:g}, N = {best['n_coded']}")
    print(f"  {'mu':>4} {'N':>4}  CV accuracy")
    for row in results["grid_search"]["cv"]:
        accuracy = f"{row['cv_accuracy']:.3f} +- {row['cv_std']:.3f}"
        print(f"  {row['mu']:>4g} {row['n_coded']:>4}  {accuracy}")
    print(
        f"\nprediction, uncoded network test accuracy {results['stragglers']['plain_accuracy']:.3f}"
    )
    print(f"  {'S':>3}  {'scheme':7} {'accuracy':>8} {'agreement':>9} {'logit RMSE':>10}")
    for row in results["stragglers"]["rows"]:
        print(
            f"  {row['S']:>3}  {row['scheme']:7} {row['accuracy']:8.3f} {row['agreement']:9.3f} "
            f"{row['logit_rmse']:10.4f}"
        )
    print("\nPGD (10 steps), test accuracy")
    print(f"  {'eps':>5} {'plain':>6} {'RCI transfer':>12} {'RCI white-box':>13}")
    for row in results["attack"]:
        print(
            f"  {row['eps']:5.2f} {row['plain']:6.3f} {row['rci_transfer']:12.3f} "
            f"{row['rci_white_box']:13.3f}"
        )


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 2 or min(args.n_coded) < 2 or (args.predict_n_coded or 2) < 2:
        parser.error(f"need K >= 2 and N >= 2; got K={args.batch_size}, N={args.n_coded}")
    if not all(0 <= mu <= 1 for mu in args.mu):
        parser.error(f"each mu must be in [0, 1]; got {args.mu}")
    if not all(0 <= share < 1 for share in args.stragglers):
        parser.error(f"each straggler share must be in [0, 1); got {args.stragglers}")
    if args.quick:
        args.epochs, args.cv, args.n_train = min(args.epochs, 4), 2, min(args.n_train, 1500)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - the torch extra brings tqdm
        parser.error("the main job needs the extras: pip install 'sklearn_coded[all]'")
    try:
        X_train, X_test, y_train, y_test = load_data(args)
    except FileNotFoundError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    start = time.perf_counter()
    model, best, grid = grid_search(args, X_train, y_train, tqdm)
    # Prediction may use more redundancy than training; the points are set
    # explicitly because the attacker's code must match the estimator's.
    predict_n_coded = args.predict_n_coded or 4 * args.batch_size
    model.set_params(n_coded=predict_n_coded, points="uniform")
    plain, straggler_rows = straggler_study(args, model, X_test, y_test, tqdm)
    attack_rows = attack_study(args, model, X_test, y_test, tqdm)
    results = {
        "data": args.data,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "K": args.batch_size,
        "N": int(model.n_coded),
        "cv": args.cv,
        "epochs": args.epochs,
        "seed": args.seed,
        "grid_search": {"best": best, "cv": grid},
        "stragglers": {"plain_accuracy": plain, "rows": straggler_rows},
        "attack": attack_rows,
        "seconds": time.perf_counter() - start,
    }
    folder = Path(args.report)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1))
    plot = plot_report(results, folder)
    print_table(results)
    print(f"\n{results['seconds']:.0f} s; wrote {folder / 'results.json'} and {plot}")
    return 0
