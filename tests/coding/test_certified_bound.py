"""The fit-time bound on locatable liars against the per-batch decision (docs/method.rst (8.4))."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from sklearn_coded import (
    BerrutDecoder,
    BerrutEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)
from sklearn_coded.coding import CertificationWarning, UncertifiedDecodeError, certified_adversaries
from sklearn_coded.coding._byzantine import code_basis
from sklearn_coded.estimators import CodedRegressor

LAYOUTS = [
    # encoder, decoder, points, K, N, T, S, every honest batch certified
    (SplineEncoder, SplineDecoder, "interior", 16, 80, 0, 4, True),
    (SplineEncoder, SplineDecoder, "interior", 16, 80, 2, 4, True),
    (LagrangeEncoder, LagrangeDecoder, "chebyshev", 6, 24, 0, 2, True),
    # few rows per batch: dropping 2A end results moves the spline's and Berrut's own
    # decode by more than STABILITY_THRESHOLD spreads (check (c), which depends on
    # the results, not on the layout), so some honest batches are refused by (c)
    (SplineEncoder, SplineDecoder, "interior", 8, 40, 0, 4, False),
    (BerrutEncoder, BerrutDecoder, "chebyshev", 8, 30, 0, 3, False),
]


def _affine_results(encoder_cls, points, K, N, T, rng):
    """Results of an affine f (exactly in the code's span): every honest batch is clean."""
    private = {"n_private": T, "noise_scale": 1.0, "max_leakage": 1.0} if T else {}
    encoder = encoder_cls(N, points=points, **private).fit(rng.normal(size=(K, 5)))
    W = rng.normal(size=(5, 3))
    return encoder.transform(rng.normal(size=(K, 5))) @ W + 1.0


def _survivor_sets(N, S, rng, n_random=6):
    """Every block of S adjacent workers (in coded order) missing, and random sets."""
    for start in range(0, N - S + 1, 3):
        yield np.setdiff1d(np.arange(N), np.arange(start, start + S))
    for _ in range(n_random):
        yield np.sort(rng.choice(N, N - S, replace=False))


def _rank_after_blocks(B, m):
    """Oracle of condition (a): smallest rank of B less any m consecutive rows."""
    return min(
        np.linalg.matrix_rank(np.delete(B, np.arange(i, i + m), axis=0), tol=1e-9)
        for i in range(B.shape[0] - m + 1)
    )


@pytest.mark.parametrize(("enc", "dec", "points", "K", "N", "T", "S", "all_certified"), LAYOUTS)
def test_fit_time_bound_is_never_above_what_a_batch_certifies(
    enc, dec, points, K, N, T, S, all_certified
):
    rng = np.random.default_rng(0)
    Y = _affine_results(enc, points, K, N, T, rng)
    public = dec(K, points=points, n_private=T).fit(Y)
    bound = certified_adversaries(public, S)
    reed_solomon = (N - K - public.noise_points_.size) // 2
    assert 1 <= bound <= certified_adversaries(public, 0) <= reed_solomon
    robust = dec(K, points=points, n_private=T, n_adversaries=bound).fit(Y)
    certified = []
    for survivors in _survivor_sets(N, S, rng):
        try:
            robust.transform(Y, np.isin(np.arange(N), survivors))
        except UncertifiedDecodeError as error:  # never for the layout's reason, (a)
            assert "undetermined" not in error.reason and error.locatable >= bound
        assert robust.certified_ or not all_certified
        assert not robust.flagged_.any()
        certified.append(robust.certified_)
    assert np.mean(certified) >= (1.0 if all_certified else 0.5)
    # tight on the worst survivor set: one more liar is refused by (a), and the
    # oracle agrees that 2(A + 1) adjacent survivors leave the code undetermined
    order = np.argsort(public.coded_points_)
    B = code_basis(public, order)
    worst = None
    for start in range(N - S + 1):
        kept = np.delete(np.arange(N), np.arange(start, start + S))
        if _rank_after_blocks(B[kept], 2 * (bound + 1)) < B.shape[1]:
            worst = order[kept]
            break
    if worst is None:  # the bound came from a random straggler set: none adjacent fails
        return
    beyond = dec(K, points=points, n_private=T, n_adversaries=bound + 1).fit(Y)
    with pytest.raises(UncertifiedDecodeError, match="leaves the code undetermined"):
        beyond.transform(Y, np.isin(np.arange(N), worst))
    assert not beyond.certified_


def test_bound_falls_with_stragglers_and_matches_the_oracle_without():
    decoder = SplineDecoder(16, points="interior").fit(np.zeros((40, 1)))
    bounds = [certified_adversaries(decoder, S) for S in range(6)]
    assert bounds == sorted(bounds, reverse=True)
    B = code_basis(decoder, np.argsort(decoder.coded_points_))
    # oracle at S = 0: the largest A whose 2A-blocks all keep rank K
    oracle = max(a for a in range(12) if a == 0 or _rank_after_blocks(B, 2 * a) == 16)
    assert bounds[0] == oracle
    with pytest.raises(ValueError, match="n_stragglers must be in"):
        certified_adversaries(decoder, 41)


def test_estimator_warns_when_stragglers_leave_too_few_and_names_a_fix():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.normal(size=60)
    kwargs = dict(batch_size=16, scheme="spline", points="interior", random_state=0)
    with pytest.warns(CertificationWarning, match=r"n_adversaries=3 .* at most 1 liars") as record:
        reg = CodedRegressor(Ridge(), n_coded=48, stragglers=4, n_adversaries=3, **kwargs)
        reg.fit(X, y)
    assert reg.certified_adversaries_ == 1
    n_min = int(str(record[0].message).split("n_coded >= ")[1].split()[0])
    s_max = int(str(record[0].message).split("stragglers <= ")[1].split()[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the suggested fixes fit without the warning
        fixed = CodedRegressor(Ridge(), n_coded=n_min, stragglers=4, n_adversaries=3, **kwargs)
        assert fixed.fit(X, y).certified_adversaries_ >= 3
        fewer = CodedRegressor(Ridge(), n_coded=48, stragglers=s_max, n_adversaries=3, **kwargs)
        assert fewer.fit(X, y).certified_adversaries_ >= 3
    with pytest.warns(CertificationWarning):
        CodedRegressor(Ridge(), n_coded=n_min - 1, stragglers=4, n_adversaries=3, **kwargs).fit(
            X, y
        )
    assert 56 <= n_min <= 72 and s_max == 0  # oracle: the bounds of the layouts around it
    assert CodedRegressor(Ridge(), n_coded=48, **kwargs).fit(X, y).certified_adversaries_ is None


def test_estimator_refuses_more_liars_than_any_survivor_set_locates():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(60, 4)), rng.normal(size=60)
    reg = CodedRegressor(
        Ridge(), batch_size=16, n_coded=40, points="interior", n_adversaries=4, random_state=0
    )
    with pytest.raises(ValueError, match=r"n_adversaries=4 .* even with no straggler.* at most 2"):
        reg.fit(X, y)
