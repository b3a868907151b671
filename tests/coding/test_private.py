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
    # X_coded = M(alpha u nu -> beta) [X; Z]: recover Z from the draw and compare.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    encoder = SplineEncoder(30, points="uniform", n_private=2, random_state=5).fit(X)
    coded = encoder.transform(X)
    Z = (
        SplineEncoder(30, points="uniform", n_private=2, random_state=5)
        .fit(X)
        .draw_padding(encoder.noise_points_.size, 3)
    )
    nodes = np.concatenate([encoder.data_points_, encoder.noise_points_])
    order = np.argsort(nodes)
    M = coding_operator("spline", nodes[order], encoder.coded_points_)[0]
    expected = M @ np.concatenate([X, Z])[order]
    np.testing.assert_allclose(coded, expected, atol=1e-12)


def test_padding_is_fresh_per_call_and_reproducible_per_seed():
    X = np.ones((5, 2))
    encoder = BerrutEncoder(12, n_private=1, noise_scale=2.0, random_state=0).fit(X)
    first, second = encoder.transform(X), encoder.transform(X)
    assert not np.allclose(first, second)
    again = BerrutEncoder(12, n_private=1, noise_scale=2.0, random_state=0).fit(X)
    np.testing.assert_array_equal(again.transform(X), first)


def test_zero_noise_scale_reduces_to_the_data_part():
    X = np.random.default_rng(1).normal(size=(5, 2))
    encoder = SplineEncoder(20, n_private=2, noise_scale=0.0, random_state=0).fit(X)
    np.testing.assert_allclose(encoder.transform(X), encoder.encoding_matrix(5) @ X, atol=1e-14)
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
    encoder = LagrangeEncoder(N, n_private=T, noise_scale=10.0, random_state=0).fit(X)
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
