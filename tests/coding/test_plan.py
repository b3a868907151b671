"""One CodingPlan read by every layer, and schemes that plug in as one registered object."""

import sys
import types

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from sklearn_coded import BerrutDecoder, BerrutEncoder, CodingPlan, SplineDecoder, SplineEncoder
from sklearn_coded.coding._registry import Scheme, get_scheme, register_scheme, unregister_scheme
from sklearn_coded.estimators import CodedRegressor
from sklearn_coded.estimators._batching import make_coders
from sklearn_coded.operators import n_noise_rows, private_layout


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 4))
    return X, X @ np.arange(1.0, 5.0) + 0.1 * rng.normal(size=96)


@pytest.mark.parametrize("scheme", ["spline", "berrut", "lagrange"])
def test_plan_points_and_noise_rows_match_the_private_layout(scheme):
    K, N, T = 8, 40, 2
    plan = CodingPlan(scheme, batch_size=K, n_coded=N, points="chebyshev", n_private=T)
    alpha, nu, beta = private_layout("chebyshev", K, T, N, gap=get_scheme(scheme).private_gap)
    assert plan.n_noise == nu.size == n_noise_rows("alternate", K, T) == K + 1
    np.testing.assert_array_equal(plan.data_points, alpha)
    np.testing.assert_array_equal(plan.noise_points, nu)
    np.testing.assert_array_equal(plan.coded_points, beta)


def test_plan_floor_is_nodes_adversaries_or_the_request():
    assert CodingPlan(batch_size=16, n_coded=64).min_results == 16  # K
    assert CodingPlan(batch_size=16, n_coded=64, n_private=2).min_results == 33  # K + P
    assert CodingPlan(batch_size=16, n_coded=64, n_adversaries=3).min_results == 22  # + 2A
    assert CodingPlan(batch_size=4, n_coded=64, order=5).min_results == 5  # a spline's m
    plan = CodingPlan(batch_size=16, n_coded=64, requested_floor=30, role="predict")
    assert plan.min_results == 30
    with pytest.raises(ValueError, match=r"min_results=5 is below .* 16"):
        CodingPlan(batch_size=16, n_coded=64, requested_floor=5, role="predict")
    with pytest.raises(ValueError, match="n_coded=8 gives each batch at most 8 results"):
        CodingPlan(batch_size=16, n_coded=8, role="predict")
    assert CodingPlan(batch_size=16, n_coded=8, role="fit").min_results == 2  # training N < K
    with pytest.raises(ValueError, match=r"N - S >= K \+ P \+ 2A = 22 .* leave 20"):
        CodingPlan(batch_size=16, n_coded=24, n_adversaries=3, stragglers=4, role="fit")


def test_plan_refuses_options_of_other_schemes():
    with pytest.raises(ValueError, match="order=3 applies to scheme='spline' only"):
        CodingPlan("berrut", order=3)
    with pytest.raises(ValueError, match=r"smoothing=0\.1 applies to scheme='spline' only"):
        CodingPlan("lagrange", lam_dec=0.1)
    with pytest.raises(ValueError, match="scheme must be one of"):
        CodingPlan("nope")


def test_the_estimators_plan_reaches_the_coders(regression):
    X, y = regression
    reg = CodedRegressor(
        Ridge(), batch_size=8, n_coded=40, order=3, smoothing=1e-6, n_private=1, max_leakage=0.9
    ).fit(X, y)
    plan = reg._coding_plan(predicting=True)
    assert (plan.points, plan.order, plan.n_private) == ("interior", 3, 1)
    encoder, decoder = make_coders(plan)
    enc, dec = encoder().fit(X[:8]), decoder(8).fit(np.zeros((40, 1)))
    for coder in (enc, dec):  # the coders' own plan is the estimator's, field by field
        assert (coder.plan_.scheme, coder.plan_.points, coder.plan_.order) == (
            "spline",
            "interior",
            3,
        )
        assert coder.plan_.n_private == 1 and coder.plan_.n_noise == plan.n_noise == 9
        np.testing.assert_array_equal(coder.noise_points_, plan.noise_points)
        np.testing.assert_array_equal(coder.data_points_, plan.data_points)
    assert enc.plan_.lam_enc == 0.0 and dec.plan_.lam_dec == 1e-6
    assert dec.min_results() == plan.min_results == 17


@pytest.fixture
def scheme_name():
    yield "berrut_copy"
    unregister_scheme("berrut_copy")
    sys.modules.pop("_dispatched_scheme", None)


def test_a_new_scheme_is_one_registered_object(regression, scheme_name):
    """Registered with Berrut's coders, it predicts exactly as scheme='berrut' does."""
    X, y = regression
    berrut = get_scheme("berrut")
    register_scheme(
        Scheme(
            scheme_name,
            BerrutEncoder,
            BerrutDecoder,
            auto_points=berrut.auto_points,
            fallback_points=berrut.fallback_points,
        )
    )
    params = {"batch_size": 8, "n_coded": 24, "stragglers": 3, "random_state": 0}
    new = CodedRegressor(Ridge(), scheme=scheme_name, **params).fit(X, y).predict(X)
    old = CodedRegressor(Ridge(), scheme="berrut", **params).fit(X, y).predict(X)
    np.testing.assert_array_equal(new, old)
    with pytest.raises(ValueError, match="order=3 applies"):  # no "order" option
        CodedRegressor(Ridge(), scheme=scheme_name, order=3).fit(X, y)


def test_a_dispatched_scheme_is_one_registered_object(regression, scheme_name):
    """Like scheme='layerwise' (or learned parity models): the estimators call its module."""
    X, y = regression
    module = types.ModuleType("_dispatched_scheme")

    def fit_scheme(estimator, X, y, fit_params):
        estimator.estimator_ = Ridge().fit(X, y)
        return estimator

    def scheme_response(estimator, X):
        return 2 * estimator.estimator_.predict(X)[:, None]

    module.fit_scheme, module.scheme_response = fit_scheme, scheme_response
    sys.modules["_dispatched_scheme"] = module
    register_scheme(Scheme(scheme_name, dispatch="_dispatched_scheme"))
    reg = CodedRegressor(Ridge(), scheme=scheme_name).fit(X, y)
    np.testing.assert_allclose(reg.predict(X), 2 * Ridge().fit(X, y).predict(X))


def test_coded_smoothing_loss_reads_a_plan():
    torch = pytest.importorskip("torch")
    from sklearn_coded.nn import coded_smoothing_loss

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    plan = CodingPlan("spline", batch_size=16, n_coded=24, points="uniform", lam_dec=1e-4)
    kw = {"criterion": torch.nn.CrossEntropyLoss(), "mu": 0.5, "block": "1"}
    by_plan = coded_smoothing_loss(model, x, y, plan=plan, **kw)
    keywords = dict(n_coded=24, points="uniform", smoothing=(0.0, 1e-4), jitter=False)
    by_keywords = coded_smoothing_loss(model, x, y, **keywords, **kw)
    assert torch.equal(by_plan.loss, by_keywords.loss)
    assert by_plan.coded_output.shape == (16, 2)


def test_the_oracle_coders_agree_with_the_plans_points():
    """A hand-built coder pair and the plan of the same settings share their points."""
    plan = CodingPlan("spline", batch_size=6, n_coded=20, points="uniform", order=3)
    enc = SplineEncoder(20, points="uniform", order=3).fit(np.zeros((6, 2)))
    dec = SplineDecoder(6, points="uniform", order=3).fit(np.zeros((20, 2)))
    np.testing.assert_array_equal(enc.coded_points_, plan.coded_points)
    np.testing.assert_array_equal(dec.data_points_, plan.data_points)
    assert enc.plan_ == plan  # frozen dataclasses: equal field by field
