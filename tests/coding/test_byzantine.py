"""Decoders with n_adversaries: located rows, the decoder told them, and the bounds."""

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_coded import (
    BerrutDecoder,
    BerrutEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)
from sklearn_coded.coding import adversary_bound


def relu_net(Z, seed=0):
    rng = np.random.default_rng(seed)
    W1, W2 = rng.normal(size=(Z.shape[1], 24)), rng.normal(size=(24, 5))
    return np.maximum(Z @ W1, 0.0) @ W2


def corrupt(Y, bad, rng, scale=10.0):
    Y = Y.copy()
    Y[bad] += scale * np.nanstd(Y) * rng.standard_normal((len(bad), Y.shape[1]))
    return Y


@pytest.mark.parametrize("seed", range(5))
def test_spline_decoder_finds_the_liars_and_equals_the_decoder_told_them(seed):
    rng = np.random.default_rng(seed)
    K, N, S, A = 16, 80, 4, 3
    X = rng.normal(size=(K, 6))
    Y = relu_net(SplineEncoder(N, points="uniform").fit_transform(X))
    Y[rng.choice(N, S, replace=False)] = np.nan  # stragglers
    bad = rng.choice(np.flatnonzero(np.isfinite(Y[:, 0])), A, replace=False)
    Y = corrupt(Y, bad, rng, scale=30.0)  # gross: far above the clean residuals
    decoder = SplineDecoder(K, points="uniform", n_adversaries=A).fit(Y)
    decoded = decoder.transform(Y)
    assert set(np.flatnonzero(decoder.flagged_)) == set(bad)
    told = np.ones(N, dtype=bool)
    told[bad] = False
    expected = SplineDecoder(K, points="uniform").fit(Y).transform(Y, returned=told)
    np.testing.assert_allclose(decoded, expected, rtol=0, atol=1e-12)


def test_spline_decoder_flags_nothing_without_liars_and_matches_the_linear_decoder():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 4))
    Y = relu_net(SplineEncoder(48, points="uniform").fit_transform(X))
    robust = SplineDecoder(8, points="uniform", n_adversaries=2).fit(Y)
    out = robust.transform(Y)
    assert not robust.flagged_.any()
    np.testing.assert_array_equal(out, SplineDecoder(8, points="uniform").fit(Y).transform(Y))


def test_no_adversaries_sets_no_state_in_transform():
    Y = np.random.default_rng(2).normal(size=(10, 3))
    decoder = SplineDecoder(4).fit(Y)
    assert decoder.n_adversaries == 0
    decoder.transform(Y)
    assert not hasattr(decoder, "flagged_")
    assert clone(SplineDecoder(4, n_adversaries=2)).get_params()["n_adversaries"] == 2


@pytest.mark.parametrize(
    ("encoder_cls", "decoder_cls", "needed"),
    [
        (BerrutEncoder, BerrutDecoder, lambda K, A: 2 * K + 2 * A - 1),
        (LagrangeEncoder, LagrangeDecoder, lambda K, A: K + 2 * A),
    ],
)
def test_rational_decoders_locate_exactly_at_their_bound(encoder_cls, decoder_cls, needed):
    # A linear f keeps the results a Berrut rational (type (K-1, K-1)) or a
    # polynomial (degree K-1): the locator is exact with N - S at the bound.
    rng = np.random.default_rng(3)
    K, A, S = 5, 2, 3
    N = needed(K, A) + S
    X = rng.normal(size=(K, 4))
    Y = encoder_cls(N).fit_transform(X) @ rng.normal(size=(4, 3))
    clean = Y.copy()
    Y[rng.choice(N, S, replace=False)] = np.nan
    bad = rng.choice(np.flatnonzero(np.isfinite(Y[:, 0])), A, replace=False)
    Y = corrupt(Y, bad, rng)
    decoder = decoder_cls(K, n_adversaries=A).fit(Y)
    decoded = decoder.transform(Y)
    assert set(np.flatnonzero(decoder.flagged_)) == set(bad)
    told = np.ones(N, dtype=bool)
    told[bad] = False
    expected = decoder_cls(K).fit(Y).transform(Y, returned=told)
    np.testing.assert_allclose(decoded, expected, rtol=0, atol=1e-12)
    if decoder_cls is LagrangeDecoder:  # K + 2A - A >= K survivors: exact for a polynomial
        np.testing.assert_allclose(decoded, decoder_cls(K).fit(clean).transform(clean), atol=1e-8)


@pytest.mark.parametrize(
    ("decoder", "message"),
    [
        (BerrutDecoder(5, n_adversaries=2), r"2K \+ 2A - 1 = 13 finite results.*only 12"),
        (LagrangeDecoder(5, n_adversaries=2), r"K \+ 2A = 9 finite results.*only 8"),
        (SplineDecoder(5, n_adversaries=2), r"A \+ 3 = 5 finite results.*only 4"),
    ],
)
def test_too_few_results_for_the_locator_names_the_bound(decoder, message):
    n_returned = adversary_bound(decoder.scheme, 5, 2)[0] - 1
    Y = np.ones((20, 2))
    Y[n_returned:] = np.nan
    decoder.fit(Y)
    with pytest.raises(ValueError, match=message):
        decoder.transform(Y)


def test_adversary_bound_is_approxifer_condition_for_berrut():
    K, A, S = 16, 3, 4
    needed, formula = adversary_bound("berrut", K, A)
    assert needed + S == 2 * K + 2 * A + S - 1 and formula == "2K + 2A - 1"
