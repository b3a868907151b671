"""Certified or refused decodes (issues 16.4, 16.6, 17.1): minimums, locatability, abstention."""

import numpy as np
import pytest

from sklearn_coded import (
    BerrutDecoder,
    BerrutEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)
from sklearn_coded.coding import UncertifiedDecodeError
from sklearn_coded.coding._byzantine import code_basis
from sklearn_coded.execution import ChoosingAdversaries
from sklearn_coded.operators import coding_operator, coding_points, span_locatable

CODES = [
    (SplineEncoder, SplineDecoder),
    (BerrutEncoder, BerrutDecoder),
    (LagrangeEncoder, LagrangeDecoder),
]


@pytest.mark.parametrize(("encoder_cls", "decoder_cls"), CODES)
@pytest.mark.parametrize("n_private", [0, 2])
def test_every_decoder_refuses_fewer_results_than_the_codes_nodes(
    encoder_cls, decoder_cls, n_private
):
    K, N = 6, 40
    rng = np.random.default_rng(0)
    encoder = encoder_cls(N, n_private=n_private).fit(rng.normal(size=(K, 2)))
    decoder = decoder_cls(K, n_private=n_private).fit(np.zeros((N, 2)))
    r = decoder.min_results()
    assert r == K + decoder.noise_points_.size
    # oracle: r - 1 rows of the encoder's operator from its nodes have rank < r, so
    # some change of the nodes' rows leaves every one of those results unchanged
    nodes = np.sort(np.concatenate([decoder.data_points_, decoder.noise_points_]))
    M = coding_operator(decoder.scheme, nodes, encoder.coded_points_)[0]
    keep = np.sort(rng.choice(N, r - 1, replace=False))
    assert np.linalg.matrix_rank(M[keep]) < r
    Y = rng.normal(size=(N, 2))
    Y[np.setdiff1d(np.arange(N), keep)] = np.nan
    message = rf"Only {r - 1} of {N} workers .* needs at least {r} to decode K=n_samples={K}"
    with pytest.raises(ValueError, match=message):
        decoder.transform(Y)
    Y[np.flatnonzero(np.isnan(Y[:, 0]))[0]] = 0.0  # r results: decoded
    assert np.isfinite(decoder.transform(Y)).all()


def test_the_issue_example_two_of_32_tanh_results_is_an_error():
    # SplineDecoder(16) on 2 of 32 results returned values from -34 to 45 for tanh outputs
    rng = np.random.default_rng(1)
    Y = np.tanh(SplineEncoder(32).fit_transform(rng.normal(size=(16, 4))))
    Y[2:] = np.nan
    with pytest.raises(ValueError, match=r"Only 2 of 32 .* at least 16 .*K=n_samples=16"):
        SplineDecoder(16).fit(Y).transform(Y)


def _windows_rank(B, m):
    """Oracle: the smallest rank of B with any m consecutive rows removed."""
    n = B.shape[0]
    return min(
        np.linalg.matrix_rank(np.delete(B, np.arange(i, i + m), axis=0)) for i in range(n - m + 1)
    )


@pytest.mark.parametrize(("N", "expected"), [(40, False), (80, True)])
def test_locatable_detects_rank_deficiency_after_removing_adjacent_results(N, expected):
    # issue 16: at N <= 40 (K = 16, A = 3) the spline system loses rank when 6
    # adjacent results are removed, although N - S >= K + 2A
    K, A = 16, 3
    alpha, beta = coding_points("interior", K, N)
    B = coding_operator("spline", alpha, beta)[0]
    assert N >= K + 2 * A
    full_rank = _windows_rank(B, 2 * A) == K
    assert bool(full_rank) == expected
    locatable = span_locatable(B, A, margin=1e-10)[0]
    assert (locatable == A) is expected


def _affine_results(encoder_cls, N, K, rng, n_outputs=3):
    X = rng.normal(size=(K, 4))
    return encoder_cls(N).fit_transform(X) @ rng.normal(size=(4, n_outputs)) + 1.0


@pytest.mark.parametrize(("encoder_cls", "decoder_cls"), CODES)
@pytest.mark.parametrize("seed", range(3))
def test_more_liars_than_declared_abstain_for_an_affine_f(encoder_cls, decoder_cls, seed):
    rng = np.random.default_rng(seed)
    K, N, A = 6, 40, 2
    Y = _affine_results(encoder_cls, N, K, rng)
    bad = rng.choice(N, 2 * A, replace=False)  # twice the declared number
    Y[bad] += 10 * Y.std() * rng.standard_normal((2 * A, Y.shape[1]))
    decoder = decoder_cls(K, n_adversaries=A).fit(Y)
    with pytest.raises(UncertifiedDecodeError, match="more liars than n_adversaries=2") as info:
        decoder.transform(Y)
    assert not decoder.certified_
    assert info.value.n_adversaries == A and info.value.n_results == N


@pytest.mark.parametrize(("encoder_cls", "decoder_cls"), CODES)
@pytest.mark.parametrize("lie", ["weakest", "frame"])
def test_chosen_position_liars_on_an_affine_f_are_located_or_refused(encoder_cls, decoder_cls, lie):
    # issue 16: three liars at the interval's end, lying along the code's near-null
    # direction, were never flagged and framed three honest rows (33 spreads off)
    rng = np.random.default_rng(5)
    K, N, A = 8, 40, 3
    clean = np.stack([_affine_results(encoder_cls, N, K, rng) for _ in range(4)], axis=1)
    returned = np.ones(clean.shape[:2], dtype=bool)
    model = ChoosingAdversaries(A, code=decoder_cls(K), position="ends", lie=lie, scale=30.0)
    corrupted, bad = model.corrupt(clean, returned, random_state=0)
    for b in range(clean.shape[1]):
        decoder = decoder_cls(K, n_adversaries=A).fit(corrupted[:, b])
        told = decoder_cls(K).fit(clean[:, b]).transform(corrupted[:, b], returned=~bad[:, b])
        try:
            decoded = decoder.transform(corrupted[:, b])
        except UncertifiedDecodeError:
            assert not decoder.certified_
            continue
        assert decoder.certified_
        spread = clean[:, b].std(axis=0)
        assert np.abs((decoded - told) / spread).max() < 1e-6


def test_honest_results_of_a_smooth_f_are_certified():
    rng = np.random.default_rng(2)
    K, N, S, A = 16, 80, 4, 3
    for _ in range(5):
        Y = np.tanh(SplineEncoder(N, points="interior").fit_transform(rng.normal(size=(K, 5))) / 3)
        Y[rng.choice(N, S, replace=False)] = np.nan
        decoder = SplineDecoder(K, points="interior", n_adversaries=A).fit(Y)
        decoded = decoder.transform(Y)
        assert decoder.certified_ and decoder.flagged_.sum() <= 2  # an end row may be dropped
        linear = SplineDecoder(K, points="interior").fit(Y).transform(Y)
        assert np.abs(decoded - linear).max() < 0.05 * np.nanstd(Y)


def test_the_certified_set_can_locate_what_it_claims():
    # locatable from span_locatable equals the oracle's largest A' whose adjacent
    # 2A'-removals all keep full rank (the survivors of a padded spline code)
    decoder = SplineDecoder(16, points="interior", n_private=2).fit(np.zeros((80, 1)))
    survivors = np.delete(np.arange(80), [10, 11, 50, 51])
    B = code_basis(decoder, survivors)
    locatable = span_locatable(B, 4, margin=1e-10)[0]
    oracle = max(a for a in range(5) if a == 0 or _windows_rank(B, 2 * a) == B.shape[1])
    assert locatable == oracle


@pytest.mark.parametrize(
    ("position", "lie"), [("ends", "weakest"), ("weakest", "weakest"), ("weakest", "frame")]
)
def test_twice_the_declared_liars_are_refused_or_harmless(position, lie):
    # 2A colluders who choose the positions and the direction of their lies (the
    # ones that passed checks (a)-(b) silently, 7 to 11 spreads off, on the spline
    # code): every batch is refused or within 3 spreads of the decoder told the
    # liars (check (c), docs/method.rst (8.3))
    rng = np.random.default_rng(7)
    K, N, A = 16, 80, 3
    W = rng.normal(size=(5, 4))
    clean = np.stack(
        [
            np.tanh(SplineEncoder(N, points="interior").fit_transform(rng.normal(size=(K, 5))) @ W)
            for _ in range(3)
        ],
        axis=1,
    )  # (N, 3 batches, 4): a smooth nonlinear f
    returned = np.ones(clean.shape[:2], dtype=bool)
    public = SplineDecoder(K, points="interior")
    model = ChoosingAdversaries(2 * A, code=public, position=position, lie=lie, scale=30.0)
    corrupted, bad = model.corrupt(clean, returned, random_state=0)
    for b in range(clean.shape[1]):
        decoder = SplineDecoder(K, points="interior", n_adversaries=A).fit(corrupted[:, b])
        told = SplineDecoder(K, points="interior").fit(clean[:, b])
        expected = told.transform(corrupted[:, b], returned=~bad[:, b])
        try:
            decoded = decoder.transform(corrupted[:, b])
        except UncertifiedDecodeError:
            assert not decoder.certified_
            continue
        spread = clean[:, b].std(axis=0)
        assert np.sqrt(np.mean(((decoded - expected) / spread) ** 2)) <= 3.0
