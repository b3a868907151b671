"""The encoder/decoder transformers: oracles, properties, convergence, errors."""

import numpy as np
import pytest
from scipy.interpolate import (
    BarycentricInterpolator,
    CubicSpline,
    FloaterHormannInterpolator,
    make_smoothing_spline,
)
from sklearn.base import clone

from sklearn_coded import (
    BerrutDecoder,
    BerrutEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)
from sklearn_coded.coding import CODERS
from sklearn_coded.operators import spline_gcv

RNG = np.random.default_rng(11)


def smooth_f(Z):
    return np.tanh(2 * Z) + np.sin(3 * Z)


def test_spline_encoder_equals_scipy_smoothing_spline():
    K, N, lam = 9, 14, 1e-3
    X = RNG.standard_normal((K, 5))
    encoder = SplineEncoder(N, smoothing=lam).fit(X)
    beta, alpha = encoder.coded_points_, encoder.data_points_
    inside = (beta >= alpha[0]) & (beta <= alpha[-1])  # SciPy extrapolates cubically
    expected = make_smoothing_spline(alpha, X, lam=K * lam)(beta[inside])
    np.testing.assert_allclose(encoder.transform(X)[inside], expected, atol=1e-10)


def test_spline_encoder_is_linear_outside_the_data_points():
    K, N = 6, 20
    X = RNG.standard_normal((K, 2))
    encoder = SplineEncoder(N).fit(X)
    alpha, beta = encoder.data_points_, encoder.coded_points_
    natural = CubicSpline(alpha, X, bc_type="natural")
    coded = encoder.transform(X)
    left, right = beta < alpha[0], beta > alpha[-1]
    assert left.any() and right.any()
    np.testing.assert_allclose(
        coded[left],
        X[0] + np.outer(beta[left] - alpha[0], natural.derivative()(alpha[0])),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        coded[right],
        X[-1] + np.outer(beta[right] - alpha[-1], natural.derivative()(alpha[-1])),
        atol=1e-12,
    )


def test_spline_decoder_with_stragglers_equals_natural_spline_through_survivors():
    K, N = 5, 12
    Y = RNG.standard_normal((N, 3))
    Y[[2, 7]] = np.nan
    decoder = SplineDecoder(K).fit(Y)
    survivors = np.setdiff1d(np.arange(N), [2, 7])
    natural = CubicSpline(decoder.coded_points_[survivors], Y[survivors], bc_type="natural")
    np.testing.assert_allclose(decoder.transform(Y), natural(decoder.data_points_), atol=1e-12)


def test_smoothing_spline_decoder_equals_scipy_on_survivors():
    K, N, lam = 6, 25, 1e-4
    Y = RNG.standard_normal((N, 3))
    Y[[0, 11, 12]] = np.nan
    decoder = SplineDecoder(K, smoothing=lam).fit(Y)
    keep = np.isfinite(Y[:, 0])
    beta = decoder.coded_points_[keep]
    # SciPy's lam carries no 1/n: it is n = 22 survivors times ours
    expected = make_smoothing_spline(beta, Y[keep], lam=keep.sum() * lam)(decoder.data_points_)
    np.testing.assert_allclose(decoder.transform(Y), expected, atol=1e-10)


def test_berrut_decoder_equals_floater_hormann_on_survivors():
    K, N = 6, 13
    Y = RNG.standard_normal((N, 2))
    returned = np.ones(N, dtype=bool)
    returned[[0, 5, 6]] = False
    decoder = BerrutDecoder(K).fit(Y)
    beta = decoder.coded_points_
    oracle = FloaterHormannInterpolator(beta[returned], Y[returned], d=0)
    np.testing.assert_allclose(
        decoder.transform(Y, returned=returned), oracle(decoder.data_points_), atol=1e-12
    )


def test_berrut_public_placement_with_coincident_points():
    """N = 2K puts every data point on a coded point; the decoder returns those values."""
    K = 4
    X = RNG.standard_normal((K, 3))
    coded = BerrutEncoder(2 * K, points="bacc").fit_transform(X)
    decoded = BerrutDecoder(K, points="bacc").fit(coded).transform(coded)
    assert np.all(np.isfinite(coded))
    np.testing.assert_allclose(decoded, X, atol=1e-14)


def test_lagrange_round_trip_is_exact_and_equals_barycentric():
    K, N = 5, 9
    X = RNG.standard_normal((K, 4))
    encoder = LagrangeEncoder(N).fit(X)
    coded = encoder.transform(X)
    oracle = BarycentricInterpolator(encoder.data_points_, X)(encoder.coded_points_)
    np.testing.assert_allclose(coded, oracle, atol=1e-12)
    coded[[1, 3, 8, 0]] = np.nan  # keep exactly K survivors
    decoded = LagrangeDecoder(K).fit(coded).transform(coded)
    np.testing.assert_allclose(decoded, X, atol=1e-12)


@pytest.mark.parametrize("scheme", CODERS)
def test_operators_have_unit_row_sums(scheme):
    Encoder, Decoder = CODERS[scheme]
    X = RNG.standard_normal((7, 2))
    encoder = Encoder(11).fit(X)
    np.testing.assert_allclose(encoder.encoding_matrix(7).sum(axis=1), 1.0, atol=1e-12)
    decoder = Decoder(7).fit(np.zeros((11, 1)))
    D = decoder.decoding_matrix(np.arange(11))
    np.testing.assert_allclose(D.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 1e-2, "gcv"])
def test_spline_code_reproduces_lines_end_to_end(smoothing):
    """Lines in the point variable pass encoder and decoder exactly, for any lam."""
    K, N = 8, 15
    alpha = SplineEncoder(N).fit(np.zeros((K, 1))).data_points_
    X = np.column_stack([2 * alpha - 1, -alpha + 3])
    coded = SplineEncoder(N, smoothing=smoothing).fit_transform(X)
    coded[[4, 9]] = np.nan
    decoded = SplineDecoder(K, smoothing=smoothing).fit(coded).transform(coded)
    np.testing.assert_allclose(decoded, X, atol=1e-12)


def _round_trip_mse(scheme, N, K=8, n_stragglers=0, seed=0):
    rng = np.random.default_rng(seed)
    Encoder, Decoder = CODERS[scheme]
    X = rng.uniform(-1, 1, (K, 6))
    results = smooth_f(Encoder(N).fit_transform(X))
    results[rng.choice(N, n_stragglers, replace=False)] = np.nan
    decoded = Decoder(K).fit(results).transform(results)
    return np.mean((decoded - smooth_f(X)) ** 2)


def test_decoding_error_converges_at_least_at_the_theoretical_rate():
    """LeTCC's MSE bound is O(S^3 N^-3) (docs/method.rst 3); the fitted slope must be <= -3.

    For this smooth f the natural spline does better (about -7 measured); Berrut's
    rational interpolant converges about like N^-2.5.
    """
    Ns = np.array([16, 32, 64, 128, 256])
    spline = [_round_trip_mse("spline", N, n_stragglers=N // 10) for N in Ns]
    berrut = [_round_trip_mse("berrut", N, n_stragglers=N // 10) for N in Ns]
    spline_slope = np.polyfit(np.log(Ns), np.log(spline), 1)[0]
    berrut_slope = np.polyfit(np.log(Ns), np.log(berrut), 1)[0]
    assert spline_slope <= -3.0
    assert -3.5 <= berrut_slope <= -1.5
    assert spline[-1] < berrut[-1] / 100


def test_float32_stays_float32_and_float64_stays_float64():
    X = RNG.standard_normal((16, 5))
    for dtype in (np.float32, np.float64):
        encoder = SplineEncoder(20).fit(X.astype(dtype))
        coded = encoder.transform(X.astype(dtype))
        assert coded.dtype == dtype
        decoded = SplineDecoder(16).fit(coded).transform(coded)
        assert decoded.dtype == dtype
    coded32 = SplineEncoder(20).fit_transform(X.astype(np.float32))
    np.testing.assert_allclose(coded32, SplineEncoder(20).fit_transform(X), rtol=1e-5, atol=1e-5)


def test_float32_operator_has_no_subnormal_entries():
    """Far-off-diagonal spline weights decay below float32's normal range (see _base.py)."""
    X = np.ones((256, 3), dtype=np.float32)
    E64 = SplineEncoder(300).fit(X).encoding_matrix(256)
    tiny = np.finfo(np.float32).tiny
    assert np.any((np.abs(E64) < tiny) & (E64 != 0))  # they would be subnormal
    from sklearn_coded.coding._base import apply_operator

    E32 = apply_operator(E64, np.eye(256, dtype=np.float32))
    assert not np.any((np.abs(E32) < tiny) & (E32 != 0))


def test_float32_copy_is_made_once_per_cached_operator():
    from sklearn_coded.coding._base import _float32_copies, _float32_copy

    E = SplineEncoder(20).fit(np.ones((8, 1))).encoding_matrix(8)  # cached, read-only
    assert _float32_copy(E) is _float32_copy(E)
    assert _float32_copies.get(id(E))[0]() is E
    writeable = np.array(E)  # may change in place: copied afresh every time
    assert _float32_copy(writeable) is not _float32_copy(writeable)
    writeable_id = id(writeable)
    del writeable
    assert writeable_id not in _float32_copies


def test_encoder_codes_every_batch_size_of_a_stream():
    encoder = SplineEncoder(20).fit(RNG.standard_normal((6, 3)))  # N >= every K below
    for K in (2, 3, 6, 17):
        X = RNG.standard_normal((K, 3))
        coded = encoder.transform(X)
        alpha = np.sin(np.pi * (2 * np.arange(1, K + 1) - 1 - K) / (2 * K))
        expected = CubicSpline(alpha, X, bc_type="natural")(encoder.coded_points_)
        inside = np.abs(encoder.coded_points_) <= alpha[-1]
        np.testing.assert_allclose(coded[inside], expected[inside], atol=1e-12)


def test_gcv_decoder_uses_the_survivors_gcv_lam():
    K, N = 6, 40
    rng = np.random.default_rng(3)
    decoder = SplineDecoder(K, smoothing="gcv").fit(np.zeros((N, 2)))
    beta = decoder.coded_points_
    Y = np.column_stack([np.sin(3 * beta), np.cos(beta)]) + 0.1 * rng.standard_normal((N, 2))
    Y[[0, 17]] = np.nan
    keep = np.isfinite(Y[:, 0])
    lam = spline_gcv(beta[keep], Y[keep])
    assert lam > 0
    expected = SplineDecoder(K, smoothing=lam).fit(Y).transform(Y)
    np.testing.assert_allclose(decoder.transform(Y), expected, atol=1e-13)
    # GCV smoothing removes noise: closer to the truth than interpolation
    truth = np.column_stack([np.sin(3 * decoder.data_points_), np.cos(decoder.data_points_)])
    interpolated = SplineDecoder(K).fit(Y).transform(Y)
    assert np.mean((decoder.transform(Y) - truth) ** 2) < np.mean((interpolated - truth) ** 2)


def test_inf_rows_and_the_returned_mask_both_drop_workers():
    K, N = 4, 9
    Y = RNG.standard_normal((N, 2))
    decoder = SplineDecoder(K).fit(Y)
    Y_bad = Y.copy()
    Y_bad[3, 1] = np.inf
    Y_bad[5, 0] = np.nan  # a partly NaN row is a faulty worker, dropped whole
    mask = np.ones(N, dtype=bool)
    mask[[3, 5]] = False
    np.testing.assert_array_equal(decoder.transform(Y_bad), decoder.transform(Y, returned=mask))
    assert np.all(np.isfinite(decoder.transform(Y_bad)))


def test_clone_keeps_parameters():
    encoder = SplineEncoder(12, smoothing=0.5, points=("uniform", "chebyshev2"))
    assert clone(encoder).get_params() == encoder.get_params()


# --- errors name the parameter and the value -------------------------------------


def test_nan_in_data_to_encode():
    X = RNG.standard_normal((5, 2))
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        SplineEncoder(8).fit(X)
    encoder = SplineEncoder(8).fit(RNG.standard_normal((5, 2)))
    X[1, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        encoder.transform(X)


def test_wrong_columns_or_rows_at_transform():
    encoder = SplineEncoder(8).fit(RNG.standard_normal((5, 3)))
    with pytest.raises(ValueError, match="X has 2 features, but SplineEncoder is expecting 3"):
        encoder.transform(RNG.standard_normal((5, 2)))
    with pytest.raises(ValueError, match="1 sample"):
        encoder.transform(RNG.standard_normal((1, 3)))
    decoder = SplineDecoder(4).fit(RNG.standard_normal((8, 3)))
    with pytest.raises(ValueError, match="Y has 7 rows, but SplineDecoder was fitted for N=8"):
        decoder.transform(RNG.standard_normal((7, 3)))
    explicit = SplineEncoder(8, points=([-0.5, 0.0, 0.5], "chebyshev")).fit(np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"\(data points\) has 3 points but 4 are needed"):
        explicit.transform(np.ones((4, 1)))


def test_too_few_survivors():
    Y = RNG.standard_normal((6, 2))
    Y[1:] = np.nan
    with pytest.raises(ValueError, match=r"Only 1 of 6 workers returned .* needs at least 3"):
        SplineDecoder(3).fit(Y).transform(Y)
    Y = RNG.standard_normal((6, 2))
    Y[:3] = np.nan
    with pytest.raises(
        ValueError, match=r"Only 3 of 6 workers .* LagrangeDecoder needs at least 4"
    ):
        LagrangeDecoder(4).fit(Y).transform(Y)


def test_bad_mask():
    decoder = SplineDecoder(3).fit(RNG.standard_normal((6, 2)))
    with pytest.raises(ValueError, match=r"returned must be a boolean mask of shape \(6,\)"):
        decoder.transform(RNG.standard_normal((6, 2)), returned=[1, 1, 1, 1, 1, 1])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_coded": 1}, "'n_coded' parameter of SplineEncoder must be an int in the range"),
        ({"n_coded": 5, "smoothing": -1.0}, "'smoothing' parameter"),
        ({"n_coded": 5, "smoothing": "auto"}, "'smoothing' parameter"),
        ({"n_coded": 5, "points": "gauss"}, "'points' parameter"),
        ({"n_coded": 5, "points": ("uniform", [0.5, 0.1, 0.2, 0.3, 0.4])}, "strictly increasing"),
        ({"n_coded": 5, "points": ("uniform", [-2, 0.1, 0.2, 0.3, 0.4])}, r"inside \[-1, 1\]"),
    ],
)
def test_bad_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        SplineEncoder(**params).fit(RNG.standard_normal((4, 2)))


# --- spline order -------------------------------------------------------------------


@pytest.mark.parametrize("order", [1, 3])
def test_order_reaches_the_operators(order):
    from sklearn_coded.operators import spline_operator

    X = RNG.standard_normal((7, 2))
    encoder = SplineEncoder(13, order=order, smoothing=1e-3).fit(X)
    alpha, beta = encoder.data_points_, encoder.coded_points_
    np.testing.assert_array_equal(
        encoder.transform(X), spline_operator(alpha, beta, 1e-3, order=order) @ X
    )
    coded = encoder.transform(X)
    coded[[0, 5]] = np.nan
    decoder = SplineDecoder(7, order=order).fit(coded)
    keep = np.setdiff1d(np.arange(13), [0, 5])
    np.testing.assert_array_equal(
        decoder.transform(coded), spline_operator(beta[keep], alpha, order=order) @ coded[keep]
    )


def test_order_three_round_trip_reproduces_quadratics():
    K, N = 8, 21
    alpha = SplineEncoder(N).fit(np.zeros((K, 1))).data_points_
    X = np.column_stack([alpha**2, 1 - alpha + 3 * alpha**2])
    coded = SplineEncoder(N, order=3, smoothing=1e-2).fit_transform(X)
    coded[[0, 10, 20]] = np.nan
    decoded = SplineDecoder(K, order=3, smoothing=1e-2).fit(coded).transform(coded)
    np.testing.assert_allclose(decoded, X, atol=1e-11)


def test_decoder_of_order_m_needs_m_survivors():
    Y = RNG.standard_normal((6, 2))
    Y[3:] = np.nan
    with pytest.raises(ValueError, match=r"Only 3 of 6 workers .* needs at least 4"):
        SplineDecoder(3, order=4).fit(Y).transform(Y)


def test_bad_order_is_named_by_the_coders():
    with pytest.raises(ValueError, match="'order' parameter of SplineDecoder"):
        SplineDecoder(4, order=0).fit(RNG.standard_normal((8, 2)))


@pytest.mark.parametrize("scheme", ["spline", "berrut"])
def test_systematic_layout_decodes_exactly_when_no_worker_is_missing(scheme):
    Encoder, Decoder = CODERS[scheme]
    K, N = 6, 23
    X = RNG.uniform(-1, 1, (K, 4))
    results = smooth_f(Encoder(N, points="systematic").fit_transform(X))
    decoded = Decoder(K, points="systematic").fit(results).transform(results)
    np.testing.assert_allclose(decoded, smooth_f(X), atol=1e-14)
    interior = smooth_f(Encoder(N, points="interior").fit_transform(X))
    approx = Decoder(K, points="interior").fit(interior).transform(interior)
    assert np.abs(approx - smooth_f(X)).max() > 1e-8  # not exact without the shared points
