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
