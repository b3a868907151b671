"""A skorch net inside the coded classifier: logits decoded, seeded fit, coded training."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from sklearn_coded.estimators import CodedClassifier  # noqa: E402


class _MLP(torch.nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(4, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 3)
        )

    def forward(self, X):
        return self.layers(X)  # logits: the net is trained with CrossEntropyLoss


def _net(**kwargs):
    params = dict(
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.05,
        max_epochs=15,
        batch_size=32,
        train_split=None,
        verbose=0,
    )
    return skorch.NeuralNetClassifier(_MLP, **{**params, **kwargs})


@pytest.fixture(scope="module")
def iris32():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y.astype(np.int64)


def test_skorch_net_decodes_logits(iris32):
    X, y = iris32
    clf = CodedClassifier(_net(), batch_size=8, n_coded=32, stragglers=3, random_state=0)
    clf.fit(X, y)
    assert clf.response_ == "logits"
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    plain = clf.estimator_.predict(X)
    assert np.mean(plain == y) > 0.9
    assert np.mean(clf.predict(X) == plain) > 0.95
    scores = clf.decision_function(X)
    assert scores.shape == (150, 3) and scores.dtype == np.float64
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    # Close to the net's own probabilities (softmax of its logits).
    assert np.abs(proba - clf.estimator_.predict_proba(X)).mean() < 0.05


def test_skorch_fit_is_seeded_by_random_state(iris32):
    X, y = iris32
    a = CodedClassifier(_net(), batch_size=8, n_coded=16, random_state=3).fit(X, y)
    b = CodedClassifier(_net(), batch_size=8, n_coded=16, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    # The global torch generator is restored after fit.
    state = torch.random.get_rng_state()
    CodedClassifier(_net(max_epochs=1), random_state=3).fit(X, y)
    assert torch.equal(state, torch.random.get_rng_state())


def test_mu_positive_trains_a_coded_net(iris32):
    # mu > 0: fit goes through sklearn_coded.nn.make_coded_net with this
    # estimator's coding parameters, and predicts through the code as usual.
    X, y = iris32
    clf = CodedClassifier(
        _net(), batch_size=8, n_coded=16, mu=0.3, coded_loss="task", random_state=0
    ).fit(X, y)
    net = clf.estimator_
    assert type(net).__name__.startswith("Coded")
    assert net.mu == 0.3 and net.n_coded == 16
    assert clf.score(X, y) > 0.85


def test_training_code_uses_the_smoothing_prediction_uses(iris32):
    # A scalar smoothing is the decoder's lam and the encoder interpolates, in
    # training as in prediction.
    X, y = iris32
    clf = CodedClassifier(
        _net(), batch_size=8, n_coded=16, mu=0.3, smoothing=1e-2, random_state=0
    ).fit(X, y)
    np.testing.assert_allclose(clf.estimator_.coder_.smoothing, (0.0, 1e-2))


def test_gcv_smoothing_fits_at_mu_zero_and_is_refused_with_a_reason_in_coded_training(iris32):
    X, y = iris32
    for smoothing in ("gcv", (0.0, "gcv")):
        clf = CodedClassifier(_net(max_epochs=2), n_coded=32, smoothing=smoothing, random_state=0)
        assert clf.fit(X, y).predict(X).shape == (150,)
        with pytest.raises(ValueError, match="needs one fixed decoder"):
            clf.set_params(mu=0.3).fit(X, y)


@pytest.mark.parametrize("n_coded", [16, 48, 31])
def test_default_training_layout_decodes_no_row_exactly(iris32, n_coded):
    # Prediction's default points are uniform (end rows shared; every row when
    # (N - 1) / (K - 1) is an integer); training draws fresh coded points instead.
    X, y = iris32
    clf = CodedClassifier(_net(max_epochs=1), batch_size=16, n_coded=n_coded, mu=0.3)
    coder = clf.set_params(random_state=0).fit(X, y).estimator_.coder_
    assert coder.jitter
    coder.train()  # fit ends with forward passes in eval mode (skorch, the smoothness probe)
    h = torch.zeros(16, 1, dtype=torch.float64)  # float64 operators: no rounding to hide in
    for _ in range(5):
        assert coder.exact_rows(16, [m.numpy() for m in coder.matrices(16, h)]).size == 0
    # explicit points are taken as given, and refused when they decode rows exactly
    with pytest.raises(ValueError, match="passes every row through exactly"):
        clf.set_params(points="uniform", n_coded=31).fit(X, y)


def test_randomized_prediction_permutes_each_batch(iris32):
    # With no stragglers the only random draw of randomized prediction is the
    # permutation: skipping it makes the decoded outputs independent of the seed
    # and equal to plain coded prediction.
    X, y = iris32
    clf = CodedClassifier(_net(max_epochs=3), batch_size=8, n_coded=12, random_state=0).fit(X, y)
    plain = clf.decision_function(X)
    randomized = [
        clf.set_params(randomized=True, random_state=seed).decision_function(X) for seed in (0, 1)
    ]
    for scores in randomized:
        assert np.abs(scores - plain).max() > 1e-3
    assert np.abs(randomized[0] - randomized[1]).max() > 1e-3
    # the same seed draws the same permutations
    again = clf.set_params(random_state=0).decision_function(X)
    np.testing.assert_array_equal(again, randomized[0])


def _digits(n=240):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:n] / 16.0).astype(np.float32), y[:n].astype(np.int64)


class _DigitsMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
        )

    def forward(self, X):
        return self.layers(X)


def _smoothed(**kwargs):
    from sklearn_coded.nn import make_coded_net

    net = skorch.NeuralNetClassifier(
        _DigitsMLP, criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam,
        lr=3e-3, max_epochs=4, train_split=None, verbose=0,
    )  # fmt: skip
    params = dict(batch_size=16, n_coded=8, mu=0.3, random_state=0)
    return make_coded_net(net, **{**params, **kwargs})


def test_grid_search_over_mu_and_training_n_scores_the_plain_network():
    # The recipe: GridSearchCV over mu and the training N with the default
    # scorer. Each fold's score must be the accuracy of the network that is deployed,
    # the plain network (argmax of the module's logits), refitted independently.
    from sklearn.model_selection import GridSearchCV, KFold

    X, y = _digits()
    splits = list(KFold(2, shuffle=True, random_state=0).split(X))
    grid = {"mu": [0.0, 0.5], "n_coded": [8, 32]}
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        search = GridSearchCV(_smoothed(), grid, cv=splits).fit(X, y)
        for i, params in enumerate(search.cv_results_["params"]):
            for j, (train, test) in enumerate(splits):
                net = _smoothed(**params).fit(X[train], y[train])
                assert net.coder_.n_coded == params["n_coded"]  # the training N
                with torch.no_grad():
                    logits = net.module_(torch.from_numpy(X[test]))
                plain = np.mean(logits.argmax(1).numpy() == y[test])
                assert search.cv_results_[f"split{j}_test_score"][i] == plain
        # The old recipe scored coded prediction at the training N: at N = K/2 a batch
        # has half the results its code needs, so coded prediction now refuses (it
        # decoded far below the plain network) and only the plain network is scored.
        net = search.best_estimator_.set_params(n_coded=8, mu=0.5).fit(X, y)
        old = CodedClassifier(net, batch_size=16, n_coded=8, random_state=0).fit(X, y)
        with pytest.raises(ValueError, match="n_coded=8 gives each batch at most 8 results"):
            old.score(X, y)


def test_coded_classifier_keeps_a_coded_nets_training_code():
    # Training N (the net's n_coded) and prediction N (the classifier's) are apart:
    # the classifier fits the net exactly as the net fits alone.
    X, y = _digits()
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        alone = _smoothed(n_coded=8, mu=0.5).fit(X, y)
        clf = CodedClassifier(_smoothed(n_coded=8, mu=0.5), batch_size=8, n_coded=40)
        clf.fit(X, y)
        inner = clf.estimator_
        assert (inner.mu, inner.n_coded, inner.batch_size) == (0.5, 8, 16)
        assert inner.coder_.n_coded == 8
        for a, b in zip(alone.module_.parameters(), inner.module_.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert np.mean(clf.predict(X) == alone.predict(X)) > 0.97  # predicted at N = 40
        with pytest.raises(ValueError, match=r"mu=0.3 > 0 with a coded-smoothing net"):
            CodedClassifier(_smoothed(), mu=0.3).fit(X, y)


def test_grid_search_through_the_coded_classifier_tunes_the_inner_net():
    # Scored through the code at the prediction N (what is deployed with stragglers);
    # the training N goes below K without the prediction warning.
    from sklearn.model_selection import GridSearchCV

    X, y = _digits()
    clf = CodedClassifier(_smoothed(), batch_size=16, n_coded=48, stragglers=4, random_state=0)
    grid = {"estimator__mu": [0.0, 0.5], "estimator__n_coded": [8]}
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        search = GridSearchCV(clf, grid, cv=2).fit(X, y)
    assert search.best_estimator_.estimator_.n_coded == 8
    assert search.best_estimator_.n_coded == 48
    best = search.best_estimator_
    assert abs(best.score(X, y) - best.estimator_.score(X, y)) < 0.05  # coded ~ plain
