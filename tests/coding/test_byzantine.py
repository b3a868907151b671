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
from sklearn_coded.coding import UncertifiedDecodeError, adversary_bound
from sklearn_coded.coding._byzantine import RANK_MARGIN, code_basis
from sklearn_coded.operators import locate_span, span_locatable, span_residuals


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
    # N = 200: below it, dropping 6 results at an end of the interval (where the
    # "uniform" layout puts data points) moves this rough random ReLU net's decode
    # by more than a spread (check (c), docs/method.rst (8.3)), and it is refused
    K, N, S, A = 16, 200, 4, 3
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
    # N = 64: at 48, dropping the 4 end results moves the decode by 1.5 spreads (refused)
    Y = relu_net(SplineEncoder(64, points="uniform").fit_transform(X))
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
    ("encoder_cls", "decoder_cls"),
    [
        (SplineEncoder, SplineDecoder),
        (BerrutEncoder, BerrutDecoder),
        (LagrangeEncoder, LagrangeDecoder),
    ],
)
@pytest.mark.parametrize("n_private", [0, 2])
def test_decoders_locate_the_liars_of_an_affine_f(encoder_cls, decoder_cls, n_private):
    # An affine f keeps the results in the span of the encoder's operator from its
    # r = K + P nodes: the code-span locator is exact with r + 2A + 4 results,
    # padding rows included.
    rng = np.random.default_rng(3)
    K, A, S = 5, 2, 3
    P = 0 if n_private == 0 else K + 1  # the "alternate" layout's noise rows
    N = K + P + 2 * A + 4 + S
    if encoder_cls is SplineEncoder and n_private:
        # the padded spline cannot locate 2 liars from r + 2A + 4 results: removing
        # 4 adjacent ones leaves it rank-deficient (test_..._refuses_below_...); at
        # N = 34 dropping 4 more adjacent results moves its decode by 2.8 spreads
        # (check (c), docs/method.rst (8.3)), and it is refused
        N += 3 * P
    X = rng.normal(size=(K, 4))
    # A small padding (max_leakage=1.0 accepts its leakage): the liars are the point here.
    encoder = encoder_cls(N, n_private=n_private, noise_scale=0.5, max_leakage=1.0)
    Y = encoder.fit_transform(X) @ rng.normal(size=(4, 3)) + 1.0
    clean = Y.copy()
    Y[rng.choice(N, S, replace=False)] = np.nan
    bad = rng.choice(np.flatnonzero(np.isfinite(Y[:, 0])), A, replace=False)
    Y = corrupt(Y, bad, rng)
    decoder = decoder_cls(K, n_adversaries=A, n_private=n_private).fit(Y)
    try:
        decoded = decoder.transform(Y)
    except UncertifiedDecodeError as error:
        # noise-padded Berrut approximates even an affine f: with fresh secret
        # noise, about 1 batch in 15 moves by over 2 spreads when 4 more results
        # are dropped, and check (c) refuses it (docs/method.rst (8.3)); the
        # liars were located all the same
        assert decoder_cls is BerrutDecoder and n_private
        assert "moves the decode by" in error.reason
        assert set(np.flatnonzero(decoder.flagged_)) == set(bad)
        return
    assert set(np.flatnonzero(decoder.flagged_)) == set(bad)
    told = np.ones(N, dtype=bool)
    told[bad] = False
    expected = decoder_cls(K, n_private=n_private).fit(Y).transform(Y, returned=told)
    np.testing.assert_allclose(decoded, expected, rtol=0, atol=1e-12)
    if decoder_cls is LagrangeDecoder and n_private == 0:  # exact for a polynomial
        np.testing.assert_allclose(decoded, decoder_cls(K).fit(clean).transform(clean), atol=1e-8)


@pytest.mark.parametrize("decoder_cls", [BerrutDecoder, LagrangeDecoder, SplineDecoder])
@pytest.mark.parametrize(("n_private", "r"), [(0, 5), (1, 11)])
def test_too_few_results_for_the_locator_names_the_bound(decoder_cls, n_private, r):
    needed = adversary_bound(r, 2)[0]
    assert needed == r + 4
    Y = np.ones((40, 2))
    Y[needed - 1 :] = np.nan
    decoder = decoder_cls(5, n_adversaries=2, n_private=n_private).fit(Y)
    message = rf"\(r = K \+ P = {r} nodes\) needs at least K \+ P \+ 2A = {needed} finite"
    with pytest.raises(ValueError, match=message + rf".*only {needed - 1} arrived"):
        decoder.transform(Y)
    Y[needed - 1] = 1.0  # at the bound: decoded if certified, else refused
    basis = code_basis(decoder, np.arange(needed))
    order = np.argsort(decoder.coded_points_[:needed])
    locatable = span_locatable(basis[order], 2, margin=RANK_MARGIN)[0]  # exact results
    if locatable == 2 and decoder_cls is LagrangeDecoder:
        # Lagrange on 9 clustered results extrapolates: dropping 4 of them moves
        # the decode of these constant results by 3e-3 (rounding, amplified), and
        # check (c) refuses (docs/method.rst (8.3))
        with pytest.raises(UncertifiedDecodeError, match="moves the decode by"):
            decoder.transform(Y)
    elif locatable == 2:
        assert decoder.transform(Y).shape == (5, 2)
    else:
        with pytest.raises(UncertifiedDecodeError, match=f"can locate at most {locatable} liars"):
            decoder.transform(Y)


def test_the_locator_uses_the_spline_order_of_the_code():
    # Quintic (order 3) codes: their rows lie in the span of quintic natural
    # splines with knots at the data points, not in that of cubic ones.
    rng = np.random.default_rng(4)
    K, A, N = 6, 2, 30
    X = rng.normal(size=(K, 3))
    Y = SplineEncoder(N, order=3).fit_transform(X) @ rng.normal(size=(3, 2))
    bad = np.array([4, 21])
    Y = corrupt(Y, bad, rng)
    decoder = SplineDecoder(K, order=3, n_adversaries=A).fit(Y)
    decoder.transform(Y)
    assert set(np.flatnonzero(decoder.flagged_)) == set(bad)
    clean = SplineEncoder(N, order=3).fit_transform(X)
    residual = {}
    for order in (2, 3):
        basis = code_basis(SplineDecoder(K, order=order).fit(clean), np.arange(N))
        residual[order] = np.abs(span_residuals(basis, clean)).max()
    assert residual[3] < 1e-9 * np.abs(clean).max() < residual[2]


def test_decoders_choose_candidates_by_least_trimmed_squares():
    # Near the bound N - S = K + 2A the robust fit alone misses liars that the
    # least-trimmed-squares search finds; the decoder's flags are the latter's.
    # (Lagrange: any K of its rows determine the code, so the survivor set can
    # locate A liars there; the spline code refuses at the bound, docs/method.rst 8.)
    differ = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        K, A = 5, 2
        X = rng.normal(size=(K, 3))
        Y = LagrangeEncoder(K + 2 * A + 1).fit_transform(X) @ rng.normal(size=(3, 2))
        Y = corrupt(Y, rng.choice(len(Y), A, replace=False), rng)
        decoder = LagrangeDecoder(K, n_adversaries=A).fit(Y)
        try:
            decoder.transform(Y)
        except UncertifiedDecodeError:  # flagged_ is set, then refused
            assert not decoder.certified_
        basis = code_basis(decoder, np.arange(len(Y)))
        np.testing.assert_array_equal(decoder.flagged_, locate_span(basis, Y, A, method="lts"))
        differ += (locate_span(basis, Y, A, method="irls") != decoder.flagged_).any()
    assert differ > 0
