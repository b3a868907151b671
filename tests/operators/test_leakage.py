"""The certified leakage bound (eqs. Q, L, L_r, R of operators/_privacy.py) against oracles."""

import itertools

import numpy as np
import pytest

from sklearn_coded import BerrutEncoder, LagrangeEncoder, SplineEncoder
from sklearn_coded.operators import (
    LeakageBudgetError,
    LeakageLedger,
    colluder_information,
    collusion_r2,
    gaussian_leakage,
    leakage_bound,
    lmmse_leakage,
)

K, N, D = 4, 20, 6
#: AR(1) columns, correlation 0.8 between neighbours: lambda_max = 4.1 per unit variance.
AR = 0.8 ** np.abs(np.subtract.outer(np.arange(D), np.arange(D)))


def _pairs_worst(A, B, sigma, covariance):
    """Largest exact LMMSE R^2 (worst linear feature and pooled) of each row over all pairs."""
    worst, pooled = np.zeros(A.shape[1]), np.zeros(A.shape[1])
    for J in itertools.combinations(range(A.shape[0]), 2):
        p, w = lmmse_leakage(A, B, sigma, covariance, J)
        worst, pooled = np.maximum(worst, w), np.maximum(pooled, p)
    return worst, pooled


def test_lmmse_oracle_is_the_scalar_closed_form():
    # One worker sees a x + b z: R^2 = a^2 s / (a^2 s + b^2 sigma^2).
    r2 = lmmse_leakage([[2.0]], [[3.0]], 0.5, [[1.5]], [0])[0]
    np.testing.assert_allclose(r2, 4 * 1.5 / (4 * 1.5 + 9 * 0.25))


@pytest.mark.parametrize("cls", [SplineEncoder, BerrutEncoder, LagrangeEncoder])
def test_calibrated_bound_holds_against_the_lmmse_attacker_with_correlated_columns(cls):
    # The attacker knows the layout, sigma and the TRUE covariance (AR columns): its
    # exact R^2 on every linear feature of every row, over all 190 pairs, stays under
    # leakage_, which the calibration puts at max_leakage for the worst row.
    encoder = cls(N, n_private=2, covariance=AR, points="uniform", max_leakage=0.25)
    encoder.fit(np.random.default_rng(0).normal(size=(K, D)))
    A, B = encoder.encoding_matrix(K), encoder.noise_matrix(K)
    worst, pooled = _pairs_worst(A, B, encoder.noise_scale_, np.kron(np.eye(K), AR))
    assert encoder.leakage_.max() == pytest.approx(0.25)
    assert (worst <= encoder.leakage_ + 1e-9).all()
    assert (pooled <= worst + 1e-12).all()
    # Tight: the known-other-rows bound is within 5% of the attack (measured: 0.3% for
    # the spline and Berrut, 3% for Lagrange, whose neighbours interfere more).
    assert worst.max() > 0.95 * encoder.leakage_.max()
    # The per-pixel Gaussian value (unit variance per column, as gaussian_leakage
    # was used before) is beaten by the attack that uses the column correlations.
    per_pixel = gaussian_leakage(A, B, encoder.noise_scale_, 2, signal_var=1.0)[0]
    assert worst.max() > 2 * per_pixel.max()


def test_independent_row_bound_is_within_rounding_of_the_interference_aware_value():
    # gaussian_leakage (eq. G, the other rows unknown, interfering) at lambda_max is the
    # exact worst-feature R^2 for independent rows; eq. L (other rows known) is above it.
    encoder = SplineEncoder(64, n_private=2, covariance=AR, points="uniform").fit(np.eye(16, D))
    A, B = encoder.encoding_matrix(16), encoder.noise_matrix(16)
    exact = gaussian_leakage(A, B, encoder.noise_scale_, 2, signal_var=encoder.signal_variance_)[0]
    assert (exact <= encoder.leakage_ + 1e-12).all()
    assert exact.max() > 0.99 * encoder.leakage_.max()


def test_correlated_rows_need_the_eigenvalue_floor():
    # Rows of a batch correlated 0.9 (equicorrelated: smallest eigenvalue r = 0.1): the
    # independent-row bound of one row is beaten, the bound with the floor (eq. L_r) holds.
    encoder = SplineEncoder(N, n_private=2, covariance=AR, points="uniform").fit(np.eye(K, D))
    A, B = encoder.encoding_matrix(K), encoder.noise_matrix(K)
    rows = 0.1 * np.eye(K) + 0.9 * np.ones((K, K))
    worst, _ = _pairs_worst(A, B, encoder.noise_scale_, np.kron(rows, AR))
    q = encoder.leakage_information(K)
    assert (worst > leakage_bound(q) + 1e-4).any()  # measured 0.2100 against 0.2070
    assert (worst <= leakage_bound(q, row_eigenvalue_floor=0.1)).all()


def test_the_empirical_attack_through_the_encoder_stays_under_the_bound():
    # 3000 batches coded by the encoder's own secret noise; the two workers that learn
    # most of each row fit a ridge map from their pooled 2 x D values to the row.
    rng = np.random.default_rng(3)
    L = np.linalg.cholesky(AR)
    encoder = SplineEncoder(N, n_private=2, covariance=AR, points="uniform", leakage_budget=None)
    encoder.fit(rng.normal(size=(K, D)) @ L.T)
    X = rng.normal(size=(3000, K, D)) @ L.T
    coded = np.stack([encoder.transform(batch) for batch in X])  # (3000, N, D)
    A, B = encoder.encoding_matrix(K), encoder.noise_matrix(K)
    _, _, pairs = gaussian_leakage(A, B, encoder.noise_scale_, 2, return_subsets=True)
    for k in range(K):
        r2 = collusion_r2(X[:, k], coded[:, pairs[k]].reshape(len(X), -1))
        assert r2 <= encoder.leakage_[k]


def test_repeats_compose_as_the_bound_says():
    # R views of the same batch with fresh noise: the exact attack on their mean is the
    # attack at sigma^2 / R, and stays under the composed bound (eq. R).
    encoder = SplineEncoder(N, n_private=2, covariance=AR, points="uniform").fit(np.eye(K, D))
    A, B = encoder.encoding_matrix(K), encoder.noise_matrix(K)
    q = encoder.leakage_information(K)
    for R in (2, 4, 16):
        sigma = encoder.noise_scale_ / np.sqrt(R)
        exact = gaussian_leakage(A, B, sigma, 2, signal_var=encoder.signal_variance_)[0]
        assert (exact <= leakage_bound(R * q) + 1e-12).all()
        assert exact.max() > 0.98 * leakage_bound(R * q).max()


def test_information_closed_forms_and_refusals():
    A = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    B = np.array([[1.0], [2.0], [0.0]])
    Q = colluder_information(A, B, 1)
    # Worker 0: x_0 + z, a'(BB')^-1 a = 1; worker 1: x_0 + x_1 + 2z, 1/4 each; worker 2
    # sees x_1 with no noise at all.
    np.testing.assert_allclose(Q[0], 1.0)
    assert Q[1] == np.inf
    assert leakage_bound(np.inf) == 1.0
    with pytest.raises(ValueError, match=r"C\(N, T\) = 190 subsets, more than 100"):
        colluder_information(np.ones((20, 2)), np.ones((20, 2)), 2, max_subsets=100)
    with pytest.raises(ValueError, match="row_eigenvalue_floor"):
        leakage_bound(1.0, row_eigenvalue_floor=0.0)


def test_encoder_refuses_a_target_it_cannot_meet():
    X = np.random.default_rng(4).normal(size=(6, 3))
    with pytest.raises(ValueError, match=r"noise_scale=0.1 lets T colluders reach R\^2 1\.000"):
        SplineEncoder(30, n_private=2, noise_scale=0.1).fit(X)
    with pytest.raises(ValueError, match="over 1e\\+06 data standard deviations"):
        SplineEncoder(30, n_private=2, max_leakage=1e-14).fit(X)
    with pytest.raises(ValueError, match="do not vary"):
        SplineEncoder(30, n_private=2).fit(np.ones((6, 3)))
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        SplineEncoder(30, n_private=2, covariance=np.eye(2)).fit(X)


def test_the_encoder_budget_refuses_the_fourth_request_and_records_nothing():
    X = np.random.default_rng(5).normal(size=(6, 3))
    encoder = SplineEncoder(30, n_private=2).fit(X)  # budget "auto": 3 views at 0.25 = 0.5
    for _ in range(3):
        encoder.transform(X)
    np.testing.assert_allclose(encoder._ledger.spent(X).max(), 0.5)
    with pytest.raises(LeakageBudgetError, match=r"leakage_budget=0\.5: .* would reach 0\.571"):
        encoder.transform(X)
    np.testing.assert_allclose(encoder._ledger.spent(X).max(), 0.5)  # nothing charged
    encoder.transform(X + 1.0)  # other rows have their own account
    assert SplineEncoder(30, n_private=2, leakage_budget=None).fit(X).transform(X).shape == (30, 3)


def test_ledger_identifies_rows_by_their_values_in_any_float_dtype():
    ledger = LeakageLedger(0.5)
    X = np.arange(6.0).reshape(3, 2)
    ledger.charge(X, 1.0)  # R^2 0.5 each: the budget
    ledger.charge(X[:, ::-1], 1.0)  # other rows (columns swapped)
    with pytest.raises(LeakageBudgetError, match="3 of the 3 rows"):
        ledger.charge(X.astype(np.float32), 1e-3)
    with pytest.raises(LeakageBudgetError, match="1 of the 2 rows"):
        ledger.charge(np.array([[0.0, 1.0], [9.0, 9.0]]), 1e-3)
