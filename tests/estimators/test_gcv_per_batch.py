"""``smoothing="gcv"`` chooses the decoder's lam per batch, from that batch's results.

The documented rule (``CodedRegressor``'s ``smoothing``): "``"gcv"`` picks one
lam per batch from the survivors' results by generalised cross-validation". A
decoder that chose lam from the first batch and reused it for the others would
give the same outputs as the oracle on the first batch and different ones on
the rest. The oracle is the layer-2 ``SplineDecoder(smoothing="gcv")`` fitted
on each batch's results alone (its own lam is ``operators.spline_gcv``'s,
checked in ``tests/coding/test_coders.py``).
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin

from sklearn_coded import SplineDecoder, SplineEncoder
from sklearn_coded.estimators import CoalescingPredictor, CodedRegressor
from sklearn_coded.operators import coding_operator, coding_points, spline_gcv

K, N = 8, 40


class Wiggly(RegressorMixin, BaseEstimator):
    """f(x) = sin(6 x_0) + 0.3 cos(17 x_1): rough on a wide batch, near-linear on a narrow one."""

    def fit(self, X, y):
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return np.sin(6 * X[:, 0]) + 0.3 * np.cos(17 * X[:, 1])


@pytest.fixture(scope="module")
def batches():
    rng = np.random.default_rng(0)
    # three batches of K rows whose results need very different lam
    return np.vstack([s * rng.normal(size=(K, 2)) for s in (0.05, 2.0, 1.0)])


def _oracle(X):
    """Per batch: encode, f, decode with a GCV decoder fitted on that batch's results."""
    out, lams = [], []
    beta = coding_points("interior", K, N)[1]  # the estimator below sets points="interior"
    for b in range(len(X) // K):
        rows = X[b * K : (b + 1) * K]
        results = Wiggly().predict(SplineEncoder(N, points="interior").fit_transform(rows))
        results = results[:, None]
        decoder = SplineDecoder(K, smoothing="gcv", points="interior").fit(results)
        out.append(decoder.transform(results)[:, 0])
        lams.append(spline_gcv(beta, results))
    return np.concatenate(out), lams


def _first_lam_reused(X, lam):
    """What a decoder that kept the first batch's lam for every batch would return."""
    alpha, beta = coding_points("interior", K, N)
    D = coding_operator("spline", beta, alpha, lam)[0]
    out = []
    for b in range(len(X) // K):
        rows = X[b * K : (b + 1) * K]
        results = Wiggly().predict(SplineEncoder(N, points="interior").fit_transform(rows))
        out.append(D @ results)
    return np.concatenate(out)


@pytest.mark.filterwarnings("ignore:The outputs of Wiggly are far from smooth")
@pytest.mark.parametrize("where", ["in process", "thread pool", "coalescing"])
def test_gcv_chooses_lam_per_batch(batches, where):
    want, lams = _oracle(batches)
    # the test can fail: the batches' own lams differ by orders of magnitude, and
    # reusing the first batch's lam changes the later batches' decoded outputs
    assert max(lams) / max(min(lams), 1e-300) > 1e6
    reused = _first_lam_reused(batches, lams[0])
    assert np.abs(reused[K:] - want[K:]).max() > 1e-2
    with ThreadPoolExecutor(4) as pool:
        executor = pool if where == "thread pool" else None
        reg = CodedRegressor(
            Wiggly(),
            batch_size=K,
            n_coded=N,
            smoothing="gcv",
            executor=executor,
            points="interior",  # GCV's lam matters off the data points
        ).fit(batches, batches[:, 0])
        if where == "coalescing":
            got = CoalescingPredictor(reg, max_wait=0.0).predict(batches)
        else:
            got = reg.predict(batches)
    # same operators, same arithmetic up to the order of the products
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
