"""Adversary models: workers that return wrong results on purpose (docs/method.rst 7).

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
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state


class BaseAdversaries(BaseEstimator):
    """Base class of the adversary models.

    Subclass it and implement ``_lie(rows, spread, workers, rng)`` (the lies of
    liars drawn once per request by ``_draw_liars``), or override :meth:`corrupt`
    (liars and lies chosen per batch, as :class:`ChoosingAdversaries` does).
    Parameters are stored in ``__init__``; every model has ``n_adversaries``.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.corrupt is BaseAdversaries.corrupt and not hasattr(cls, "_lie"):
            raise TypeError(
                f"{cls.__name__} must implement _lie(rows, spread, workers, rng) or "
                "override corrupt(results, returned, random_state)."
            )

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

    Read more in the :ref:`User Guide <security>`.

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


#: Where :class:`ChoosingAdversaries` put their liars.
POSITIONS = ("stragglers", "ends", "weakest", "random")
#: How :class:`ChoosingAdversaries` lie.
LIES = ("weakest", "frame", "smooth", "shift", "gross")


class ChoosingAdversaries(BaseAdversaries):
    """Liars who choose where and how to lie, knowing the public code (docs/method.rst 8).

    Read more in the :ref:`User Guide <security>`.

    The code's layout is public (scheme, K, N, points, ``n_private``): these
    liars use it. Worker n holds coded point n of the layout. They are chosen
    per batch among the workers whose result arrived, as an adversary who also
    sees the stragglers (an upper bound on what colluding workers can do):

    - ``position``: ``"stragglers"``, the A returned workers nearest (in coded
      point order) to the batch's missing ones, which widens the gap the
      stragglers leave (falls back to ``"weakest"`` when none is missing);
      ``"ends"``, the A returned workers of smallest coded point (the end of the
      interval, where the spline code extrapolates); ``"weakest"``, the block of
      A adjacent returned workers whose rows the code's span covers best (the
      largest ``lambda_max(H_WW)``, H the projector on the code's column space:
      a lie there shows least in the syndrome); ``"random"``.
    - ``lie``: ``"weakest"``, along the top eigenvector of ``H_WW`` on the
      liars' rows (the direction the code checks least), the same for every
      output column; ``"frame"``, the liars agree with a *different codeword*,
      the old one plus the code's weakest direction on the block of 2A rows
      made of the liars and their A honest neighbours, so that those honest
      rows look like the liars; ``"smooth"``, a smooth bump over the liars'
      coded points (colluding workers whose lies vary smoothly, like a real
      f); ``"shift"``, column ``target`` raised; ``"gross"``, Gaussian.

    Sizes are ``scale`` times each column's spread (the honest results'
    standard deviation over workers), as for the other models.

    Parameters
    ----------
    n_adversaries : int, default=1
        A, liars per batch; more than the decoder's ``n_adversaries`` models
        more liars than declared.
    code : BaseDecoder
        An unfitted decoder with the public layout, e.g.
        ``SplineDecoder(16, points="interior")``; its ``n_samples`` is K.
    position : {"stragglers", "ends", "weakest", "random"}, default="stragglers"
    lie : {"weakest", "frame", "smooth", "shift", "gross"}, default="weakest"
    scale : float, default=10.0
    target : int, default=0
        The column of ``lie="shift"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded import SplineDecoder
    >>> from sklearn_coded.execution import ChoosingAdversaries
    >>> results = np.random.default_rng(0).normal(size=(40, 2, 3))
    >>> returned = np.ones((40, 2), dtype=bool)
    >>> returned[[10, 11], 0] = False  # two stragglers in batch 0
    >>> liars = ChoosingAdversaries(2, code=SplineDecoder(8), position="stragglers")
    >>> corrupted, bad = liars.corrupt(results, returned, random_state=0)
    >>> np.flatnonzero(bad[:, 0])  # next to the stragglers
    array([ 9, 12])
    """

    def __init__(
        self,
        n_adversaries=1,
        *,
        code=None,
        position="stragglers",
        lie="weakest",
        scale=10.0,
        target=0,
    ):
        self.n_adversaries = n_adversaries
        self.code = code
        self.position = position
        self.lie = lie
        self.scale = scale
        self.target = target

    def validate(self, n_workers):
        """Raise ValueError, naming the model, if its parameters are invalid for N workers.

        Parameters
        ----------
        n_workers : int
            N.
        """
        super().validate(n_workers)
        if self.position not in POSITIONS or self.lie not in LIES:
            raise ValueError(
                f"adversaries={self!r} is invalid: position must be one of {POSITIONS} and "
                f"lie one of {LIES}; got position={self.position!r}, lie={self.lie!r}."
            )
        if not hasattr(self.code, "coded_points_") and not hasattr(self.code, "n_samples"):
            raise ValueError(
                f"adversaries={self!r} is invalid: code must be a decoder with the public "
                f"layout (e.g. SplineDecoder(16)); got code={self.code!r}."
            )

    def corrupt(self, results, returned, random_state=None):
        """Replace the chosen liars' rows of every batch.

        Parameters
        ----------
        results : ndarray of shape (n_workers, n_batches, n_outputs)
        returned : ndarray of bool of shape (n_workers, n_batches)
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        corrupted : ndarray of shape (n_workers, n_batches, n_outputs)
        bad : ndarray of bool of shape (n_workers, n_batches)
        """
        n_workers = results.shape[0]
        self.validate(n_workers)
        rng = check_random_state(random_state)
        results = np.array(results, dtype=np.result_type(results.dtype, np.float32))
        bad = np.zeros(returned.shape, dtype=bool)
        if self.n_adversaries == 0:
            return results, bad
        points, U = self._public_code(n_workers, results.shape[2])
        rank = np.argsort(points, kind="stable")  # workers in coded point order
        for b in range(results.shape[1]):
            ok = returned[rank, b]
            if ok.sum() <= self.n_adversaries:
                continue
            chosen = self._positions(ok, U[rank], rng)  # ranks among all workers
            rows = rank[chosen]
            spread = np.nan_to_num(np.std(results[returned[:, b], b], axis=0))
            results[rows, b] += self._delta(chosen, ok, U[rank], points[rank], spread, rng)
            bad[rows, b] = True
        return results, bad

    def _public_code(self, n_workers, n_outputs):
        from ..coding._byzantine import code_basis  # layer 2, used for its public layout
        from ..operators._robust import _column_space

        decoder = clone(self.code).fit(np.zeros((n_workers, max(n_outputs, 1))))
        U = _column_space(code_basis(decoder, np.arange(n_workers)))[0]
        return decoder.coded_points_, U

    def _positions(self, ok, U, rng):
        """Ranks (coded point order) of the A liars among the returned ones."""
        A = self.n_adversaries
        live = np.flatnonzero(ok)
        if self.position == "random":
            return np.sort(rng.choice(live, A, replace=False))
        if self.position == "ends":
            return live[:A]
        if self.position == "stragglers" and not ok.all():
            missing = np.flatnonzero(~ok)
            distance = np.abs(live[:, None] - missing[None, :]).min(axis=1)
            return np.sort(live[np.argsort(distance, kind="stable")[:A]])
        # "weakest": the block of A adjacent returned workers the span covers best
        blocks = np.lib.stride_tricks.sliding_window_view(live, A)
        top = [np.linalg.eigvalsh(U[w] @ U[w].T)[-1] for w in blocks]
        return blocks[int(np.argmax(top))]

    def _delta(self, chosen, ok, U, points, spread, rng):
        """The lies added to the liars' rows: (A, n_outputs)."""
        size = self.scale * spread
        if self.lie == "gross":
            return size * rng.standard_normal((chosen.size, spread.size))
        if self.lie == "shift":
            delta = np.zeros((chosen.size, spread.size))
            delta[:, self.target] = size[self.target]
            return delta
        return self._profile(chosen, ok, U, points, rng)[:, None] * size

    def _profile(self, chosen, ok, U, points, rng):
        """Per liar a multiplier of the spread, RMS 1 over the liars (sign random)."""
        A = chosen.size
        sign = rng.choice([-1.0, 1.0])
        if self.lie == "weakest":
            v = np.linalg.eigh(U[chosen] @ U[chosen].T)[1][:, -1]
        elif self.lie == "frame":
            live = np.flatnonzero(ok)
            rest = live[~np.isin(live, chosen)]
            centre = chosen.mean()
            neighbours = rest[np.argsort(np.abs(rest - centre), kind="stable")[:A]]
            block = np.sort(np.concatenate([chosen, neighbours]))
            u = np.linalg.eigh(U[block] @ U[block].T)[1][:, -1]
            codeword = U @ (U[block].T @ u)  # the codeword nearest the block's direction
            v = codeword[chosen] / np.sqrt(np.mean(codeword[block] ** 2))
            return sign * v
        else:  # "smooth"
            t = points[chosen]
            width = max(t.max() - t.min(), 1e-12)
            v = np.cos(np.pi * (t - t.mean()) / (2 * width))  # one bump over the block
        return sign * v / np.sqrt(np.mean(v**2))
