"""Replication as a code: round-robin copies, first replica, lost rows, votes (eq. 12.1-11.2)."""

import numpy as np
import pytest

from sklearn_coded.coding import (
    ReplicationDecoder,
    ReplicationEncoder,
    UncertifiedDecodeError,
    replica_rows,
)


@pytest.mark.parametrize(("K", "N"), [(8, 8), (8, 9), (8, 12), (8, 16), (5, 23)])
def test_every_row_goes_to_floor_or_ceil_of_n_over_k_workers(K, N):
    X = np.random.default_rng(0).normal(size=(K, 3))
    coded = ReplicationEncoder(N).fit_transform(X)
    counts = np.bincount(replica_rows(K, N), minlength=K)
    assert set(counts) <= {N // K, -(-N // K)} and counts.sum() == N
    # every coded row is a copy of one data row, bit for bit
    np.testing.assert_array_equal(coded, X[np.arange(N) % K])


def test_decode_is_exact_for_any_f_while_a_replica_arrives():
    rng = np.random.default_rng(1)
    K, N = 8, 20
    X = rng.normal(size=(K, 4))
    f = lambda Z: np.sign(np.sin(3 * Z))  # noqa: E731 (piecewise constant: no code decodes it)
    Y = f(ReplicationEncoder(N).fit_transform(X))
    counts = np.bincount(replica_rows(K, N))  # 3, 3, 3, 3, 2, 2, 2, 2
    missing = [k + K * rng.integers(counts[k]) for k in range(K)]  # one replica of each row
    Y[missing] = np.nan
    decoded = ReplicationDecoder(K).fit(Y).transform(Y)
    np.testing.assert_array_equal(decoded, f(X))


def test_a_row_with_no_replica_left_is_nan_never_a_guess():
    rng = np.random.default_rng(2)
    K, N = 6, 12
    X = rng.normal(size=(K, 2))
    Y = np.tanh(ReplicationEncoder(N).fit_transform(X))
    Y[[1, 7, 3]] = np.nan  # both replicas of row 1, one of row 3
    dec = ReplicationDecoder(K).fit(Y)
    decoded = dec.transform(Y)
    survivors = dec.survivors(Y)
    np.testing.assert_array_equal(dec.lost_rows(survivors), np.arange(K) == 1)
    assert np.isnan(decoded[1]).all()
    np.testing.assert_array_equal(np.delete(decoded, 1, 0), np.delete(np.tanh(X), 1, 0))


def test_few_results_decode_the_rows_they_hold_none_is_refused():
    Y = np.arange(8.0)[:, None]
    Y[:5] = np.nan  # 3 of 8 results: replicas of rows 1, 2, 3 (workers 5, 6, 7)
    decoder = ReplicationDecoder(4).fit(Y)
    assert decoder.min_results() == 1  # a row needs only its own replica
    np.testing.assert_array_equal(decoder.transform(Y)[:, 0], [np.nan, 5.0, 6.0, 7.0])
    Y[:] = np.nan
    with pytest.raises(ValueError, match=r"Only 0 of 8 workers .* at least 1"):
        decoder.transform(Y)


def test_private_rows_are_refused():
    with pytest.raises(ValueError, match="n_private must be 0, got n_private=2"):
        ReplicationEncoder(8, n_private=2).fit(np.ones((4, 2)))


def test_vote_outvotes_a_liars_and_refuses_more():
    rng = np.random.default_rng(3)
    K, A = 4, 1
    N = (2 * A + 1) * K
    X = rng.normal(size=(K, 3))
    Y = X[replica_rows(K, N)] ** 3
    Y[5] += 7.0  # one liar (row 1)
    dec = ReplicationDecoder(K, n_adversaries=A).fit(Y)
    np.testing.assert_allclose(dec.transform(Y), X**3, rtol=1e-12)
    assert np.flatnonzero(dec.flagged_).tolist() == [5] and dec.certified_
    Y[2] -= 3.0  # a second liar on another row: more than A
    with pytest.raises(UncertifiedDecodeError, match="2 results disagree"):
        dec.transform(Y)
    Y = X[replica_rows(K, N)] ** 3
    Y[9] = np.nan  # row 1 keeps 2 replicas: a tie a liar could win
    with pytest.raises(UncertifiedDecodeError, match="row 1 has 2 surviving replicas"):
        dec.transform(Y)
    with pytest.raises(ValueError, match=r"n_coded >= 3 \* K = 12"):
        ReplicationDecoder(K, n_adversaries=A).fit(np.ones((11, 1)))
