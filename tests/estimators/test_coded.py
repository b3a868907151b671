"""Coded prediction meta-estimators: oracles, limit cases, sklearn integration, errors."""

import pickle
import time
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits, load_iris, make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sklearn_coded import SplineDecoder, SplineEncoder
from sklearn_coded.estimators import CodedClassifier, CodedRegressor
from sklearn_coded.estimators import _predict as coded_module
from sklearn_coded.execution import (
    BaseStragglers,
    InsufficientResultsError,
    RandomStragglers,
    StragglerPlan,
)


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=61, n_features=5, noise=1.0, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _rel_err(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


# ------------------------------------------------------------------- oracles
@pytest.mark.parametrize("n_rows", [1, 2, 3, 7, 8, 9, 17, 61])
def test_lagrange_exact_for_linear_f(regression, n_rows):
    # With f linear (Ridge) and f(E X) = E f(X) (the Lagrange operator reproduces
    # constants, so the intercept passes), Lagrange decoding with N >= K and no
    # stragglers inverts the encoder: exact up to rounding. Outputs are O(100);
    # the 1e-8 relative tolerance allows the conditioning of K = 8 Chebyshev points.
    X, y = regression
    reg = CodedRegressor(Ridge(), scheme="lagrange", batch_size=8, n_coded=12).fit(X, y)
    plain = reg.estimator_.predict(X[:n_rows])
    coded = reg.predict(X[:n_rows])
    assert coded.shape == plain.shape
    np.testing.assert_allclose(coded, plain, rtol=0, atol=1e-8 * np.abs(y).max())


def test_lagrange_exact_multioutput():
    X, Y = make_regression(n_samples=30, n_features=4, n_targets=3, random_state=1)
    reg = CodedRegressor(Ridge(), scheme="lagrange", batch_size=6, n_coded=6).fit(X, Y)
    assert reg.predict(X).shape == (30, 3)
    assert _rel_err(reg.predict(X), reg.estimator_.predict(X)) < 1e-10


def test_spline_converges_with_n_coded(regression):
    # LeTCC error decays like N^-3 in MSE (docs/method.rst 3): check that the maximum
    # error falls steadily (by more than 2x per doubling of N) and ends small.
    # The N avoid (N - 1) % (K - 1) == 0, where uniform data points are all coded
    # points (a systematic code, exact for the full batches).
    X, y = regression
    errors = []
    for n_coded in (12, 24, 48, 96, 192):  # "interior": the systematic default is exact
        reg = CodedRegressor(Ridge(), batch_size=8, n_coded=n_coded, points="interior")
        reg.fit(X, y)
        errors.append(_rel_err(reg.predict(X), reg.estimator_.predict(X)))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all(ratios > 2.0), errors
    assert errors[-1] < 1e-3


def test_agrees_with_layer2_transformers(regression):
    # One batch of K rows: the estimator's prediction is exactly decode(f(encode(X))).
    X, y = regression
    K, N = 8, 20
    reg = CodedRegressor(Ridge(), batch_size=K, n_coded=N, smoothing=(1e-6, 1e-5)).fit(X, y)
    batch = X[:K]
    # points="auto" is "systematic" for the spline code (N >= K, no padding).
    coded = SplineEncoder(n_coded=N, smoothing=1e-6, points="systematic").fit_transform(batch)
    results = reg.estimator_.predict(coded)[:, None]
    decoder = SplineDecoder(n_samples=K, smoothing=1e-5, points="systematic")
    decoded = decoder.fit(results).transform(results)
    np.testing.assert_allclose(reg.predict(batch), decoded[:, 0], rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize(
    ("scheme", "family", "randomized"),
    [
        ("spline", "systematic", False),
        ("berrut", "systematic", False),
        ("lagrange", "chebyshev", False),
        # randomized inference mixes the rows: no systematic layout there
        ("spline", "interior", True),
        ("berrut", "uniform", True),
    ],
)
def test_auto_points(regression, scheme, family, randomized):
    X, y = regression
    auto = CodedRegressor(
        Ridge(), scheme=scheme, batch_size=8, n_coded=12, randomized=randomized, random_state=0
    ).fit(X, y)
    explicit = clone(auto).set_params(points=family).fit(X, y)
    np.testing.assert_array_equal(auto.predict(X), explicit.predict(X))


def test_randomized_lagrange_is_exact(regression):
    # The permutation is undone after decoding: with an exact code the randomized
    # prediction equals the plain one, row by row, for every batch size.
    X, y = regression
    reg = CodedRegressor(
        Ridge(), scheme="lagrange", batch_size=8, n_coded=10, randomized=True, random_state=3
    ).fit(X, y)
    assert _rel_err(reg.predict(X), reg.estimator_.predict(X)) < 1e-10


def test_single_row_batches_are_exact(regression):
    # K = 1: each row is coded as two copies, f is constant along the code and
    # any scheme decodes it exactly (N workers replicate f(x)).
    X, y = regression
    for scheme in ("spline", "berrut", "lagrange"):
        reg = CodedRegressor(Ridge(), scheme=scheme, batch_size=1, n_coded=5, stragglers=2)
        reg.set_params(random_state=0).fit(X, y)
        assert _rel_err(reg.predict(X), reg.estimator_.predict(X)) < 1e-12


def test_gcv_smoothing_recovers_linear_f(regression):
    X, y = regression
    reg = CodedRegressor(Ridge(), batch_size=8, n_coded=64, smoothing="gcv").fit(X, y)
    assert _rel_err(reg.predict(X), reg.estimator_.predict(X)) < 1e-2


# ---------------------------------------------------------- batches and seeds
@pytest.mark.parametrize("n_rows", [1, 2, 5, 16, 17, 33])
@pytest.mark.parametrize("randomized", [False, True])
def test_batch_size_edge_cases(iris, n_rows, randomized):
    X, y = iris
    clf = CodedClassifier(
        LogisticRegression(),
        batch_size=16,
        n_coded=48,
        stragglers=2,
        randomized=randomized,
        random_state=0,
    ).fit(X, y)
    pred = clf.predict(X[:n_rows])
    proba = clf.predict_proba(X[:n_rows])
    assert pred.shape == (n_rows,)
    assert proba.shape == (n_rows, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(pred == clf.estimator_.predict(X[:n_rows])) >= 0.8


def test_explicit_points_pad_the_last_batch(regression):
    X, y = regression
    K, N = 6, 15
    alpha = np.linspace(-0.9, 0.9, K)
    beta = np.linspace(-1, 1, N)
    reg = CodedRegressor(
        Ridge(), scheme="lagrange", batch_size=K, n_coded=N, points=(alpha, beta)
    ).fit(X, y)
    for n_rows in (1, 4, 6, 13):
        assert _rel_err(reg.predict(X[:n_rows]), reg.estimator_.predict(X[:n_rows])) < 1e-9


def test_randomized_reproducible_and_seed_dependent(iris):
    X, y = iris
    params = dict(batch_size=8, n_coded=12, randomized=True, stragglers=2)
    clf = CodedClassifier(LogisticRegression(), random_state=0, **params).fit(X, y)
    first, second = clf.decision_function(X), clf.decision_function(X)
    np.testing.assert_array_equal(first, second)  # one check_random_state per call
    other = clf.set_params(random_state=1).decision_function(X)
    assert np.abs(other - first).max() > 1e-3
    # RandomState instances advance: consecutive calls differ.
    clf.set_params(random_state=np.random.RandomState(0))
    assert np.abs(clf.decision_function(X) - clf.decision_function(X)).max() > 1e-3


def test_n_draws_averages(iris):
    X, y = iris
    base = CodedClassifier(LogisticRegression(), batch_size=8, n_coded=12).fit(X, y)
    # Deterministic code (no permutation, no stragglers): averaging changes nothing.
    np.testing.assert_allclose(
        base.set_params(n_draws=3).decision_function(X),
        base.set_params(n_draws=1).decision_function(X),
        rtol=1e-12,
        atol=1e-12,
    )
    # Randomized: the average of 8 draws is closer to the plain output than one draw.
    plain = base.estimator_.decision_function(X)
    base.set_params(randomized=True, random_state=0, stragglers=3)
    one = np.abs(base.set_params(n_draws=1).decision_function(X) - plain).mean()
    many = np.abs(base.set_params(n_draws=8).decision_function(X) - plain).mean()
    assert many < one


# -------------------------------------------------------------- classifiers
def test_classifier_response_and_probabilities(iris):
    X, y = iris
    clf = CodedClassifier(LogisticRegression(), batch_size=8, n_coded=32).fit(X, y)
    assert clf.response_ == "decision_function"
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    # Multinomial logistic regression: softmax of the decoded decision function
    # approximates the inner predict_proba (exact code -> exact probabilities).
    exact = CodedClassifier(LogisticRegression(), scheme="lagrange", batch_size=8, n_coded=8)
    exact.fit(X, y)
    np.testing.assert_allclose(
        exact.predict_proba(X), exact.estimator_.predict_proba(X), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        exact.predict_log_proba(X), np.log(exact.estimator_.predict_proba(X)), atol=1e-8
    )
    assert np.mean(clf.predict(X) == clf.estimator_.predict(X)) > 0.97


def test_binary_string_labels():
    X, y = make_classification(n_samples=80, n_features=5, random_state=0)
    labels = np.array(["no", "yes"])[y]
    clf = CodedClassifier(LogisticRegression(), scheme="lagrange", batch_size=5, n_coded=6)
    clf.fit(X, labels)
    assert clf.decision_function(X).shape == (80,)
    np.testing.assert_array_equal(clf.predict(X), clf.estimator_.predict(X))
    np.testing.assert_allclose(clf.predict_proba(X), clf.estimator_.predict_proba(X), atol=1e-9)


def test_mlp_decodes_log_proba(iris):
    # MLPClassifier has no decision_function: log-probabilities are decoded. They are
    # the logits minus a per-row constant, which decoding maps to a per-row constant
    # (a row of D acts on all columns alike), so softmax undoes it: the probabilities
    # equal those of decoded logits, computed here by hand from the public weights.
    X, y = iris
    mlp = MLPClassifier((8,), max_iter=2000, random_state=0)
    clf = CodedClassifier(mlp, batch_size=8, points="interior", n_coded=20).fit(X, y)
    assert clf.response_ == "log_proba"
    assert not hasattr(clf, "decision_function")
    net = clf.estimator_

    def logits(Z):
        hidden = np.maximum(Z @ net.coefs_[0] + net.intercepts_[0], 0)
        return hidden @ net.coefs_[1] + net.intercepts_[1]

    from sklearn_coded.operators import coding_operator, coding_points

    alpha, beta = coding_points("interior", 8, 20)
    E = coding_operator("spline", alpha, beta)[0]
    D = coding_operator("spline", beta, alpha)[0]
    decoded = D @ logits(E @ X[:8])
    expected = np.exp(decoded - decoded.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X[:8]), expected, atol=1e-10)


def test_unfitted_method_availability():
    assert hasattr(CodedClassifier(LogisticRegression()), "decision_function")
    assert hasattr(CodedClassifier(LogisticRegression()), "predict_proba")
    assert not hasattr(CodedClassifier(MLPClassifier()), "decision_function")
    assert not hasattr(CodedClassifier(Ridge()), "predict_proba")


# ------------------------------------------------------- sklearn integration
def test_grid_search_over_n_coded_and_nested_parameter(iris):
    X, y = iris
    search = GridSearchCV(
        CodedClassifier(LogisticRegression(), batch_size=8, random_state=0),
        {"n_coded": [9, 32], "estimator__C": [0.01, 1.0]},
        cv=3,
    ).fit(X, y)
    assert set(search.best_params_) == {"n_coded", "estimator__C"}
    assert search.best_params_["estimator__C"] == 1.0
    assert search.best_score_ > 0.85


def test_cross_val_score_and_pipelines(iris, regression):
    X, y = iris
    inner = make_pipeline(StandardScaler(), LogisticRegression())
    scores = cross_val_score(CodedClassifier(inner, batch_size=8, n_coded=24), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    outer = make_pipeline(StandardScaler(), CodedClassifier(LogisticRegression(), batch_size=8))
    assert outer.fit(X, y).score(X, y) > 0.9
    Xr, yr = regression
    reg = CodedRegressor(make_pipeline(StandardScaler(), Ridge()), batch_size=8, n_coded=64)
    assert cross_val_score(reg, Xr, yr, cv=3).mean() > 0.95


def test_clone_and_pickle_round_trip(iris):
    X, y = iris
    clf = CodedClassifier(
        LogisticRegression(),
        batch_size=8,
        n_coded=16,
        stragglers=0.2,
        randomized=True,
        random_state=7,
    )
    fitted = clf.fit(X, y)
    expected = fitted.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict_proba(X), expected)
    np.testing.assert_array_equal(clone(clf).fit(X, y).predict_proba(X), expected)
    assert clone(clf).get_params()["estimator__C"] == 1.0


def test_set_params_after_fit_changes_the_code_only(regression):
    X, y = regression
    reg = CodedRegressor(Ridge(), batch_size=8, points="interior", n_coded=9).fit(X, y)
    inner = reg.estimator_
    rough = _rel_err(reg.predict(X), inner.predict(X))
    fine = _rel_err(reg.set_params(n_coded=128).predict(X), inner.predict(X))
    assert reg.estimator_ is inner and fine < rough / 100
    with pytest.raises(ValueError, match="n_coded"):
        reg.set_params(n_coded=1).predict(X)


def test_float32_is_kept_for_the_workers(iris):
    X, y = iris
    seen = []

    class Spy(LogisticRegression):
        def decision_function(self, X):
            seen.append(X.dtype)
            return super().decision_function(X)

    clf = CodedClassifier(Spy(), batch_size=8, points="interior", n_coded=16).fit(
        X.astype(np.float32), y
    )
    assert set(seen) == {np.dtype(np.float32)}  # the fit-time smoothness probe
    seen.clear()
    clf.predict(X.astype(np.float32))
    assert seen == [np.float32]


# -------------------------------------------------------------------- errors
def test_too_few_results_propagate(iris):
    X, y = iris
    clf = CodedClassifier(
        LogisticRegression(),
        batch_size=8,
        n_coded=10,
        stragglers=RandomStragglers(0.9),
        random_state=0,
    ).fit(X, y)
    with pytest.raises(InsufficientResultsError) as info:
        clf.predict(X)
    # the quality floor: K = 8 results per batch (the code's nodes), not 2
    assert info.value.n_needed == 8 and info.value.n_returned < 8
    # Lagrange needs K survivors: a fixed S leaving fewer is a configuration error.
    with pytest.raises(ValueError, match="stragglers"):
        CodedClassifier(
            LogisticRegression(), scheme="lagrange", batch_size=8, n_coded=10, stragglers=3
        ).fit(X, y)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"scheme": "berrut", "smoothing": 1e-3}, "smoothing=0.001"),
        ({"scheme": "lagrange", "n_coded": 4}, "n_coded"),
        ({"smoothing": (1e-3,)}, "smoothing"),
        ({"smoothing": (-1.0, 0.0)}, "smoothing"),
        ({"smoothing": ("gcv", 0.0)}, "smoothing"),
        ({"stragglers": -1}, "stragglers"),
        ({"stragglers": 1.5}, "stragglers"),
        ({"n_coded": 1}, "n_coded"),
        ({"batch_size": 0}, "batch_size"),
        ({"points": "nope"}, "points"),
        ({"points": (np.linspace(-1, 1, 5), "chebyshev")}, "batch_size=8"),
        ({"mu": 1.5}, "mu"),
        ({"coded_loss": "nope"}, "coded_loss"),
        ({"n_draws": 0}, "n_draws"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "5 s"}, "timeout"),
    ],
)
def test_bad_parameters_are_named(iris, params, match):
    X, y = iris
    clf = CodedClassifier(LogisticRegression(), **{"batch_size": 8, "n_coded": 16, **params})
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(X, y)


def test_stragglers_of_a_wrong_type(iris):
    X, y = iris
    with pytest.raises(TypeError, match="stragglers"):
        CodedClassifier(LogisticRegression(), stragglers="many").fit(X, y)


def test_estimator_without_fit(iris):
    X, y = iris
    with pytest.raises(TypeError, match="estimator"):
        CodedClassifier(object()).fit(X, y)


def test_mu_needs_a_skorch_net(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"mu=0.5 .*skorch"):
        CodedClassifier(LogisticRegression(), mu=0.5).fit(X, y)


class _PredictOnly(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_classifier_without_continuous_output(iris):
    X, y = iris
    with pytest.raises(TypeError, match="decision_function nor predict_proba"):
        CodedClassifier(_PredictOnly(), batch_size=8).fit(X, y)


def test_order_reaches_the_coders(regression):
    X, y = regression
    K, N = 8, 20
    reg = CodedRegressor(Ridge(), batch_size=K, points="interior", n_coded=N, order=3).fit(X, y)
    batch = X[:K]
    coded = SplineEncoder(n_coded=N, order=3, points="interior").fit_transform(batch)
    results = reg.estimator_.predict(coded)[:, None]
    decoded = SplineDecoder(n_samples=K, order=3, points="interior").fit(results).transform(results)
    np.testing.assert_allclose(reg.predict(batch), decoded[:, 0], rtol=1e-12, atol=1e-10)
    with pytest.raises(ValueError, match="order=3 applies to scheme='spline' only"):
        CodedRegressor(Ridge(), scheme="berrut", order=3).fit(X, y).predict(X)


def test_order_three_pads_a_short_last_batch(regression):
    X, y = regression
    reg = CodedRegressor(Ridge(), batch_size=8, points="interior", n_coded=40, order=3).fit(X, y)
    rows = X[:26]  # three batches of 8 and one of 2 rows, padded to 3
    np.testing.assert_allclose(reg.predict(rows), reg.estimator_.predict(rows), atol=1e-2)


# ------------------------------------------------- execution, streaming, warnings
class _OneHangs(BaseStragglers):
    """One worker's task waits ``seconds`` before it computes; the master waits for all."""

    def __init__(self, worker=3, seconds=30.0):
        self.worker = worker
        self.seconds = seconds

    def draw_missing(self, n_workers, n_batches, random_state=None):
        return np.zeros((n_workers, n_batches), dtype=bool)

    def draw_plan(self, n_workers, random_state=None):
        delays = np.zeros(n_workers)
        delays[self.worker] = self.seconds
        return StragglerPlan(delays, n_workers, None)


def test_timeout_decodes_around_a_hung_worker(iris):
    X, y = iris
    with ThreadPoolExecutor(max_workers=16) as pool:
        clf = CodedClassifier(
            LogisticRegression(), batch_size=8, n_coded=16, executor=pool,
            stragglers=_OneHangs(), timeout=1.0, random_state=0,
        ).fit(X, y)  # fmt: skip
        start = time.monotonic()
        predicted = clf.predict(X)
        elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 4.0  # the hung worker would take 30 s
    assert np.mean(predicted == clf.estimator_.predict(X)) > 0.95


def test_predict_streams_chunks_with_the_same_result(regression, monkeypatch):
    X, y = regression
    X = np.tile(X, (5, 1))  # 305 rows, several chunks of batches
    calls = []

    class Counting(Ridge):
        def predict(self, X):
            calls.append(len(X))
            return super().predict(X)

    reg = CodedRegressor(Counting(), batch_size=8, n_coded=20).fit(X[:61], y)
    calls.clear()
    whole = reg.predict(X)
    assert calls == [20 * 39]  # 305 rows: 38 batches of 8 and one of 1, one request
    # Chunks of 4 batches: (20 workers x 4 batches x 5 features x 8 bytes) each.
    monkeypatch.setattr(coded_module, "PREDICT_CHUNK_BYTES", 20 * 4 * 5 * 8)
    calls.clear()
    chunked = reg.predict(X)
    assert calls == [20 * 4] * 9 + [20 * 3]
    np.testing.assert_allclose(chunked, whole, rtol=1e-13, atol=1e-10)


def test_predict_peak_memory_is_bounded_by_a_chunk(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 50))  # 8 MB; its coded rows at N/K = 8 take 64 MB
    reg = CodedRegressor(Ridge(), batch_size=16, n_coded=128).fit(X[:500], X[:500, 0])
    monkeypatch.setattr(coded_module, "PREDICT_CHUNK_BYTES", 2**22)  # 4 MB
    tracemalloc.start()
    try:
        predicted = reg.predict(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, peak  # a chunk and its copies, far below the 64 MB
    assert _rel_err(predicted, reg.estimator_.predict(X)) < 1e-2


def test_log_proba_is_the_log_of_hard_probabilities(iris):
    X, y = iris
    with pytest.warns(UserWarning, match="DecisionTreeClassifier are far from smooth"):
        clf = CodedClassifier(
            DecisionTreeClassifier(random_state=0), random_state=0, points="interior"
        ).fit(X, y)
    proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    assert (proba == 0).any()  # hard probabilities: the case that failed
    np.testing.assert_array_equal(np.isinf(log_proba), proba == 0)
    normal = proba >= np.finfo(float).tiny
    np.testing.assert_allclose(log_proba[normal], np.log(proba[normal]), rtol=1e-12)
    # A subnormal probability has lost digits; the log-probability keeps them
    # and rounds to it within the subnormal spacing 2^-1074.
    subnormal = (proba > 0) & ~normal
    assert np.abs(np.exp(log_proba[subnormal]) - proba[subnormal]).max(initial=0) <= 2**-1073


@pytest.mark.parametrize(
    "estimator, warns",
    [
        (DecisionTreeClassifier(random_state=0), True),
        (KNeighborsClassifier(), True),
        (LogisticRegression(max_iter=1000), False),
        (MLPClassifier((32,), max_iter=300, random_state=0), False),
    ],
    ids=["tree", "knn", "logistic", "mlp"],
)
def test_non_smooth_estimators_are_warned_about_at_fit(estimator, warns):
    X, y = load_digits(return_X_y=True)
    X = X[:400] / 16
    clf = CodedClassifier(estimator, batch_size=16, n_coded=64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y[:400])
    messages = [str(w.message) for w in caught if "far from smooth" in str(w.message)]
    assert len(messages) == int(warns), messages
    if warns:
        assert type(estimator).__name__ in messages[0]


def test_fewer_coded_rows_than_batch_rows_refuses_at_predict_only(iris):
    # N < K used to predict with a warning (accuracy 0.32 at N = 4); below the
    # code's K nodes the outputs are undetermined, so predicting refuses.
    X, y = iris
    clf = CodedClassifier(LogisticRegression(), batch_size=16, n_coded=4)
    clf.fit(X, y)  # no error: N < K is a valid training setting (filterwarnings=error)
    with pytest.raises(ValueError, match=r"n_coded=4 gives each batch at most 4 results, .*16"):
        clf.predict(X)
