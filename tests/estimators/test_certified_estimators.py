"""Estimators' quality floor, refused batches and diagnostics (issue 17.1, 16.4, 16.6)."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier

from sklearn_coded.estimators import CodedClassifier, CodedRegressor
from sklearn_coded.estimators._batching import batch_groups, decode_groups, make_coders
from sklearn_coded.estimators._diagnostics import UncertifiedBatchError, UncertifiedBatchWarning
from sklearn_coded.execution import GrossErrors, InsufficientResultsError, RandomStragglers
from sklearn_coded.operators import coding_operator, coding_points, locate_span


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_the_issue_example_62_of_64_stragglers_is_refused(digits):
    # CodedClassifier(..., n_coded=64, stragglers=62) scored 0.194 against 0.927 plain
    X, y = digits
    clf = CodedClassifier(LogisticRegression(max_iter=200), n_coded=64, stragglers=62)
    with pytest.raises(ValueError, match=r"stragglers.*62"):
        clf.fit(X[:300], y[:300])


def test_min_results_below_the_codes_nodes_is_refused():
    X = np.random.default_rng(0).normal(size=(40, 3))
    reg = CodedRegressor(Ridge(), batch_size=8, n_coded=24, min_results=5)
    with pytest.raises(ValueError, match=r"min_results=5 is below .* 8 \(K=batch_size=8"):
        reg.fit(X, X[:, 0])


def test_batches_below_the_floor_raise_or_come_back_nan_with_one_warning():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    y = X @ [1.0, -2.0, 0.5]
    kwargs = dict(batch_size=8, n_coded=16, stragglers=RandomStragglers(0.4), random_state=3)
    reg = CodedRegressor(Ridge(), **kwargs).fit(X, y)
    with pytest.raises(InsufficientResultsError) as info:  # default: raise
        reg.predict(X)
    assert info.value.n_needed == 8
    nan_reg = CodedRegressor(Ridge(), on_uncertified="nan", **kwargs).fit(X, y)
    with pytest.warns(UncertifiedBatchWarning, match="below the floor of 8") as record:
        pred = nan_reg.predict(X)
    assert len(record) == 1
    last = nan_reg.diagnostics_.last
    below = last.below_floor
    assert below.size and np.array_equal(below, np.flatnonzero(last.results_used < 8))
    rows_nan = np.isnan(pred)
    in_refused = np.zeros(80, dtype=bool)
    for b in below:  # batch b holds rows 8b..8b+7 (no permutation)
        in_refused[8 * b : 8 * b + 8] = True
    # NaN only in refused batches; there, a row is NaN or its data worker's exact
    # answer (the systematic default, docs/method.rst 12.3): Ridge's own prediction
    assert not rows_nan[~in_refused].any() and rows_nan[in_refused].any()
    kept = in_refused & ~rows_nan
    np.testing.assert_allclose(pred[kept], nan_reg.estimator_.predict(X[kept]), rtol=1e-10)
    assert last.exact_rows == kept.sum() and last.refused_rows == in_refused.sum()


def test_diagnostics_record_results_used_and_predict_sets_no_attribute():
    X = np.random.default_rng(2).normal(size=(64, 3))
    reg = CodedRegressor(Ridge(), batch_size=8, n_coded=24, stragglers=4).fit(X, X[:, 0])
    before = set(vars(reg))
    reg.predict(X)
    reg.predict(X[:16])
    assert set(vars(reg)) == before
    first, last = reg.diagnostics_.requests
    np.testing.assert_array_equal(first.results_used, np.full(8, 20))
    assert last.n_batches == 2 and last.floor == 8 and last.decode_seconds > 0
    assert first.below_floor.size == first.uncertified.size == 0


def test_more_liars_than_declared_are_refused_not_returned():
    # Ridge is affine: the code reproduces it exactly, so 6 gross liars with
    # n_adversaries=3 leave inconsistent kept results in every batch
    rng = np.random.default_rng(4)
    X = rng.normal(size=(48, 3))
    y = X @ [1.0, -2.0, 0.5]
    kwargs = dict(batch_size=8, n_coded=40, n_adversaries=3, random_state=0)
    reg = CodedRegressor(Ridge(), adversaries=GrossErrors(6, scale=10.0), **kwargs).fit(X, y)
    with pytest.raises(UncertifiedBatchError, match=r"6 of 6 batches .*batch 0: .*more liars"):
        reg.predict(X)
    reg.set_params(on_uncertified="nan")
    with pytest.warns(UncertifiedBatchWarning):
        assert np.isnan(reg.predict(X)).all()
    honest = CodedRegressor(Ridge(), adversaries=GrossErrors(3, scale=10.0), **kwargs).fit(X, y)
    # the spline code reproduces an affine f up to its approximation error (no liar effect)
    np.testing.assert_allclose(honest.predict(X), Ridge().fit(X, y).predict(X), atol=0.02 * y.std())
    assert honest.diagnostics_.last.uncertified.size == 0
    np.testing.assert_array_equal(honest.diagnostics_.last.results_used, np.full(6, 37))


def test_classifier_locates_liars_on_row_centred_log_probabilities(digits):
    # Bug (issue 16.4): log-probabilities carry a per-row log-sum-exp that varies
    # along the code; the classifier path locates liars on row-centred scores, so a
    # shift of every coded row by its own constant changes neither the flags nor
    # the decoded scores beyond that constant.
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((16,), max_iter=100, random_state=0).fit(X[:500], y[:500])
    clf = CodedClassifier(mlp, batch_size=16, n_coded=80, n_adversaries=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:500], y[:500])
    assert clf.response_ == "log_proba"
    config = clf._coding_config(predicting=True)
    encoder, decoder = make_coders(config)
    groups = batch_groups(32, 16)
    from sklearn_coded.estimators._batching import encode_groups

    coded = encode_groups(X[500:532], groups, encoder)  # (N, 2, 64)
    scores = np.log(clf.estimator_.predict_proba(coded.reshape(-1, 64))).reshape(80, 2, 10)
    scores[[5, 40, 41], 0, 3] += 30.0  # three liars in batch 0 push class 3
    returned = np.ones((80, 2), dtype=bool)
    shift = np.random.default_rng(0).normal(scale=50.0, size=(80, 2, 1))
    report = {}
    a = decode_groups(scores, returned, groups, decoder, 32, shift_free=True, report=report)
    b = decode_groups(scores + shift, returned, groups, decoder, 32, shift_free=True)
    centred = lambda Z: Z - Z.mean(axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(centred(a), centred(b), atol=1e-8)
    assert report["certified"].all()
    # oracle: the span locator on the centred results of batch 0 finds the liars
    alpha, beta = coding_points(config.points, 16, 80)
    B = coding_operator("spline", alpha, beta)[0]
    flagged = locate_span(B, centred(scores[:, 0]), 3)
    np.testing.assert_array_equal(np.flatnonzero(flagged), [5, 40, 41])


def test_classifier_predict_gives_nan_not_a_class_for_refused_rows(digits):
    X, y = digits
    clf = CodedClassifier(
        LogisticRegression(max_iter=300),
        batch_size=8,
        n_coded=16,
        stragglers=RandomStragglers(0.4),
        on_uncertified="nan",
        random_state=3,
    ).fit(X[:400], y[:400])
    with pytest.warns(UncertifiedBatchWarning):
        labels = clf.predict(X[400:480])
    refused = np.isnan(labels)
    assert refused.any() and not refused.all()
    below = clf.diagnostics_.last.below_floor
    expected = np.zeros(80, dtype=bool)
    for b in below:
        expected[8 * b : 8 * b + 8] = True
    # NaN rows only in refused batches, whose other rows are exact (docs/method.rst 12.3)
    assert not refused[~expected].any()
    kept = expected & ~refused
    bare = clf.estimator_.predict(X[400:480])
    np.testing.assert_array_equal(labels[kept], bare[kept])
    assert set(labels[~refused]) <= set(clf.classes_)
