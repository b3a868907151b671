"""Per-request decode diagnostics and the policy for refused batches (docs/method.rst 8).

Every batch of a request is decoded from the results that arrived (less the
liars located with ``n_adversaries``). A batch is *refused* when it has fewer
results than the quality floor (``min_results``; by default K + P, the code's
nodes, and K + P + 2A with ``n_adversaries = A``: below K + P no decoder can
tell the outputs apart, even for an affine f) or, with ``n_adversaries``, when
its decode cannot be certified (the survivors cannot locate A liars, or a kept
result is inconsistent with the code). A refused batch is never returned as if
it were fine: ``on_uncertified="raise"`` raises :class:`UncertifiedBatchError`
naming it, ``"nan"`` returns NaN for its rows with one warning per call.

Rows are kept where they are known exactly (docs/method.rst 12.3): in a refused
batch, a row whose own worker answered (a systematic layout's data worker, any
replica of replication) is that worker's result ``f(x_k)``, with no decoding; it
is returned and only the other rows are NaN (``RequestDiagnostics.exact_rows``
counts them). With ``n_adversaries > 0`` one worker's row is not certified and
the whole batch stays refused.
"""

import collections
import dataclasses
import warnings

import numpy as np

#: What an estimator does with a refused batch.
UNCERTIFIED_POLICIES = ("raise", "nan")


class UncertifiedBatchError(ValueError):
    """A coded estimator refused some batches of a request (docs/method.rst 8).

    Attributes
    ----------
    batches : ndarray of int
        The refused batches (in the order of the request's batches).
    reasons : dict
        Batch -> why it was refused.
    """

    def __init__(self, message, *, batches, reasons):
        super().__init__(message)
        self.batches = batches
        self.reasons = reasons


class UncertifiedBatchWarning(UserWarning):
    """Some batches were refused and their rows returned as NaN (``on_uncertified="nan"``)."""


@dataclasses.dataclass
class RequestDiagnostics:
    """What one prediction request decoded.

    Attributes
    ----------
    n_samples : int
        Rows of the request.
    floor : int
        The quality floor: fewest results a batch is decoded from.
    results_used : ndarray of int of shape (n_batches,)
        Results each batch was decoded from (finite, less the located liars).
    below_floor : ndarray of int
        Batches with fewer results than ``floor``.
    uncertified : ndarray of int
        Batches refused for any reason (``below_floor`` included).
    reasons : dict
        Batch -> why it was refused.
    decode_seconds : float
        Time spent decoding (locating liars included).
    exact_rows : int, default=0
        Rows of refused batches returned anyway, exactly: their own worker's result
        ``f(x_k)`` arrived (a systematic layout's data worker, a replica; never
        with ``n_adversaries > 0``; docs/method.rst 12.3).
    refused_rows : int, default=0
        Rows of refused batches (``exact_rows`` of them returned, the rest NaN).
    """

    n_samples: int
    floor: int
    results_used: np.ndarray
    below_floor: np.ndarray
    uncertified: np.ndarray
    reasons: dict
    decode_seconds: float
    exact_rows: int = 0
    refused_rows: int = 0

    @property
    def n_batches(self):
        """Batches of the request."""
        return self.results_used.size


class Diagnostics:
    """The last requests' :class:`RequestDiagnostics` of a fitted coded estimator.

    ``diagnostics_`` of :class:`~sklearn_coded.estimators.CodedClassifier` and
    :class:`~sklearn_coded.estimators.CodedRegressor`; created by ``fit``,
    appended to by every prediction call.

    Parameters
    ----------
    max_requests : int, default=32
        Requests kept, the latest last.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_coded.estimators import CodedRegressor
    >>> X = np.random.default_rng(0).normal(size=(64, 3))
    >>> reg = CodedRegressor(Ridge(), batch_size=8, n_coded=24, stragglers=4).fit(X, X[:, 0])
    >>> _ = reg.predict(X)
    >>> last = reg.diagnostics_.last
    >>> last.n_batches, last.floor, int(last.results_used.min()), last.uncertified.size
    (8, 8, 20, 0)
    """

    def __init__(self, max_requests=32):
        self.requests = collections.deque(maxlen=max_requests)

    @property
    def last(self):
        """The latest request's :class:`RequestDiagnostics`, or None before any."""
        return self.requests[-1] if self.requests else None

    def __repr__(self):
        return f"Diagnostics({len(self.requests)} requests)"


def apply_policy(decoded, request, policy, stacklevel=4):
    """Raise or warn for the refused batches of ``request``; return ``decoded`` (NaN rows).

    Parameters
    ----------
    decoded : ndarray of shape (n_samples, n_outputs)
        NaN on the rows of refused batches.
    request : RequestDiagnostics
    policy : {"raise", "nan"}
    stacklevel : int, default=4

    Returns
    -------
    decoded : ndarray
    """
    refused = request.uncertified
    if refused.size == 0:
        return decoded
    first = int(refused[0])
    summary = (
        f"{refused.size} of {request.n_batches} batches could not be decoded with the "
        f"code's accuracy ({request.below_floor.size} below the floor of {request.floor} "
        f"results); batch {first}: {request.reasons.get(first, 'refused')}"
    )
    exact = ""
    if request.refused_rows:  # docs/method.rst 12.3: rows known exactly are kept
        exact = (
            f" {request.exact_rows} of their {request.refused_rows} rows were answered "
            "exactly by a worker holding the row itself"
        )
    if policy == "raise":
        raise UncertifiedBatchError(
            f"{summary}.{exact}{'.' if exact else ''} on_uncertified='raise' refuses the "
            "request; "
            "on_uncertified='nan' returns NaN for those rows instead.",
            batches=refused,
            reasons=request.reasons,
        )
    n_rows = int(np.isnan(decoded).any(axis=1).sum())
    warnings.warn(
        f"{summary}.{exact}{' and are returned;' if exact else ''} {n_rows} rows are NaN "
        "(on_uncertified='nan').",
        UncertifiedBatchWarning,
        stacklevel=stacklevel,
    )
    return decoded
