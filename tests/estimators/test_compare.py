"""compare_schemes: the race on the user's own model, against closed-form cases."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression, Ridge

from sklearn_coded import SchemeComparison, compare_schemes
from sklearn_coded.execution import TargetedStragglers


@pytest.fixture(scope="module")
def model_and_rows():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return LogisticRegression(max_iter=300).fit(X[:800], y[:800]), X[800:960]


def test_without_stragglers_replication_and_systematic_codes_are_exact(model_and_rows):
    model, X = model_and_rows
    table = compare_schemes(
        model,
        X,
        schemes=["replication", ("spline", "systematic"), ("berrut", "systematic")],
        n_coded=[9, 16],
        batch_size=8,
        stragglers=0,
        n_repeats=2,
    )
    assert isinstance(table, SchemeComparison) and len(table) == 6
    np.testing.assert_array_equal(table["agreement"], 1.0)
    np.testing.assert_array_equal(table["lost"], 0.0)
    assert table["mse"].max() < 1e-24


def test_a_replica_adversary_loses_half_the_rows_of_two_fold_replication(model_and_rows):
    model, X = model_and_rows
    K = 8
    adversary = TargetedStragglers(K, target="replicas", n_samples=K)  # S = K of N = 2K
    table = compare_schemes(
        model, X, schemes=["replication", "spline"], n_coded=2 * K, batch_size=K,
        stragglers=[adversary], n_repeats=3, random_state=0,
    )  # fmt: skip
    replication, spline = table.rows
    assert replication["lost"] == 0.5  # every replica of K/2 rows of each batch
    assert replication["agreement"] <= 0.5
    # the spline code sees K random coded points out of 2K: K results, decoded
    assert spline["lost"] == 0.0 and spline["agreement"] > 0.5
    frame = table.to_frame()
    assert list(frame.columns)[:3] == ["scheme", "points", "n_coded"]
    assert table.best()["scheme"] == "spline"


def test_regressors_get_mse_only_and_bad_values_are_named(model_and_rows):
    _, X = model_and_rows
    reg = Ridge().fit(X, X[:, 10])
    table = compare_schemes(reg, X, schemes=["replication"], n_coded=[20], stragglers=0)
    assert np.isnan(table["agreement"]).all() and table["mse"][0] == 0.0
    with pytest.raises(ValueError, match="n_coded must be an int >= 16; got n_coded=8"):
        compare_schemes(reg, X, n_coded=[8])
    with pytest.raises(ValueError, match=r"scheme must be one of .* got 'rs'"):
        compare_schemes(reg, X, schemes=["rs"])
