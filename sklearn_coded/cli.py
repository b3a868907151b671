"""The main job: the whole story of coded computing on one data set, in minutes.

``python -m sklearn_coded`` (or the ``sklearn-coded`` command) runs, on the digits
bundled with scikit-learn unless ``--data fashion-mnist`` is given:

1. coded-smoothing training: GridSearchCV over mu and N for a skorch network
   wrapped in :class:`~sklearn_coded.estimators.CodedClassifier`;
2. straggler-resilient prediction with the best network: the spline code (LeTCC)
   against the Berrut code (BACC) on the same points as the stragglers S grow;
3. randomized coded inference (RCI) under an adaptive evaluation (method.md 7):
   L-inf PGD attacks from the adversarial-robustness-toolbox, white-box through the
   random code, EOT over 20 draws, transfer from the plain network and BPDA (the
   coding step's gradient replaced by the plain network's), each run with more
   steps and then restarts until the accuracy stops falling. The robust accuracy
   is the minimum over the attacks, for two threat models: the whole batch is
   adversarial, or one adversarial request is coded among K - 1 clean ones.

Every option is checked before any work starts. It prints a results table and
writes ``results.json`` and ``report.png`` into a report folder. torch and the other
extras are imported only once the options are valid, so ``--help`` is instant.
"""

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

DATA_SETS = ("digits", "fashion-mnist")
#: The attacks on randomized coded inference; the robust accuracy is their minimum.
ATTACKS = ("white_box", "eot", "transfer", "bpda")
ATTACK_LABELS = {
    "white_box": "PGD through the random code",
    "eot": "EOT-PGD, 20 draws per gradient",
    "transfer": "transfer: PGD on the plain network",
    "bpda": "BPDA: plain network's gradient",
}
EOT_SAMPLES = 20
QUICK = {"epochs": 4, "cv": 2, "n_train": 1500, "n_attack": 200, "attack_steps": [5, 10]}


def program_name(argv0=None):
    """The name the job was called by: ``python -m sklearn_coded`` or the command's name."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = os.path.basename(argv0)
    if name in ("__main__.py", "-m", "-c", "") or name.startswith("__main__"):
        return "python -m sklearn_coded"
    return name


def build_parser(prog=None):
    parser = argparse.ArgumentParser(
        prog=program_name() if prog is None else prog,
        description=(
            "Coded computing end to end: coded-smoothing training (GridSearchCV over mu "
            "and N), straggler-resilient prediction (LeTCC against BACC as stragglers "
            "grow), and randomized coded inference under adaptive attacks (the robust "
            "accuracy is the minimum over PGD through the code, EOT-PGD, transfer and "
            "BPDA)."
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
        help="values of N >= K, coded rows per batch, for the grid search (default 24 48)",
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
        help="N >= K for the prediction studies (default 4K): training and prediction may "
        "code with different redundancy",
    )
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    parser.add_argument(
        "--cv", type=int, default=3, help="cross-validation folds, >= 2 (default 3)"
    )
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
        default=[0.05, 0.1],
        help="L-inf attack radii > 0 on [0, 1] pixels; clean accuracy is always reported "
        "(default 0.05 0.1)",
    )
    parser.add_argument(
        "--attack-steps",
        type=int,
        nargs="+",
        default=[10, 40, 160],
        help="PGD step counts tried in turn for every attack, stopping once accuracy falls by "
        "less than half a point; then 3 random restarts at the last count (default 10 40 160)",
    )
    parser.add_argument(
        "--n-attack",
        type=int,
        default=300,
        help="test images attacked (default 300; all test images are used for accuracy)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: on a shared machine more threads spin "
        "against other processes; measured in the user guide)",
    )
    parser.add_argument(
        "--report", default="report", help="folder for results.json and the plots (default report)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run of the pipeline: at most {QUICK['epochs']} epochs, {QUICK['cv']} CV "
        f"folds, {QUICK['n_train']} Fashion-MNIST training images, {QUICK['n_attack']} "
        f"attacked images and attack steps {' '.join(map(str, QUICK['attack_steps']))}",
    )
    return parser


def check_args(parser, args):
    """Every usage error, before any work: ``parser.error`` names the option and value."""
    for name in ("n_train", "epochs", "n_attack", "threads"):
        value = getattr(args, name)
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {value}")
    if args.cv < 2:
        parser.error(f"--cv must be >= 2 folds; got {args.cv}")
    if args.batch_size < 2:
        parser.error(f"--batch-size must be >= 2; got {args.batch_size}")
    low = [n for n in args.n_coded if n < args.batch_size]
    if low:
        parser.error(
            f"--n-coded must be >= --batch-size ({args.batch_size}): fewer coded rows than "
            f"inputs cannot decode a batch; got {low}"
        )
    if args.predict_n_coded is not None and args.predict_n_coded < args.batch_size:
        parser.error(
            f"--predict-n-coded must be >= --batch-size ({args.batch_size}); got "
            f"{args.predict_n_coded}"
        )
    if not all(0 <= mu <= 1 for mu in args.mu):
        parser.error(f"each mu must be in [0, 1]; got {args.mu}")
    if not all(0 <= share < 1 for share in args.stragglers):
        parser.error(f"each straggler share must be in [0, 1); got {args.stragglers}")
    if not all(eps > 0 for eps in args.eps):
        parser.error(f"each --eps must be > 0 (clean accuracy is always reported); got {args.eps}")
    if not all(steps >= 1 for steps in args.attack_steps):
        parser.error(f"each --attack-steps must be >= 1; got {args.attack_steps}")
    folder = Path(args.report)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        parser.error(f"--report {args.report!r} is not a writable folder: {error}")


def apply_quick(args):
    """Shrink the run for ``--quick``; returns what changed, as ``[(option, old, new)]``."""
    changes = []
    for name, value in (
        ("epochs", min(args.epochs, QUICK["epochs"])),
        ("cv", QUICK["cv"]),
        ("n_train", min(args.n_train, QUICK["n_train"])),
        ("n_attack", min(args.n_attack, QUICK["n_attack"])),
        ("attack_steps", QUICK["attack_steps"]),
    ):
        if getattr(args, name) != value:
            changes.append((f"--{name.replace('_', '-')}", getattr(args, name), value))
            setattr(args, name, value)
    return changes


def load_data(args):
    """Train and test pixels in [0, 1] as float32, labels as int64."""
    import numpy as np
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


def __getattr__(name):
    """``MLP`` is built on first use, so that importing this module does not import torch."""
    if name == "MLP":
        from torch import nn

        class MLP(nn.Module):
            """A one-hidden-layer perceptron returning logits."""

            def __init__(self, n_features=64, n_classes=10, hidden=64):
                super().__init__()
                self.layers = nn.Sequential(
                    nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
                )

            def forward(self, X):
                return self.layers(X)

        MLP.__module__, MLP.__qualname__ = __name__, "MLP"
        globals()["MLP"] = MLP  # pickle finds it as sklearn_coded.cli.MLP
        return MLP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_network(n_features, n_classes, epochs):
    """The MLP as a skorch classifier trained with cross-entropy on its logits."""
    import torch
    from skorch import NeuralNetClassifier
    from torch import nn

    return NeuralNetClassifier(
        __getattr__("MLP") if "MLP" not in globals() else globals()["MLP"],
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
    net = make_network(X.shape[1], len(set(y.tolist())), args.epochs)
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
    import numpy as np
    import torch

    with torch.no_grad():
        return model.estimator_.forward(X.astype(np.float32)).numpy()


def straggler_study(args, model, X, y, tqdm):
    """Accuracy and logit error of coded prediction, LeTCC against BACC, as S grows.

    The fitted model reads its coding parameters at prediction time, so a copy with
    another scheme and straggler count needs no refit.
    """
    import copy

    import numpy as np

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


def one_among_clean(predict_batches, X_adv, X_clean, y, batch_size, rng):
    """Accuracy when each adversarial request is coded among K - 1 clean ones.

    Request i goes into a batch with K - 1 other clean rows, at a random position
    (RCI's permutation of a batch of exactly K requests); ``predict_batches`` maps
    the batches, shape (n, K, d), to predicted labels (n, K), coding each batch
    in the given order. Only the adversarial request's prediction is scored.
    """
    import numpy as np

    n, K = len(X_adv), batch_size
    batches = np.empty((n, K, X_adv.shape[1]), dtype=X_adv.dtype)
    where = rng.integers(K, size=n)
    for i in range(n):
        others = rng.choice(np.delete(np.arange(len(X_clean)), i), K - 1, replace=False)
        batches[i] = np.insert(X_clean[others], where[i], X_adv[i], axis=0)
    predicted = predict_batches(batches)
    return float(np.mean(predicted[np.arange(n), where] == y))


def attack_suite(module, coder, X, labels, eps, steps_schedule, *, seed, rci_accuracy):
    """The adaptive evaluation of RCI at one radius (method.md 7).

    Runs each attack of ``ATTACKS`` with the step counts of ``steps_schedule`` in
    turn, stopping when the accuracy falls by less than half a point, then with 3
    random restarts at the last count. ``rci_accuracy(X_adv)`` scores examples on
    the real randomized estimator. Returns ``{attack: {"curve": [(steps, restarts,
    accuracy), ...], "accuracy": final, "X_adv": examples}}`` and the plain
    network's own robust accuracy under PGD.
    """
    import numpy as np
    import torch
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    from .nn import RandomizedCodedModule

    with torch.no_grad():
        n_classes = module(torch.as_tensor(X[:1])).shape[1]
    generator = torch.Generator().manual_seed(seed)
    rci_module = RandomizedCodedModule(module, coder, generator=generator)

    class EOTClassifier(PyTorchClassifier):
        """Expectation over transformation: the loss gradient averaged over draws."""

        def loss_gradient(self, x, y, **kwargs):
            total = super().loss_gradient(x, y, **kwargs)
            for _ in range(EOT_SAMPLES - 1):
                total = total + super().loss_gradient(x, y, **kwargs)
            return total / EOT_SAMPLES

    class BPDA(torch.nn.Module):
        """Forward through RCI, backward through the plain network (identity coding)."""

        def forward(self, x):
            plain = module(x)
            return rci_module(x).detach() + plain - plain.detach()

    def art(network, cls=PyTorchClassifier):
        return cls(
            model=network,
            loss=torch.nn.CrossEntropyLoss(),
            input_shape=(X.shape[1],),
            nb_classes=n_classes,
            clip_values=(0.0, 1.0),
        )

    targets = {
        "white_box": art(rci_module),
        "eot": art(rci_module, EOTClassifier),
        "transfer": art(module),
        "bpda": art(BPDA()),
    }
    one_hot = np.eye(n_classes, dtype=np.float32)[labels]

    def run(target, steps, restarts):
        attack = ProjectedGradientDescent(
            target, eps=eps, eps_step=2.5 * eps / steps, max_iter=steps,
            num_random_init=restarts, batch_size=4 * coder.n_samples, verbose=False,
        )  # fmt: skip
        torch.manual_seed(seed)
        with warnings.catch_warnings():
            # ART's random restarts pass a torch tensor to np.array (numpy 2 notice)
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            return attack.generate(X, y=one_hot).astype(np.float32)

    def plain_accuracy(X_adv):
        with torch.no_grad():
            return float(np.mean(module(torch.as_tensor(X_adv)).argmax(1).numpy() == labels))

    results = {}
    for name in [*ATTACKS, "plain"]:
        target = targets.get(name, targets["transfer"])
        score = plain_accuracy if name == "plain" else rci_accuracy
        curve, previous, X_adv = [], None, None
        for steps in steps_schedule:
            X_adv = run(target, steps, 0)
            accuracy = score(X_adv)
            curve.append((steps, 1, accuracy))
            if previous is not None and previous - accuracy < 0.005:
                break
            previous = accuracy
        restarted = run(target, curve[-1][0], 3)
        accuracy = score(restarted)
        curve.append((curve[-1][0], 3, accuracy))
        if accuracy <= curve[-2][2]:
            X_adv = restarted
        results[name] = {"curve": curve, "accuracy": min(c[2] for c in curve), "X_adv": X_adv}
    return results


def attack_study(args, model, X, y, tqdm):
    """RCI and the plain network under the attacks of ``ATTACKS``, for each radius.

    Returns one row per radius (eps = 0 first: clean accuracy) with, per attack,
    RCI's accuracy with the whole batch adversarial and with one adversarial
    request among clean ones; the minimum over attacks of each; and the plain
    network's accuracy under PGD on itself (no coding). Plus the convergence
    curves (accuracy against steps and restarts).
    """
    import copy

    import numpy as np

    from .nn import CodedSmoothing

    module = model.estimator_.module_.eval()
    coder = CodedSmoothing(model.batch_size, model.n_coded, points=model.points)
    rci = copy.deepcopy(model).set_params(randomized=True, stragglers=0)
    in_order = copy.deepcopy(rci).set_params(randomized=False)

    def predict_batches(batches):
        n, K, d = batches.shape
        return in_order.predict(batches.reshape(n * K, d)).reshape(n, K)

    rng = np.random.default_rng(args.seed)
    attacked = rng.choice(len(X), min(args.n_attack, len(X)), replace=False)
    X_attack, y_attack = X[attacked], y[attacked]
    labels = np.searchsorted(model.classes_, y_attack)

    def rci_accuracy(X_adv):
        return float(np.mean(rci.predict(X_adv) == y_attack))

    clean_plain = float(np.mean(network_logits(model, X_attack).argmax(1) == labels))
    clean = {"eps": 0.0, "plain": clean_plain, "rci_min": rci_accuracy(X_attack)}
    clean["rci_min_one_among_clean"] = clean["rci_min"]
    rows, curves = [clean], {}
    for eps in tqdm(args.eps, desc="adaptive attacks on RCI", unit="eps"):
        suite = attack_suite(
            module, coder, X_attack, labels, eps, args.attack_steps,
            seed=args.seed, rci_accuracy=rci_accuracy,
        )  # fmt: skip
        row = {"eps": eps, "plain": suite.pop("plain")["accuracy"]}
        for name, result in suite.items():
            row[name] = result["accuracy"]
            row[f"{name}_one_among_clean"] = one_among_clean(
                predict_batches, result["X_adv"], X_attack, y_attack, model.batch_size, rng
            )
        row["rci_min"] = min(row[name] for name in ATTACKS)
        row["rci_min_one_among_clean"] = min(row[f"{n}_one_among_clean"] for n in ATTACKS)
        row["strongest"] = min(ATTACKS, key=lambda name: row[name])
        rows.append(row)
        curves[str(eps)] = {name: result["curve"] for name, result in suite.items()}
    return rows, curves


def coinciding(rows, keys, tol=0.005):
    """Groups of ``keys`` whose values agree within ``tol`` in every row."""
    groups = []
    for key in keys:
        for group in groups:
            if all(abs(row[key] - row[group[0]]) <= tol for row in rows):
                group.append(key)
                break
        else:
            groups.append([key])
    return [group for group in groups if len(group) > 1]


def plot_report(results, folder):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.4))
    grid_ax, straggler_ax, attack_ax, curve_ax = axes
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

    rows = results["attack"]["rows"]
    eps = [row["eps"] for row in rows]
    attacked = rows[1:]
    same = {key: group for group in coinciding(attacked, ATTACKS) for key in group}
    for name in ATTACKS:
        values = [rows[0]["rci_min"]] + [row[name] for row in attacked]
        label = f"RCI, {ATTACK_LABELS[name]}"
        if name in same and same[name][0] != name:
            label += f" (coincides with {same[name][0].replace('_', '-')})"
        attack_ax.plot(eps, values, marker="o", lw=1, alpha=0.8, label=label)
    attack_ax.plot(
        eps, [row["rci_min"] for row in rows], "k-", lw=3, alpha=0.5,
        label="RCI robust accuracy: minimum over attacks",
    )  # fmt: skip
    attack_ax.plot(
        eps, [row["rci_min_one_among_clean"] for row in rows], "k:", lw=2,
        label="minimum, one adversarial request among clean ones",
    )  # fmt: skip
    attack_ax.plot(eps, [row["plain"] for row in rows], "r--s", label="plain network, PGD on it")
    attack_ax.set(xlabel="radius eps (L-inf, pixels in [0, 1])", ylabel="test accuracy")
    attack_ax.set_title("Randomized coded inference under adaptive attacks")
    attack_ax.legend(fontsize=7)
    largest = str(max(eps))
    for name, curve in results["attack"]["curves"][largest].items():
        steps = [f"{s}" + ("" if r == 1 else f"x{r}") for s, r, _ in curve]
        curve_ax.plot(range(len(curve)), [a for _, _, a in curve], marker="o", label=name)
        curve_ax.set_xticks(range(len(curve)), steps)
    curve_ax.set(xlabel="PGD steps (x restarts)", ylabel="accuracy")
    curve_ax.set_title(f"Convergence of the attacks at eps = {largest}")
    curve_ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(folder) / "report.png"
    fig.savefig(path, dpi=100)
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
    rows = results["attack"]["rows"]
    print(f"\nadaptive attacks on RCI ({results['attack']['n_attacked']} images), accuracy")
    header = "".join(f"{name:>10}" for name in ATTACKS)
    print(f"  {'eps':>5} {'plain':>6}{header} {'RCI min':>8} {'1 among clean':>13}")
    for row in rows:
        cells = "".join(f"{row.get(name, row['rci_min']):10.3f}" for name in ATTACKS)
        print(
            f"  {row['eps']:5.2f} {row['plain']:6.3f}{cells} {row['rci_min']:8.3f} "
            f"{row['rci_min_one_among_clean']:13.3f}"
        )


def main(argv=None, prog=None):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    check_args(parser, args)
    if args.quick:
        changes = apply_quick(args)
        said = ", ".join(f"{option} {old} -> {new}" for option, old, new in changes)
        print(f"--quick: {said or 'nothing to shrink'}")
    try:
        import torch
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - the torch extra brings tqdm
        parser.error("the main job needs the extras: pip install 'sklearn_coded[all]'")
    torch.set_num_threads(args.threads)
    try:
        X_train, X_test, y_train, y_test = load_data(args)
    except FileNotFoundError as error:
        parser.exit(
            2,
            f"{parser.prog}: error: {error}\nOr point --data-home at a folder with the four "
            "Fashion-MNIST idx files.\n",
        )
    from .estimators._coded import AUTO_POINTS

    start = time.perf_counter()
    model, best, grid = grid_search(args, X_train, y_train, tqdm)
    # Prediction may use more redundancy than training; the points are set
    # explicitly (the spline code's "auto" layout) because the attacker's code
    # must match the estimator's.
    predict_n_coded = args.predict_n_coded or 4 * args.batch_size
    model.set_params(n_coded=predict_n_coded, points=AUTO_POINTS["spline"])
    plain, straggler_rows = straggler_study(args, model, X_test, y_test, tqdm)
    attack_rows, curves = attack_study(args, model, X_test, y_test, tqdm)
    results = {
        "data": args.data,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "K": args.batch_size,
        "N": int(model.n_coded),
        "cv": args.cv,
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": args.threads,
        "grid_search": {"best": best, "cv": grid},
        "stragglers": {"plain_accuracy": plain, "rows": straggler_rows},
        "attack": {
            "rows": attack_rows,
            "curves": curves,
            "n_attacked": min(args.n_attack, len(X_test)),
            "eot_samples": EOT_SAMPLES,
        },
        "seconds": time.perf_counter() - start,
    }
    folder = Path(args.report)
    (folder / "results.json").write_text(json.dumps(results, indent=1))
    plot = plot_report(results, folder)
    print_table(results)
    print(f"\n{results['seconds']:.0f} s; wrote {folder / 'results.json'} and {plot}")
    return 0
