"""Binary ``predict_log_proba``: each column belongs to its class (a swap once survived)."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_coded import CodedClassifier


@pytest.fixture(scope="module")
def binary():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    labels = np.array(["benign", "malignant"])[y]  # string classes: classes_ order matters
    return X[:200], labels[:200]


def test_binary_predict_log_proba_columns_match_the_inner_classifier(binary):
    """Lagrange with N >= K and no stragglers decodes an affine score exactly, so the
    coded log-probabilities equal the inner LogisticRegression's (the oracle) column
    by column; swapped columns differ by the whole log-odds."""
    X, y = binary
    clf = CodedClassifier(
        LogisticRegression(C=0.1), scheme="lagrange", batch_size=4, n_coded=6
    ).fit(X, y)
    inner = clf.estimator_
    assert list(clf.classes_) == list(inner.classes_)
    np.testing.assert_allclose(clf.predict_log_proba(X), inner.predict_log_proba(X), atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X), inner.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("scheme", ["spline", "berrut"])
def test_binary_predict_log_proba_agrees_with_predict_proba_and_predict(binary, scheme):
    X, y = binary
    clf = CodedClassifier(
        make_pipeline(LogisticRegression(C=0.1)), scheme=scheme, batch_size=8, n_coded=32
    ).fit(X, y)
    log_proba = clf.predict_log_proba(X)
    np.testing.assert_allclose(np.exp(log_proba), clf.predict_proba(X), rtol=1e-10, atol=1e-300)
    np.testing.assert_array_equal(clf.classes_[log_proba.argmax(axis=1)], clf.predict(X))
    # the column of "malignant" is the larger where the inner model's score is positive
    score = clf.estimator_.decision_function(X)
    sure = np.abs(score) > 3  # far from the boundary, where the code's error cannot flip it
    assert sure.sum() > 50
    np.testing.assert_array_equal(log_proba[sure, 1] > log_proba[sure, 0], score[sure] > 0)
