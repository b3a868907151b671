"""The in-process serving path (issue 23) against independent, batch-by-batch oracles.

The fast path encodes every batch in one batched product stored batch after
batch, runs f on the rows as they lie, proves the coded rows finite from a
bound, checks each row once and keeps unpermuted layouts. Its predictions must
be those of the public coders applied one batch at a time (docs/method.rst 3),
refused batches included (their exact rows kept, docs/method.rst 12.3).
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from sklearn_coded import SplineDecoder, SplineEncoder
from sklearn_coded.estimators import CodedClassifier
from sklearn_coded.estimators._batching import (
    Codec,
    batch_groups,
    encode_request,
    request_layout,
)
from sklearn_coded.execution import FixedStragglers, RandomStragglers
from sklearn_coded.execution._collect import finite_rows, nan_rows
from sklearn_coded.execution._run import run_drawn

K, N = 16, 32


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(400, 8, n_informative=5, n_classes=3, random_state=0)
    return X[:200], y[:200], X[200:]  # 200 test rows: 12 batches of 16 and one of 8


def _oracle(clf, X, model, seed):
    """Batch by batch with SplineEncoder / SplineDecoder, the request's straggler draw."""
    n_batches = -(-len(X) // K)
    # the request's generator is RandomState(random_state); an unpermuted layout draws
    # nothing, so the straggler mask is its first draw
    missing = model.draw_missing(N, n_batches, np.random.RandomState(seed))
    floor = clf._serving_state()[0].min_results
    out = np.full((len(X), clf.classes_.size), np.nan)
    survivors = []
    for b in range(n_batches):
        rows = X[b * K : (b + 1) * K]
        encoder = SplineEncoder(n_coded=N, points="systematic").fit(rows)
        Y = clf.estimator_.decision_function(encoder.transform(rows))
        Y[missing[:, b]] = np.nan
        survivors.append(int((~missing[:, b]).sum()))
        if survivors[-1] >= floor:
            decoder = SplineDecoder(n_samples=len(rows), points="systematic").fit(Y)
            out[b * K : b * K + len(rows)] = decoder.transform(Y)
            continue
        # refused: a row whose own (data) worker answered is that worker's result
        for j, point in enumerate(encoder.data_points_):
            own = np.flatnonzero(encoder.coded_points_ == point)
            if own.size and not missing[own[0], b]:
                out[b * K + j] = Y[own[0]]
    return out, np.array(survivors)


@pytest.mark.parametrize(
    "stragglers, model, seed",
    [
        (2, FixedStragglers(2), 0),
        (5, FixedStragglers(5), 7),
        (RandomStragglers(0.45), RandomStragglers(0.45), 3),  # batches below the floor
        (RandomStragglers(0.45), RandomStragglers(0.45), 11),
    ],
)
def test_in_process_predictions_equal_the_public_coders_batch_by_batch(
    data, stragglers, model, seed
):
    X, y, X_test = data
    clf = CodedClassifier(
        LogisticRegression(),
        batch_size=K,
        n_coded=N,
        stragglers=stragglers,
        random_state=seed,
        on_uncertified="nan",
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # refused batches warn with on_uncertified="nan"
        got = clf.decision_function(X_test)
        again = clf.decision_function(X_test)  # layouts and operators from the caches
    expected, survivors = _oracle(clf, X_test, model, seed)
    # tolerance: the same products in another order (the decoder objects solve per
    # batch); the outputs are O(10), so 1e-12 is a few units of float64 rounding
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(got, again)
    request = clf.diagnostics_.requests[-1]
    np.testing.assert_array_equal(request.results_used, survivors)
    floor = clf._serving_state()[0].min_results
    np.testing.assert_array_equal(request.uncertified, np.flatnonzero(survivors < floor))


def test_batch_major_encode_equals_the_worker_major_block(data):
    X, y, X_test = data
    clf = CodedClassifier(LogisticRegression(), batch_size=K, n_coded=N).fit(X, y)
    codec = Codec(clf._serving_state()[0])
    groups = batch_groups(len(X_test), K)  # a full group and a short last batch
    fast = encode_request(X_test, groups, codec, batch_major=True)
    block = encode_request(X_test, groups, codec)
    assert fast.shape == block.shape == (N, 13, 8)
    assert fast.transpose(1, 0, 2).flags.c_contiguous  # batch after batch in memory
    np.testing.assert_allclose(fast, block, rtol=1e-14, atol=0)
    for b in (0, 12):  # against the public encoder, one batch at a time
        rows = X_test[b * K : (b + 1) * K]
        oracle = SplineEncoder(n_coded=N, points="systematic").fit_transform(rows)
        np.testing.assert_allclose(fast[:, b], oracle, rtol=1e-13, atol=1e-13)


def test_run_drawn_on_batch_major_rows_equals_contiguous_rows(data):
    X, y, _ = data
    model = LogisticRegression().fit(X, y)
    coded_bm = np.random.default_rng(0).normal(size=(13, N, 8))  # batch-major memory
    view = coded_bm.transpose(1, 0, 2)
    missing = FixedStragglers(3).draw_missing(N, 13, random_state=0)
    a, ok_a = run_drawn(model, "decision_function", view, missing)
    b, ok_b = run_drawn(model, "decision_function", np.ascontiguousarray(view), missing)
    np.testing.assert_array_equal(ok_a, ok_b)
    np.testing.assert_array_equal(a, b)  # NaN where missing, in both
    np.testing.assert_array_equal(ok_a, ~missing)


def test_finite_rows_among_returned_and_nan_rows_equal_the_elementwise_checks():
    rng = np.random.default_rng(1)
    results = rng.normal(size=(9, 7, 4))
    results[rng.random((9, 7)) < 0.2] = np.nan
    results[1, 2, 3] = np.inf
    big = np.finfo(np.float64).max
    results[3, 4] = [big, big, -1, 0]  # finite, but its sum overflows
    results[4, 5] = [np.inf, -np.inf, 0, 0]
    returned = rng.random((9, 7)) < 0.8
    expected = returned & np.isfinite(results).all(axis=2)
    np.testing.assert_array_equal(finite_rows(results, among=returned), expected)
    np.testing.assert_array_equal(
        finite_rows(results, among=returned), returned & finite_rows(results)
    )
    flat = results.reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(nan_rows(flat), np.isnan(flat).any(axis=1))
    infs = np.array([[np.inf, -np.inf], [1.0, 2.0]])  # NaN sum, no NaN entry
    np.testing.assert_array_equal(nan_rows(infs), [False, False])
    assert not nan_rows(np.ones((5, 3))).any()


def test_coded_rows_are_proved_finite_only_below_overflow(data):
    X, y, X_test = data
    clf = CodedClassifier(LogisticRegression(), batch_size=K, n_coded=N).fit(X, y)
    codec = Codec(clf._serving_state()[0])
    groups = batch_groups(len(X_test), K)
    encode_request(X_test, groups, codec, batch_major=True)  # E cached per batch size
    assert codec.coded_is_finite(groups, np.abs(X_test).max(), np.float64)
    assert not codec.coded_is_finite(groups, None, np.float64)  # unknown bound
    assert not codec.coded_is_finite(groups, 1e308, np.float64)
    # finite rows of alternating sign: E's parity rows (alternating signs too) overflow
    sign = np.where(np.arange(len(X_test)) % 2, -1.0, 1.0)[:, None]
    huge = np.ones_like(X_test) * sign * 0.5 * np.finfo(np.float64).max
    with np.errstate(over="ignore"):
        coded = encode_request(huge, groups, codec, batch_major=True)
    assert not np.isfinite(coded).all()
    assert not codec.coded_is_finite(groups, np.abs(huge).max(), np.float64)
    # the inner estimator's own validation still sees them, as before the fast path
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(ValueError, match="infinity"):
        clf.decision_function(huge)


def test_unpermuted_layouts_are_kept_read_only_and_permuted_ones_drawn_afresh():
    first = request_layout(50, K)
    assert request_layout(50, K) is first
    for group in first[0]:
        assert not group.slots.flags.writeable and not group.keep.flags.writeable
    fresh = batch_groups(50, K)
    for kept, new in zip(first[0], fresh, strict=True):
        np.testing.assert_array_equal(kept.slots, new.slots)
        np.testing.assert_array_equal(kept.keep, new.keep)
    rng = np.random.RandomState(0)
    a = request_layout(50, K, rng=rng)
    b = request_layout(50, K, rng=rng)
    assert not np.array_equal(a[0][0].slots, b[0][0].slots)
