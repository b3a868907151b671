"""points="systematic": K workers compute f on the data rows themselves (docs/method.rst 11).

Every interpolating decoder (spline with smoothing 0, Berrut, Lagrange) returns
the value of a surviving node at that node, so a row whose systematic worker
answered is decoded exactly, whatever f, and the code fills only the others.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from sklearn_coded.coding import CODERS
from sklearn_coded.estimators import CodedRegressor

W = np.random.default_rng(0).normal(size=(5, 3))


def f(Z):
    """A nonlinear f no code reproduces: its decode is exact only at the data nodes."""
    return np.tanh(Z @ W) + np.sin(2 * Z[:, :1])


@pytest.mark.parametrize("scheme", ["spline", "berrut", "lagrange"])
@pytest.mark.parametrize(("K", "extra"), [(4, 1), (8, 1), (8, 2), (16, 1), (16, 16)])
def test_systematic_decodes_exactly_where_the_data_workers_answered(scheme, K, extra):
    N = K + extra  # down to N = K + 1: one parity worker
    encoder_cls, decoder_cls = CODERS[scheme]
    X = np.random.default_rng(K + extra).normal(size=(K, 5))
    encoder = encoder_cls(N, points="systematic").fit(X)
    coded = encoder.transform(X)
    data = np.flatnonzero(np.isin(encoder.coded_points_, encoder.data_points_))
    assert data.size == K  # K data workers, N - K parity workers
    # the data workers get the rows themselves (to rounding)
    np.testing.assert_allclose(coded[data], X, rtol=0, atol=1e-14)
    Y = f(coded)
    decoder = decoder_cls(K, points="systematic").fit(Y)
    # S = 0, and any parity workers missing: exact
    np.testing.assert_allclose(decoder.transform(Y), f(X), rtol=0, atol=1e-12)
    parity = np.setdiff1d(np.arange(N), data)
    Y_parity_lost = Y.copy()
    Y_parity_lost[parity[: (parity.size + 1) // 2]] = np.nan
    np.testing.assert_allclose(decoder.transform(Y_parity_lost), f(X), rtol=0, atol=1e-12)
    # a data worker missing: the code fills its row, the other rows stay exact
    Y_data_lost = Y.copy()
    Y_data_lost[data[1]] = np.nan
    decoded = decoder.transform(Y_data_lost)
    np.testing.assert_allclose(np.delete(decoded, 1, 0), np.delete(f(X), 1, 0), atol=1e-12)
    assert np.isfinite(decoded[1]).all() and np.abs(decoded[1] - f(X)[1]).max() > 1e-6


@pytest.mark.parametrize("scheme", ["spline", "berrut", "lagrange"])
def test_estimator_on_a_systematic_layout_returns_the_bare_model_at_s_0(scheme):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 5))
    y = f(X)[:, 0]
    net = MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, random_state=0)
    reg = CodedRegressor(net, scheme=scheme, batch_size=8, n_coded=9, points="systematic")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    bare = reg.estimator_.predict(X)
    np.testing.assert_allclose(reg.predict(X), bare, rtol=0, atol=1e-12)
