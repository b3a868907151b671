"""The main job's studies: data, grid search, stragglers, and the adaptive attacks on RCI."""

import warnings

from ._options import ATTACKS, EOT_SAMPLES


def load_data(args):
    """Train and test pixels in [0, 1] as float32, labels as int64."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if args.data == "digits":
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        return train_test_split(X, y, test_size=0.3, random_state=args.seed, stratify=y)
    from ..datasets import load_fashion_mnist

    X_train, y_train = load_fashion_mnist("train", n_samples=args.n_train, data_home=args.data_home)
    X_test, y_test = load_fashion_mnist("test", n_samples=2000, data_home=args.data_home)
    return X_train, X_test, y_train, y_test


def grid_search(args, X, y, tqdm):
    """GridSearchCV over mu and N; the scorer ticks a progress bar per fitted fold."""
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import GridSearchCV

    from ..estimators import CodedClassifier
    from ._network import make_network

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


def _attack_targets(module, rci_module, n_features, n_classes):
    """ART classifiers of each attack of ``ATTACKS``: what its gradient goes through."""
    import torch
    from art.estimators.classification import PyTorchClassifier

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
            input_shape=(n_features,),
            nb_classes=n_classes,
            clip_values=(0.0, 1.0),
        )

    return {
        "white_box": art(rci_module),
        "eot": art(rci_module, EOTClassifier),
        "transfer": art(module),
        "bpda": art(BPDA()),
    }


def attack_suite(module, coder, X, labels, eps, steps_schedule, *, seed, rci_accuracy):
    """The adaptive evaluation of RCI at one radius (docs/method.rst 7).

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

    from ..nn import RandomizedCodedModule

    with torch.no_grad():
        n_classes = module(torch.as_tensor(X[:1])).shape[1]
    generator = torch.Generator().manual_seed(seed)
    rci_module = RandomizedCodedModule(module, coder, generator=generator)

    targets = _attack_targets(module, rci_module, X.shape[1], n_classes)
    one_hot = np.eye(n_classes, dtype=np.float32)[labels]

    def run(target, steps, restarts):
        attack = ProjectedGradientDescent(
            target, eps=eps, eps_step=2.5 * eps / steps, max_iter=steps,
            num_random_init=restarts, batch_size=4 * coder.n_samples, verbose=False,
        )  # fmt: skip
        torch.manual_seed(seed)
        # ART draws its random starts from numpy's global generator: seed it too, or
        # two runs with one --seed differ in the attack table.
        np.random.seed(seed)  # noqa: NPY002 - ART uses the legacy global generator
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

    from ..nn import CodedSmoothing

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
