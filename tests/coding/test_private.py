"""Encoders with n_private: padding rows, their layout, exactness and reproducibility."""

import numpy as np
import pytest

from sklearn_coded import (
    BerrutEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)
from sklearn_coded.operators import PRIVATE_GAPS, coding_operator, private_layout


def test_private_encoder_is_the_padded_interpolant():
    # X_coded = M(alpha u nu -> beta) [X; Z]: the part off E X lies in the range of the
    # noise columns B, and the Z it solves for has the calibrated standard deviation.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 400))
    encoder = SplineEncoder(30, points="uniform", n_private=2, leakage_budget=None).fit(X)
    nodes = np.concatenate([encoder.data_points_, encoder.noise_points_])
    order = np.argsort(nodes)
    M = coding_operator("spline", nodes[order], encoder.coded_points_)[0]
    full = np.empty_like(M)
    full[:, order] = M
    A, B = full[:, :6], full[:, 6:]
    np.testing.assert_allclose(encoder.encoding_matrix(6), A, atol=1e-12)
    padding = encoder.transform(X) - A @ X
    Z = np.linalg.lstsq(B, padding, rcond=None)[0]
    np.testing.assert_allclose(B @ Z, padding, atol=1e-8 * np.abs(padding).max())
    assert 0.93 < Z.std() / encoder.noise_scale_ < 1.07  # 7 x 400 entries: 3.4 standard errors


def test_a_rebuilt_encoder_cannot_strip_the_noise():
    # Issue 16.1: the attacker knows every public parameter (random_state included),
    # rebuilds the encoder, replays every seed it could have used, and subtracts.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 5))
    params = {"n_private": 2, "random_state": 0, "leakage_budget": None}
    encoder = SplineEncoder(40, **params).fit(X)
    coded = encoder.transform(X)
    true_noise = coded - encoder.encoding_matrix(8) @ X
    B = encoder.noise_matrix(8)
    P = B.shape[1]
    rebuilt = SplineEncoder(**encoder.get_params()).fit(X)
    np.random.seed(0)  # noqa: NPY002 - the global state an attacker would replay
    guesses = [
        rebuilt.draw_padding(P, 5),
        encoder.noise_scale_ * np.random.RandomState(0).standard_normal((P, 5)),
        encoder.noise_scale_ * np.random.default_rng(0).standard_normal((P, 5)),
        encoder.noise_scale_ * np.random.standard_normal((P, 5)),  # noqa: NPY002
    ]
    for Z in guesses:
        left = coded - rebuilt.encoding_matrix(8) @ X - B @ Z
        # Independent noise: the residual is sqrt(2) times the noise, never ~0.
        assert np.linalg.norm(left) > 0.5 * np.linalg.norm(true_noise)


def test_two_identical_requests_give_different_coded_rows():
    X = np.random.default_rng(2).normal(size=(5, 2))
    encoder = BerrutEncoder(12, n_private=1, random_state=0, leakage_budget=None).fit(X)
    np.random.seed(0)  # noqa: NPY002
    first = encoder.transform(X)
    np.random.seed(0)  # noqa: NPY002
    second = encoder.transform(X)
    # The difference B (Z1 - Z2) is noise of twice the variance, not zero.
    assert np.abs(first - second).max() > 0.1 * encoder.noise_scale_
    assert encoder.__sklearn_tags__().non_deterministic
    assert not BerrutEncoder(12).__sklearn_tags__().non_deterministic


def test_zero_noise_scale_reduces_to_the_data_part():
    X = np.random.default_rng(1).normal(size=(5, 2))
    encoder = SplineEncoder(20, n_private=2, noise_scale=0.0, max_leakage=1.0).fit(X)
    np.testing.assert_allclose(encoder.transform(X), encoder.encoding_matrix(5) @ X, atol=1e-14)
    np.testing.assert_array_equal(encoder.leakage_, 1.0)  # no noise: every row revealed
    # The data and noise columns together reproduce constants (partition of unity).
    total = encoder.encoding_matrix(5).sum(axis=1) + encoder.noise_matrix(5).sum(axis=1)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_lagrange_private_code_decodes_a_linear_map_exactly_despite_the_noise():
    # LCC over the reals: u has degree K + P - 1, so with at least K + P results a
    # linear f is recovered exactly at the data points whatever the padding.
    rng = np.random.default_rng(2)
    K, T, N = 3, 1, 12
    X = rng.normal(size=(K, 4))
    W = rng.normal(size=(4, 2))
    encoder = LagrangeEncoder(N, n_private=T, noise_scale=10.0, max_leakage=1.0).fit(X)
    Y = encoder.transform(X) @ W
    Y[[0, 5]] = np.nan  # stragglers: N - 2 >= K + P = 7 results remain
    decoder = LagrangeDecoder(K, n_private=T).fit(Y)
    np.testing.assert_array_equal(decoder.data_points_, encoder.data_points_)
    np.testing.assert_allclose(decoder.transform(Y), X @ W, atol=1e-8)


def test_no_coded_point_sits_on_a_data_point():
    for gap in (0.0, 0.25):
        alpha, nu, beta = private_layout("uniform", 16, 2, 128, gap=gap)
        spacing = np.diff(np.sort(np.concatenate([alpha, nu]))).min()
        assert np.abs(beta[:, None] - alpha[None, :]).min() >= max(gap * spacing, 1e-3)
    alpha, nu, beta = private_layout("chebyshev", 16, 2, 128, layout="alternate")
    nodes = np.sort(np.concatenate([alpha, nu]))
    is_noise = np.isin(nodes, nu)
    assert is_noise[::2].all() and not is_noise[1::2].any()  # noise on both sides of every row


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": ("uniform", "uniform")}, "points must be a family name"),
        ({"smoothing": "gcv"}, "smoothing='gcv'"),
    ],
)
def test_private_encoder_refuses_what_it_cannot_layout(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SplineEncoder(10, n_private=1, **kwargs).fit(np.ones((4, 2)))


def test_decoder_with_n_private_reads_the_private_layout():
    decoder = SplineDecoder(16, n_private=2, points="uniform").fit(np.zeros((128, 1)))
    alpha, _, beta = private_layout("uniform", 16, 2, 128, gap=PRIVATE_GAPS["spline"])
    np.testing.assert_array_equal(decoder.data_points_, alpha)
    np.testing.assert_array_equal(decoder.coded_points_, beta)
