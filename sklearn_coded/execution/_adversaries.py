"""Adversary models: workers that return wrong results on purpose (method.md 7).

Like the straggler models, an adversary model is a seeded scikit-learn-style
object. :meth:`BaseAdversaries.corrupt` takes the (N, B, n_outputs) results of a
request and returns them with the lying workers' rows replaced. The lying
workers are drawn once per request among the N workers (a worker runs every
batch of a request, so a Byzantine worker lies in all the batches it returns),
and only results that arrived are corrupted: at most ``n_adversaries`` corrupted
rows per batch. Error sizes are relative to the *spread* of the honest results
of the batch (their standard deviation over workers, per output column), so a
scale of 1 is an error the size of the results' own variation.

:func:`~sklearn_coded.execution.run_workers` applies a model, in process and on
real executors alike, to the results as the master collects them.
"""

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state


class BaseAdversaries(BaseEstimator, metaclass=ABCMeta):
    """Base class of the adversary models; subclass it and implement :meth:`_lie`.

    Parameters are stored in ``__init__``; every model has ``n_adversaries``.
    """

    def corrupt(self, results, returned, random_state=None):
        """Replace the lying workers' rows of a request.

        Parameters
        ----------
        results : ndarray of shape (n_workers, n_batches, n_outputs)
            Honest results, NaN where a worker did not return.
        returned : ndarray of bool of shape (n_workers, n_batches)
        random_state : int, RandomState instance or None, default=None
            Seeds who lies and how.

        Returns
        -------
        corrupted : ndarray of shape (n_workers, n_batches, n_outputs)
            A copy of ``results`` with the lies in.
        bad : ndarray of bool of shape (n_workers, n_batches)
            True where a returned row was corrupted.
        """
        self.validate(results.shape[0])
        rng = check_random_state(random_state)
        results = np.array(results, dtype=np.result_type(results.dtype, np.float32))
        liars = self._draw_liars(results.shape[0], rng)
        bad = np.zeros(returned.shape, dtype=bool)
        bad[liars] = returned[liars]
        if not bad.any():
            return results, bad
        honest = np.where(returned[:, :, None], results, np.nan)
        with warnings.catch_warnings():  # a batch no worker returned: spread 0
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = np.nanstd(honest, axis=0)  # (n_batches, n_outputs)
        spread = np.nan_to_num(spread)
        for b in np.flatnonzero(bad.any(axis=0)):
            rows = np.flatnonzero(bad[:, b])
            results[rows, b] = self._lie(results[rows, b], spread[b], rows, rng)
        return results, bad

    def _draw_liars(self, n_workers, rng):
        return np.sort(rng.choice(n_workers, self.n_adversaries, replace=False))

    @abstractmethod
    def _lie(self, rows, spread, workers, rng):
        """The lies: rows (n_bad, n_outputs) -> (n_bad, n_outputs)."""

    def validate(self, n_workers):
        """Raise ValueError, naming the model, if its parameters are invalid for N workers.

        Parameters
        ----------
        n_workers : int
            N.
        """
        A = self.n_adversaries
        if not isinstance(A, Integral) or isinstance(A, bool) or not 0 <= A <= n_workers:
            raise ValueError(
                f"adversaries={self!r} is invalid: n_adversaries must be an int in "
                f"[0, n_workers={n_workers}], got {A!r}."
            )
        scale = getattr(self, "scale", 1.0)
        if not isinstance(scale, Real) or not np.isfinite(scale) or scale < 0:
            raise ValueError(
                f"adversaries={self!r} is invalid: scale must be a finite number >= 0, "
                f"got {scale!r}."
            )


class GrossErrors(BaseAdversaries):
    """Lying workers add Gaussian errors of ``scale`` times the results' spread.

    Parameters
    ----------
    n_adversaries : int, default=1
        A, lying workers per request.
    scale : float, default=10.0
        Error standard deviation in units of the honest results' spread.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.execution import GrossErrors
    >>> results = np.zeros((6, 2, 3))
    >>> results[:, :, 0] = np.arange(6)[:, None]
    >>> returned = np.ones((6, 2), dtype=bool)
    >>> corrupted, bad = GrossErrors(2).corrupt(results, returned, random_state=0)
    >>> bad.sum(axis=0), bool((corrupted[~bad] == results[~bad]).all())
    (array([2, 2]), True)
    """

    def __init__(self, n_adversaries=1, *, scale=10.0):
        self.n_adversaries = n_adversaries
        self.scale = scale

    def _lie(self, rows, spread, workers, rng):
        return rows + self.scale * spread * rng.standard_normal(rows.shape)


class SignFlips(BaseAdversaries):
    """Lying workers return their results with the sign flipped.

    Parameters
    ----------
    n_adversaries : int, default=1
        A, lying workers per request.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.execution import SignFlips
    >>> results = np.ones((4, 1, 2))
    >>> corrupted, bad = SignFlips(1).corrupt(results, np.ones((4, 1), bool), random_state=0)
    >>> corrupted[bad]
    array([[-1., -1.]])
    """

    def __init__(self, n_adversaries=1):
        self.n_adversaries = n_adversaries

    def _lie(self, rows, spread, workers, rng):
        return -rows


class TargetedShift(BaseAdversaries):
    """Lying workers raise one output column (a target class) by ``scale`` spreads.

    Parameters
    ----------
    n_adversaries : int, default=1
        A, lying workers per request.
    scale : float, default=1.0
        Shift in units of that column's spread: small, to stay unnoticed.
    target : int, default=0
        The output column (class) pushed up.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.execution import TargetedShift
    >>> results = np.arange(8.0).reshape(4, 1, 2)
    >>> corrupted, bad = TargetedShift(1, scale=1.0, target=1).corrupt(
    ...     results, np.ones((4, 1), bool), random_state=0)
    >>> (corrupted - results)[bad].round(3)  # +1 spread (std of 1, 3, 5, 7) on column 1
    array([[0.   , 2.236]])
    """

    def __init__(self, n_adversaries=1, *, scale=1.0, target=0):
        self.n_adversaries = n_adversaries
        self.scale = scale
        self.target = target

    def _lie(self, rows, spread, workers, rng):
        rows = rows.copy()
        rows[:, self.target] += self.scale * spread[self.target]
        return rows


class AdaptiveAdversaries(BaseAdversaries):
    """Colluding workers at *adjacent* coded points add the same targeted shift.

    Against a locator that compares each result with its neighbours, the
    lying workers take a block of consecutive coded points (worker n holds
    the n-th coded point, sorted) and shift them alike, so that inside the
    block every row agrees with its neighbours; only the block's edges stand
    out. This is the subtle adversary of the user guide.

    Parameters
    ----------
    n_adversaries : int, default=1
        A, the block length.
    scale : float, default=1.0
        Shift in units of the target column's spread.
    target : int, default=0
        The output column (class) pushed up.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.execution import AdaptiveAdversaries
    >>> results = np.zeros((8, 1, 2))
    >>> results[:, 0, 0] = np.arange(8)
    >>> corrupted, bad = AdaptiveAdversaries(3).corrupt(
    ...     results, np.ones((8, 1), bool), random_state=0)
    >>> np.flatnonzero(bad[:, 0])  # consecutive workers
    array([4, 5, 6])
    """

    def __init__(self, n_adversaries=1, *, scale=1.0, target=0):
        self.n_adversaries = n_adversaries
        self.scale = scale
        self.target = target

    def _draw_liars(self, n_workers, rng):
        start = rng.randint(n_workers - self.n_adversaries + 1)
        return np.arange(start, start + self.n_adversaries)

    def _lie(self, rows, spread, workers, rng):
        rows = rows.copy()
        rows[:, self.target] += self.scale * spread[self.target]
        return rows


def check_adversaries(adversaries, n_workers):
    """Validate ``adversaries``: None, or an adversary model valid for N workers.

    Parameters
    ----------
    adversaries : None or BaseAdversaries
    n_workers : int

    Returns
    -------
    adversaries : None or BaseAdversaries

    Examples
    --------
    >>> from sklearn_coded.execution import GrossErrors, check_adversaries
    >>> check_adversaries(GrossErrors(2), n_workers=10)
    GrossErrors(n_adversaries=2)
    """
    if adversaries is None:
        return None
    if not isinstance(adversaries, BaseAdversaries):
        raise TypeError(
            "adversaries must be None or an adversary model such as GrossErrors; got "
            f"{adversaries!r} of type {type(adversaries).__name__}."
        )
    adversaries.validate(n_workers)
    return adversaries
