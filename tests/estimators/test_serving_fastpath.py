"""The per-request shortcuts of the serving path against the slow, obvious versions."""

import threading

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import validate_data

from sklearn_coded.estimators import CodedClassifier
from sklearn_coded.estimators._serving import request_rng, request_rows, shallow_params
from sklearn_coded.execution import FixedStragglers
from sklearn_coded.execution._run import finite_rows


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finite_rows_equals_isfinite_all(dtype):
    rng = np.random.default_rng(0)
    results = rng.normal(size=(9, 7, 4)).astype(dtype)
    results[rng.random((9, 7)) < 0.2] = np.nan
    results[1, 2, 3] = np.inf
    results[2, 3, 0] = -np.inf
    big = np.finfo(dtype).max
    results[3, 4] = [big, big, -1, 0]  # finite, but its sum overflows
    results[4, 5] = [np.inf, -np.inf, 0, 0]  # the sum is NaN
    np.testing.assert_array_equal(finite_rows(results), np.isfinite(results).all(axis=2))
    assert finite_rows(results)[3, 4]


def test_request_rng_draws_as_a_fresh_random_state():
    owner = object()
    for seed in (0, 7, 2**32 - 1, np.int64(5)):
        fresh = np.random.RandomState(seed)
        reused = request_rng(seed, owner)
        reused.standard_normal()  # leaves a cached Gaussian behind in a RandomState
        reused = request_rng(seed, owner)
        np.testing.assert_array_equal(reused.standard_normal(5), fresh.standard_normal(5))
        np.testing.assert_array_equal(reused.random_sample(5), fresh.random_sample(5))
    state = np.random.RandomState(3)
    assert request_rng(state, owner) is state
    with pytest.raises(ValueError):
        request_rng(-1, owner)


def test_request_rng_one_generator_per_thread_and_owner():
    a, b = object(), object()
    assert request_rng(0, a) is request_rng(1, a)
    assert request_rng(0, a) is not request_rng(0, b)
    other = []
    thread = threading.Thread(target=lambda: other.append(request_rng(0, a)))
    thread.start()
    thread.join()
    assert other[0] is not request_rng(0, a)


def _fitted(n_features=3):
    X, y = make_classification(40, n_features, n_informative=2, n_redundant=0, random_state=0)
    return LogisticRegression().fit(X, y), X


def test_request_rows_fast_path_returns_the_array():
    est, X = _fitted()
    assert request_rows(est, X, (np.float64, np.float32)) is X
    X32 = X.astype(np.float32)
    assert request_rows(est, X32, (np.float64, np.float32)) is X32


@pytest.mark.parametrize(
    "bad",
    [
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 4, np.nan, X),
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 4, np.inf, X),
        lambda X: X[:, :2],
        lambda X: X[:0],
    ],
    ids=["nan", "inf", "columns", "empty"],
)
def test_request_rows_refuses_as_validate_data(bad):
    est, X = _fitted()
    with pytest.raises(ValueError) as expected:
        validate_data(est, bad(X), reset=False, dtype=(np.float64, np.float32))
    with pytest.raises(ValueError) as got:
        request_rows(est, bad(X), (np.float64, np.float32))
    assert str(got.value) == str(expected.value)


def test_request_rows_huge_finite_values_pass():
    est, X = _fitted()
    X = X.copy()
    X[:, 0] = np.finfo(np.float64).max  # the sum overflows, every entry is finite
    assert request_rows(est, X, (np.float64,)) is X


def test_request_rows_converts_what_is_not_a_float_array():
    est, X = _fitted()
    rows = X.tolist()
    out = request_rows(est, rows, (np.float64, np.float32))
    np.testing.assert_array_equal(out, X)
    ints = np.arange(6).reshape(2, 3)
    assert request_rows(est, ints, (np.float64, np.float32)).dtype == np.float64


def test_shallow_params_equals_get_params():
    est = LogisticRegression(C=0.3)
    assert shallow_params(est) == est.get_params(deep=False)
    pipe = make_pipeline(StandardScaler(), LogisticRegression())  # its own get_params
    assert shallow_params(pipe) == pipe.get_params(deep=False)


@pytest.mark.parametrize("n_stragglers", [0, 1, 3, 6, 7])
def test_fixed_stragglers_are_the_smallest_keys(n_stragglers):
    missing = FixedStragglers(n_stragglers).draw_missing(6, 50, random_state=1)
    keys = np.random.RandomState(1).random_sample((6, 50))  # the same draws
    oracle = keys.argsort(axis=0).argsort(axis=0) < n_stragglers
    np.testing.assert_array_equal(missing, oracle)


def test_seeded_requests_repeat_and_set_params_is_seen():
    X, y = make_classification(200, 5, random_state=0)
    clf = CodedClassifier(
        LogisticRegression(), batch_size=8, n_coded=16, stragglers=3, random_state=4
    ).fit(X, y)
    first = clf.decision_function(X)
    np.testing.assert_array_equal(clf.decision_function(X), first)
    clf.estimator_.set_params(C=0.5)  # not a parameter of the coded estimator: no new state
    clf.set_params(stragglers=0)
    exact = clf.decision_function(X)
    assert not np.array_equal(exact, first)
    clf.set_params(stragglers=3)
    np.testing.assert_array_equal(clf.decision_function(X), first)
