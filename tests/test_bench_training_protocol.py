"""The training protocol's statistics and data cuts (benchmarks/bench_training_protocol.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_digits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
protocol = pytest.importorskip("bench_training_protocol")


def test_holm_matches_the_step_down_definition():
    # sorted p: 0.01, 0.03, 0.04, 0.5 -> 4 * 0.01, 3 * 0.03, max(2 * 0.04, 0.09), 0.5
    adjusted = protocol.holm([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(adjusted, [0.04, 0.09, 0.09, 0.5])
    assert protocol.holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1


def test_paired_interval_and_p_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.9, 1.0, 5), rng.uniform(0.9, 1.0, 5)
    mean, ci, p = protocol.paired(a, b)
    result = stats.ttest_rel(a, b)
    low, high = result.confidence_interval(0.95)
    assert mean == pytest.approx(100 * np.mean(a - b))
    np.testing.assert_allclose(ci, [100 * low, 100 * high])
    assert p == pytest.approx(result.pvalue)
    # a wider level gives a wider interval around the same mean
    _, wide, _ = protocol.paired(a, b, 1 - 0.05 / 12)
    assert wide[0] < ci[0] and wide[1] > ci[1]


def _sorted_rows(X):
    return X[np.lexsort(np.asarray(X).T[::-1])]


def _stratified(y_test, y):
    """Every class of ``y`` in the test set in its share, within one row."""
    share = len(y_test) * np.bincount(y) / len(y)
    return np.all(np.abs(np.bincount(y_test, minlength=len(share)) - share) <= 1)


def test_digits_test_sets_and_pool_partition_the_images():
    names = ["digits300", "digits500", "digits1000"]
    data = protocol.load_regimes(protocol.PROTOCOL, names)
    (X_pool, _), tests = data[names[0]][0], [data[name][1] for name in names]
    assert all(data[name][0][0] is X_pool for name in names)  # one pool
    X, y = load_digits(return_X_y=True)
    # pool and the three test sets are the 1797 images, each exactly once
    stacked = np.concatenate([X_pool, *(X_test for X_test, _ in tests)]).astype(np.float64)
    np.testing.assert_array_equal(_sorted_rows(stacked), _sorted_rows(X / 16.0))
    assert [len(y_test) for _, y_test in tests] == [250, 250, 250]
    assert all(_stratified(y_test, y) for _, y_test in tests)


def test_cancer_is_standardised_with_the_pool_only():
    data = protocol.load_regimes(protocol.PROTOCOL, ["cancer250"])
    (X_pool, y_pool), (X_test, y_test), _, params = data["cancer250"]
    X, y = load_breast_cancer(return_X_y=True)
    assert (len(y_pool), len(y_test), params["n_in"]) == (369, 200, X.shape[1])
    np.testing.assert_allclose(X_pool.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(X_pool.std(0), 1, atol=1e-5)
    assert np.abs(X_test.mean(0)).max() > 0.01  # the test rows did not set the scale
    assert _stratified(y_test, y)
