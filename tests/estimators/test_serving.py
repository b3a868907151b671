"""The serving path of the coded estimators: vectorised coding, chunking, per-batch draws."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge

from sklearn_coded import (
    BerrutDecoder,
    BerrutEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)
from sklearn_coded.estimators import CoalescingPredictor, CodedClassifier, CodedRegressor
from sklearn_coded.estimators import _predict as coded_module
from sklearn_coded.estimators._batching import batch_groups, request_layout
from sklearn_coded.execution import BaseStragglers, StragglerPlan

CODERS = {
    "spline": (SplineEncoder, SplineDecoder),
    "berrut": (BerrutEncoder, BerrutDecoder),
    "lagrange": (LagrangeEncoder, LagrangeDecoder),
}


class _FixedPattern(BaseStragglers):
    """Batch b misses workers (3 b) mod N and (5 b + 1) mod N: no randomness."""

    def draw_missing(self, n_workers, n_batches, random_state=None):
        missing = np.zeros((n_workers, n_batches), dtype=bool)
        b = np.arange(n_batches)
        missing[(3 * b) % n_workers, b] = True
        missing[(5 * b + 1) % n_workers, b] = True
        return missing

    def draw_plan(self, n_workers, random_state=None):  # pragma: no cover - in process only
        return StragglerPlan(np.zeros(n_workers), n_workers - 2, None)


def _per_batch_reference(clf, X, scheme, points, K, N):
    """The pre-vectorised semantics: one encoder and decoder object per batch."""
    encoder_cls, decoder_cls = CODERS[scheme]
    pattern = _FixedPattern().draw_missing(N, -(-len(X) // K))
    out = []
    for b, start in enumerate(range(0, len(X), K)):
        rows = X[start : start + K]
        coded = encoder_cls(N, points=points).fit(rows).transform(rows)
        Y = clf._worker.response(coded)
        Y[pattern[:, b]] = np.nan
        out.append(decoder_cls(len(rows), points=points).fit(Y).transform(Y))
    return np.concatenate(out)


@pytest.mark.parametrize(
    ("scheme", "points"),
    [("spline", "interior"), ("berrut", "uniform"), ("lagrange", "chebyshev")],
)
def test_vectorised_predict_matches_per_batch_coders(scheme, points):
    # 203 rows: 12 full batches of 16 and a short one of 11, each with its own
    # survivor set; the vectorised path (one encoding product, batched decoding with
    # embedded decoder matrices) must give the per-batch objects' values. Outputs
    # are O(10); 1e-12 allows the different order of the sums.
    X, y = make_classification(203, 6, n_informative=4, n_classes=3, random_state=0)
    K, N = 16, 24
    clf = CodedClassifier(
        LogisticRegression(), scheme=scheme, batch_size=K, n_coded=N, points=points,
        stragglers=_FixedPattern(),
    ).fit(X, y)  # fmt: skip
    expected = _per_batch_reference(clf, X, scheme, points, K, N)
    np.testing.assert_allclose(clf.decision_function(X), expected, rtol=0, atol=1e-12)
    # the cached operators give the same values on the next request
    np.testing.assert_allclose(clf.decision_function(X), expected, rtol=0, atol=1e-12)


def test_chunked_predict_equals_one_pass(monkeypatch):
    # Bug: the request's random draws (stragglers, permutations) were made chunk by
    # chunk, so a memory budget that cut the input differently changed predictions.
    X, y = make_regression(n_samples=301, n_features=5, random_state=0)
    reg = CodedRegressor(
        Ridge(), batch_size=8, n_coded=20, stragglers=0.15, randomized=True, n_draws=2,
        random_state=3,
    ).fit(X, y)  # fmt: skip
    whole = reg.predict(X)
    per_batch = 2 * 20 * 5 * 8  # n_draws * N * n_features * bytes
    for budget in (per_batch * 3 + 17, per_batch * 7 - 1, per_batch // 2):
        monkeypatch.setattr(coded_module, "PREDICT_CHUNK_BYTES", budget)
        np.testing.assert_allclose(reg.predict(X), whole, rtol=0, atol=1e-12)
    # and the draws do matter: another seed decodes other stragglers
    other = reg.set_params(random_state=4).predict(X)
    assert np.abs(other - whole).max() > 1e-6


def test_randomized_draws_one_permutation_per_batch():
    # Bug: one permutation shared by every batch. Each batch draws its own: over 400
    # batches of 4 rows, the 24 permutations each appear about 400 / 24 times and the
    # first slot holds each row a quarter of the time.
    (group,) = batch_groups(1600, 4, rng=np.random.RandomState(0))
    relative = group.slots - 4 * np.arange(400)[:, None]
    assert (np.sort(relative, axis=1) == np.arange(4)).all()  # within its own batch
    codes = relative @ np.array([64, 16, 4, 1])
    counts = np.unique(codes, return_counts=True)[1]
    assert counts.size == 24 and counts.min() >= 5  # expected 16.7 each
    first = np.bincount(relative[:, 0], minlength=4)
    assert np.abs(first - 100).max() < 40  # binomial(400, 1/4): sd 8.7
    # two draws of one request are independent too
    a, b = request_layout(64, 4, n_draws=2, rng=np.random.RandomState(1))
    assert not np.array_equal(a[0].slots, b[0].slots)


def test_randomized_estimator_permutes_each_batch_anew():
    # 40 identical batches: with one shared permutation every batch would give the
    # same coded rows; with a draw per batch they differ.
    rng = np.random.default_rng(0)
    block = rng.normal(size=(8, 3))
    X = np.tile(block, (40, 1))
    seen = []

    class Recording(Ridge):
        def predict(self, X):
            seen.append(np.array(X))
            return super().predict(X)

    reg = CodedRegressor(Recording(), batch_size=8, n_coded=12, randomized=True,
                         random_state=0).fit(X, X[:, 0])  # fmt: skip
    seen.clear()
    reg.predict(X)
    coded = seen[0].reshape(12, 40, 3)  # worker-major
    distinct = {coded[:, b].round(12).tobytes() for b in range(40)}
    assert len(distinct) > 30


# ------------------------------------------------------------------ coalescing
class _CountingRidge(Ridge):
    """Ridge that records the rows of every predict call (thread-safe)."""

    def predict(self, X):
        with self.lock:
            self.sizes.append(len(X))
        time.sleep(0.01)  # a model call takes time: requests queue up meanwhile
        return super().predict(X)


def _counting_ridge(X, y):
    model = _CountingRidge().fit(X, y)
    model.lock, model.sizes = threading.Lock(), []
    return model


def test_coalescing_returns_each_caller_its_rows():
    # 16 threads, requests of 1..40 rows: every caller gets its own rows' predictions
    # (an exact Lagrange code around a linear f: the plain predictions to 1e-8), and
    # the requests were batched (fewer model calls than requests).
    X, y = make_regression(n_samples=400, n_features=4, random_state=0)
    reg = CodedRegressor(Ridge(), scheme="lagrange", batch_size=8, n_coded=12).fit(X, y)
    inner = _counting_ridge(X, y)
    reg.estimator_ = inner
    reg._worker.estimator = inner
    server = CoalescingPredictor(reg, max_wait=0.02)
    rng = np.random.default_rng(0)
    requests = [X[rng.choice(400, size=rng.integers(1, 41))] for _ in range(48)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(server.predict, requests))
    for rows, answer in zip(requests, answers, strict=True):
        np.testing.assert_allclose(answer, inner.predict(rows), rtol=0, atol=1e-8 * np.abs(y).max())
    assert server.n_calls_ < 48 / 2
    assert len(inner.sizes) - 48 == server.n_calls_  # one model call per batch


def test_coalescing_max_rows_closes_a_batch_early():
    X, y = make_regression(n_samples=64, n_features=3, random_state=0)
    model = _counting_ridge(X, y)
    server = CoalescingPredictor(model, max_wait=30.0, max_rows=64)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:  # 2 x 32 rows: the batch is full
        answers = list(pool.map(server.predict, np.split(X, 2)))
    assert time.monotonic() - start < 10  # closed by max_rows, not the 30 s wait
    np.testing.assert_allclose(np.concatenate(answers), Ridge().fit(X, y).predict(X))
    assert model.sizes == [64]


def test_coalescing_leaves_the_rest_to_the_next_batch():
    # 12 requests of 10 rows arrive while the first batch runs; batches hold at most 25
    # rows (2 requests), the rest are predicted in the next batches, none is lost.
    X, y = make_regression(n_samples=120, n_features=3, random_state=0)
    model = _counting_ridge(X, y)
    server = CoalescingPredictor(model, max_wait=0.05, max_rows=25)
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(server.predict, np.split(X, 12)))
    np.testing.assert_allclose(np.concatenate(answers), Ridge().fit(X, y).predict(X))
    assert max(model.sizes) <= 20 and sum(model.sizes) == 120


def test_coalescing_passes_errors_to_every_caller():
    X, y = make_classification(40, 4, random_state=0)
    clf = CodedClassifier(LogisticRegression(), batch_size=4, n_coded=8).fit(X, y)
    server = CoalescingPredictor(clf, max_wait=0.05)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(server.predict_proba, X[:5, :3]) for _ in range(3)]
        for future in futures:
            with pytest.raises(ValueError, match="features"):
                future.result()
    np.testing.assert_allclose(server.predict_proba(X[:5]), clf.predict_proba(X[:5]))
    with pytest.raises(ValueError, match="max_wait"):
        CoalescingPredictor(clf, max_wait=-1)
    with pytest.raises(ValueError, match="max_rows"):
        CoalescingPredictor(clf, max_rows=0)
