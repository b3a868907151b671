"""Replication as a code: every row to floor or ceil of N/K workers (docs/method.rst 12).

The baseline a user with slow workers would run instead of a code. Coded row i
of a batch of K rows is a copy of row ``i mod K`` (round-robin), so row k is
sent to the ``n_k`` in ``{floor(N/K), ceil(N/K)}`` workers ``k, k + K, k + 2K, ...``.
As a linear code the encoder is the 0/1 matrix ``E[i, i mod K] = 1`` and the
decoder for the survivors F averages the replicas of each row that arrived,
``D_F[k, j] = 1 / |R_k|`` for ``j`` in ``R_k = {j in F : j mod K = k}`` (eq. 12.1):
for a deterministic f every replica is ``f(x_k)`` itself, so the mean is the
first arriving replica, exact for any f, smooth or not.

A row none of whose replicas arrived is *lost*: no linear decode recovers it,
and its row of ``D_F`` is NaN, so that it decodes to NaN and is never filled
with a guess (the coded estimators refuse its batch, see ``on_uncertified``).
With ``n_adversaries = A`` each row is decided by a vote among its replicas
(eq. 12.2): a row needs 2A + 1 of them to outvote A liars; fewer, or more than A
replicas disagreeing with the vote, and the batch is refused
(:class:`~sklearn_coded.coding.UncertifiedDecodeError`).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import FLOAT_DTYPES, BaseDecoder, BaseEncoder, apply_operator
from ._byzantine import UncertifiedDecodeError
from ._registry import Scheme, register_scheme

#: Relative tolerance within which two replicas of one row count as the same result
#: (one deterministic f on the same row; rounding may differ with the row's place in
#: a BLAS block).
REPLICA_RTOL = 1e-6


def replica_rows(n_samples, n_coded):
    """The data row each coded row copies: ``i mod K`` (round-robin).

    Parameters
    ----------
    n_samples : int
        K, the rows of the batch.
    n_coded : int
        N >= K, the workers.

    Returns
    -------
    rows : ndarray of int of shape (n_coded,)

    Examples
    --------
    >>> from sklearn_coded.coding import replica_rows
    >>> replica_rows(3, 7)
    array([0, 1, 2, 0, 1, 2, 0])
    """
    return np.arange(int(n_coded)) % int(n_samples)


def replication_matrix(n_samples, n_coded):
    """The (N, K) 0/1 encoding matrix of replication, read-only."""
    E = np.zeros((int(n_coded), int(n_samples)))
    E[np.arange(int(n_coded)), replica_rows(n_samples, n_coded)] = 1.0
    E.flags.writeable = False
    return E


def _refuse_private(coder):
    if coder.n_private:
        raise ValueError(
            f"{type(coder).__name__} sends every row in the clear to its workers: "
            f"n_private must be 0, got n_private={coder.n_private!r}. Use a code "
            "(scheme='spline' or 'berrut') to keep rows private."
        )


class ReplicationEncoder(BaseEncoder):
    """Replicate a batch: coded row i is a copy of row ``i mod K`` (round-robin).

    Each of the K rows goes to ``floor(N/K)`` or ``ceil(N/K)`` of the N
    workers (the first ``N mod K`` rows to one more). The baseline that a code
    has to beat: exact for any f, smooth or not, while one replica of each row
    arrives (:class:`ReplicationDecoder`).

    Parameters
    ----------
    n_coded : int
        N >= K, the number of workers; ``transform`` needs N >= K.
    points : str or (data, coded) pair, default="chebyshev"
        Unused (replication has no points); kept so that every scheme's coders
        take the same arguments.
    n_private : int, default=0
        Must be 0: replication sends every row in the clear.
    noise_scale, max_leakage, covariance, leakage_budget, random_state
        Unused (no padding), as for ``n_private=0`` in the other coders.

    Attributes
    ----------
    data_points_ : ndarray of shape (K,)
        The layout the other coders use (unused by the code itself).
    coded_points_ : ndarray of shape (n_coded,)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.coding import ReplicationEncoder
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> ReplicationEncoder(n_coded=5).fit_transform(X)
    array([[0., 1.],
           [2., 3.],
           [4., 5.],
           [0., 1.],
           [2., 3.]])
    """

    scheme = "replication"

    def fit(self, X, y=None):
        """Record the columns for batches of ``len(X)`` rows (see :class:`BaseEncoder`).

        Parameters
        ----------
        X : array-like of shape (K, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        _refuse_private(self)
        return super().fit(X, y)

    def encoding_matrix(self, n_samples, X=None):
        """The (n_coded, n_samples) 0/1 matrix E with ``E[i, i mod K] = 1`` (eq. 12.1).

        Parameters
        ----------
        n_samples : int
            K.
        X : None
            Unused.

        Returns
        -------
        E : ndarray of shape (n_coded, n_samples), float64, read-only
        """
        check_is_fitted(self)
        return replication_matrix(n_samples, self.n_coded)


class ReplicationDecoder(BaseDecoder):
    """Decode replicated results: each row from the replicas of it that arrived.

    Row k is the mean of its replicas that returned a finite result (eq. 12.1):
    for a deterministic f each one is ``f(x_k)``, so this is the first arriving
    replica. A row with no replica left is *lost*: its decoded row is NaN (never
    a guess; :meth:`lost_rows` names them). With ``n_adversaries = A`` each row is
    the coordinate-wise median of its replicas, a vote (eq. 12.2) that needs 2A + 1
    replicas per row; replicas off the vote are recorded in ``flagged_``.

    Parameters
    ----------
    n_samples : int
        K >= 2, the rows of a batch; ``transform`` needs K <= N.
    points : str or (data, coded) pair, default="chebyshev"
        Unused (replication has no points).
    n_adversaries : int, default=0
        A: up to A finite results per call may be arbitrary. Every row needs
        2A + 1 replicas (n_coded >= (2A + 1) K); a batch where a row has fewer
        surviving replicas, or more than A results disagree with the vote,
        raises :class:`~sklearn_coded.coding.UncertifiedDecodeError`.
    n_private : int, default=0
        Must be 0.

    Attributes
    ----------
    replica_of_ : ndarray of int of shape (n_coded,)
        The row each worker's result is a replica of.
    flagged_ : ndarray of bool of shape (n_coded,)
        Results off the vote in the last ``transform`` (``n_adversaries > 0``).
    certified_ : bool
        Whether the last ``transform``'s vote was certified (``n_adversaries > 0``).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.coding import ReplicationDecoder, ReplicationEncoder
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> Y = ReplicationEncoder(n_coded=6).fit_transform(X) ** 2  # f = square
    >>> Y[[0, 4]] = np.nan  # two stragglers: one replica of rows 0 and 1 left
    >>> ReplicationDecoder(n_samples=3).fit(Y).transform(Y)
    array([[ 0.,  1.],
           [ 4.,  9.],
           [16., 25.]])
    >>> Y[3] = np.nan  # the last replica of row 0: lost, never guessed
    >>> ReplicationDecoder(n_samples=3).fit(Y).transform(Y)[0]
    array([nan, nan])
    """

    scheme = "replication"

    def fit(self, Y, y=None):
        """Record the N workers and which row each replicates (see :class:`BaseDecoder`).

        Parameters
        ----------
        Y : array-like of shape (N, n_outputs)
            NaN rows mark workers that did not return.
        y : None
            Ignored.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            If ``n_private > 0``, or ``n_adversaries = A > 0`` and some row has
            fewer than 2A + 1 replicas (N < (2A + 1) K).
        """
        _refuse_private(self)
        super().fit(Y, y)
        N = self.coded_points_.size
        self.replica_of_ = replica_rows(self.n_samples, N)
        needed = 2 * self.n_adversaries + 1
        if self.n_adversaries and N // self.n_samples < needed:
            raise ValueError(
                f"n_adversaries={self.n_adversaries} needs a vote among 2A + 1 = {needed} "
                f"replicas of every row, so n_coded >= {needed} * K = "
                f"{needed * self.n_samples}; got N={N} workers for K=n_samples="
                f"{self.n_samples} rows ({N // self.n_samples} replicas of some rows)."
            )
        return self

    def min_results(self):
        """Fewest results a batch is decoded from: 1 (each row needs only its own replica).

        The rows none of whose replicas arrived are lost (NaN), the others exact,
        however few results arrived; the coded estimators refuse a batch with a
        lost row.

        Returns
        -------
        needed : int
        """
        check_is_fitted(self)
        return 1

    def lost_rows(self, survivors):
        """Boolean mask (n_samples,) of the rows none of whose replicas is in ``survivors``.

        Parameters
        ----------
        survivors : array-like of int
            Indices of the workers that returned.

        Returns
        -------
        lost : ndarray of bool of shape (n_samples,)
        """
        check_is_fitted(self)
        survivors = np.asarray(survivors, dtype=np.intp)
        counts = np.bincount(self.replica_of_[survivors], minlength=self.n_samples)
        return counts[: self.n_samples] == 0

    def decoding_matrix(self, survivors, Y_survivors=None):
        """The (n_samples, len(survivors)) averaging matrix D_F of eq. (12.1).

        ``D_F[k, j] = 1 / |R_k|`` for the survivors j replicating row k; the row
        of a lost row (``R_k`` empty) is NaN, so that it decodes to NaN.

        Parameters
        ----------
        survivors : array-like of int
            Sorted indices F of the workers that returned.
        Y_survivors : None
            Unused.

        Returns
        -------
        D : ndarray of shape (n_samples, len(survivors)), float64, read-only
        """
        check_is_fitted(self)
        survivors = np.asarray(survivors, dtype=np.intp)
        self.check_results(survivors.size)
        rows = self.replica_of_[survivors]
        D = np.zeros((self.n_samples, survivors.size))
        D[rows, np.arange(survivors.size)] = 1.0
        counts = D.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            D = D / counts  # 0/0 = NaN on the rows with no replica: lost, never filled
        D.flags.writeable = False
        return D

    def transform(self, Y, returned=None):
        """Decode the K rows from the replicas that arrived (see the class docstring).

        Parameters
        ----------
        Y : array-like of shape (N, n_outputs)
            One row per worker; NaN or inf rows are missing.
        returned : array-like of bool of shape (N,), optional
            True where the worker's result arrived.

        Returns
        -------
        Y_decoded : ndarray of shape (n_samples, n_outputs)
            NaN on the lost rows.

        Raises
        ------
        ValueError
            If fewer than K workers returned (some row is surely lost).
        UncertifiedDecodeError
            With ``n_adversaries > 0``, if a row has fewer than 2A + 1 surviving
            replicas or more than A results disagree with the votes.
        """
        check_is_fitted(self)
        Y = validate_data(self, Y, reset=False, dtype=FLOAT_DTYPES, ensure_all_finite=False)
        survivors = self.survivors(Y, returned)
        if self.n_adversaries:
            self.check_results(survivors.size)
            survivors = self._vote(Y, survivors)
        Y_survivors = Y[survivors]
        return self._new_rows(apply_operator(self.decoding_matrix(survivors), Y_survivors))

    def _vote(self, Y, survivors):
        """Eq. (12.2): flag the replicas off each row's median; the survivors left."""
        A = self.n_adversaries
        self.flagged_ = np.zeros(Y.shape[0], dtype=bool)
        self.certified_ = False
        rows = self.replica_of_[survivors]
        counts = np.bincount(rows, minlength=self.n_samples)[: self.n_samples]
        short = np.flatnonzero(counts < 2 * A + 1)
        if short.size:
            raise self._uncertified(
                survivors.size,
                f"row {short[0]} has {counts[short[0]]} surviving replicas; a vote "
                f"against A={A} liars needs 2A + 1 = {2 * A + 1}",
            )
        for k in range(self.n_samples):
            members = survivors[rows == k]
            vote = np.median(Y[members], axis=0)
            tol = REPLICA_RTOL * (np.abs(vote) + np.abs(vote).max())
            off = (np.abs(Y[members] - vote) > tol).any(axis=1)
            self.flagged_[members[off]] = True
        n_off = int(self.flagged_.sum())
        if n_off > A:
            raise self._uncertified(
                survivors.size,
                f"{n_off} results disagree with their row's vote, more than "
                f"n_adversaries={A} (more liars than declared, or an f that is not "
                "deterministic)",
            )
        self.certified_ = True
        return survivors[~self.flagged_[survivors]]

    def _uncertified(self, n_results, reason):
        return UncertifiedDecodeError(
            f"{type(self).__name__} cannot certify this batch: {reason}.",
            n_results=n_results,
            n_adversaries=self.n_adversaries,
            locatable=self.n_adversaries,
            reason=reason,
        )


def replica_stop(groups, n_coded, n_adversaries=0):
    """``enough(returned)`` for :func:`~sklearn_coded.execution.run_workers`.

    True once every row of every batch has ``2A + 1`` finite replicas (one when
    A = 0), counted with the replica map of :func:`replica_rows`
    of each batch size.

    Parameters
    ----------
    groups : list of Group
        The request's (chunk's) layout, in the order of the columns of ``returned``.
    n_coded : int
        N.
    n_adversaries : int, default=0
        A.

    Returns
    -------
    enough : callable
    """
    need = 2 * int(n_adversaries) + 1
    blocks = []
    start = 0
    for group in groups:
        n_batches, k = group.slots.shape
        incidence = np.zeros((k, n_coded))
        incidence[replica_rows(k, n_coded), np.arange(n_coded)] = 1.0
        blocks.append((slice(start, start + n_batches), incidence))
        start += n_batches

    def enough(returned):
        return all((M @ returned[:, cols] >= need).all() for cols, M in blocks)

    return enough


def _one_replica(plan):
    """Replication's floor: one result (a row needs its own replica; lost rows refused)."""
    return 1


register_scheme(
    Scheme(
        "replication",
        ReplicationEncoder,
        ReplicationDecoder,
        auto_points="uniform",  # unused: replication has no points
        floor=_one_replica,
        stop_rule=replica_stop,
        probe=False,  # exact for any f while a replica arrives
        training_scheme="spline",  # coded-smoothing of a skorch net needs a code
    )
)
