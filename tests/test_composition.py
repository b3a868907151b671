"""Coded training and randomized prediction compose with scikit-learn's tooling.

A skorch net inside ``CodedClassifier`` inside a ``Pipeline``: GridSearchCV over
mu, N and nested net parameters (sequential and in parallel, with identical
results), cross_val_score, and pickle/clone round trips with identical
predictions for a fixed random_state. The inputs are float64 and the labels
int32: the skorch dtype rules are the package's job, not the user's.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier
from torch import nn


class MLP(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, X):
        return self.layers(X)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:240], y[:240].astype(np.int32)


def coded_pipeline(**params):
    from sklearn_coded.estimators import CodedClassifier

    net = NeuralNetClassifier(
        MLP,
        criterion=nn.CrossEntropyLoss,  # the module returns logits
        max_epochs=3,
        lr=0.1,
        optimizer=torch.optim.SGD,
        train_split=None,
        verbose=0,
    )
    # The task loss: with 3 epochs on 160 rows the label-free consistency loss (the
    # default) leaves the net under-trained; these tests are about composition.
    coded = CodedClassifier(
        net, batch_size=16, n_coded=32, mu=0.5, coded_loss="task", random_state=0
    )
    return Pipeline([("scale", StandardScaler()), ("coded", coded.set_params(**params))])


def test_grid_search_over_mu_n_and_nested_net_parameters(digits):
    X, y = digits
    grid = {
        "coded__mu": [0.0, 0.5],
        "coded__n_coded": [24, 40],
        "coded__estimator__lr": [0.2],
        "coded__estimator__module__hidden": [12],
    }
    results = []
    for n_jobs in (1, 2):
        search = GridSearchCV(coded_pipeline(), grid, cv=2, n_jobs=n_jobs).fit(X, y)
        results.append(search.cv_results_["mean_test_score"])
        assert search.best_estimator_.predict(X).shape == (len(X),)
    # every fit is seeded from random_state: parallel and sequential searches agree
    np.testing.assert_array_equal(results[0], results[1])
    assert results[0].min() > 0.5  # the grid trains real classifiers


def test_cross_val_score_with_coded_training_and_randomized_prediction(digits):
    X, y = digits
    scores = cross_val_score(coded_pipeline(randomized=True, n_draws=2), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.5


def test_pickle_and_clone_give_identical_predictions(digits):
    X, y = digits
    model = coded_pipeline(randomized=True).fit(X, y)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # a fixed random_state: the same randomized predictions on every call ...
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    # ... after a pickle round trip ...
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_proba(X), proba)
    # ... and from a clone fitted anew
    np.testing.assert_allclose(clone(model).fit(X, y).predict_proba(X), proba, atol=1e-6)
    # another seed draws other permutations
    other = clone(model).set_params(coded__random_state=1).fit(X, y)
    assert not np.allclose(other.predict_proba(X), proba)


def test_skorch_dtype_rules_are_handled_inside(digits):
    from skorch import NeuralNetRegressor

    from sklearn_coded.estimators import CodedClassifier, CodedRegressor

    X, y = digits
    X = X / 16.0
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    net = NeuralNetClassifier(
        MLP, criterion=nn.CrossEntropyLoss, max_epochs=5, lr=0.2, optimizer=torch.optim.SGD,
        train_split=None, verbose=0,
    )  # fmt: skip
    labelled = CodedClassifier(net, batch_size=16, n_coded=48, random_state=0).fit(X, names[y])
    assert set(labelled.predict(X)) <= set(names)
    assert np.mean(labelled.predict(X) == names[y]) > 0.5

    class Linear(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(64, 1)

        def forward(self, X):
            return self.linear(X)

    regressor = NeuralNetRegressor(
        Linear, max_epochs=30, lr=0.02, optimizer=torch.optim.SGD, train_split=None, verbose=0
    )
    target = X @ np.linspace(-1, 1, 64)  # float64, 1-D
    coded = CodedRegressor(regressor, batch_size=16, n_coded=48, random_state=0).fit(X, target)
    prediction = coded.predict(X)
    assert prediction.shape == target.shape
    assert np.corrcoef(prediction, target)[0, 1] > 0.9
