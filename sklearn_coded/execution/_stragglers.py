"""Straggler and fault models: which workers do not return (docs/method.rst sections 1 and 7).

A model answers two questions, both from one seeded random generator:

- in process (``executor=None``, a simulation): which of the N workers miss
  each of the B batches (:meth:`BaseStragglers.draw_missing`);
- on a real executor: how long each worker's task is made to wait before it
  starts, how many results per batch the master waits for, and until when
  (:meth:`BaseStragglers.draw_plan`). The tasks then really run and really
  straggle; the master keeps the first results and stops the rest.
"""

from abc import ABCMeta, abstractmethod
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state


class StragglerPlan(NamedTuple):
    """How a real executor runs one request (see :meth:`BaseStragglers.draw_plan`).

    Attributes
    ----------
    delays : ndarray of shape (n_workers,)
        Seconds each worker's task waits (checking its stop flag) before it
        computes. ``inf`` marks a worker that never returns: it is sent no task.
    n_wait : int
        The master stops collecting once every batch has ``n_wait`` finite rows.
    deadline : float or None
        Seconds after the tasks were sent; what has not arrived by then is missing.
    """

    delays: np.ndarray
    n_wait: int
    deadline: float | None


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)


class BaseStragglers(BaseEstimator, metaclass=ABCMeta):
    """Base class of the straggler models; subclass it to write your own.

    A subclass stores its parameters in ``__init__`` (scikit-learn style, so
    models clone and grid-search like estimators), implements
    :meth:`draw_missing` and :meth:`draw_plan`, and may override
    :meth:`validate`.
    """

    @abstractmethod
    def draw_missing(self, n_workers, n_batches, random_state=None):
        """Draw which workers miss each batch, for the in-process simulation.

        Parameters
        ----------
        n_workers : int
            N.
        n_batches : int
            B.
        random_state : int, RandomState instance or None, default=None
            Seeds the draw.

        Returns
        -------
        missing : ndarray of bool of shape (n_workers, n_batches)
            True where the worker's row of that batch does not return.
        """

    @abstractmethod
    def draw_plan(self, n_workers, random_state=None):
        """Draw one request's plan for a real executor.

        Parameters
        ----------
        n_workers : int
            N.
        random_state : int, RandomState instance or None, default=None
            Seeds the draw.

        Returns
        -------
        plan : StragglerPlan
        """

    def validate(self, n_workers, min_results=1):
        """Raise ValueError, naming ``stragglers`` and the model, if it is invalid for N.

        Parameters
        ----------
        n_workers : int
            N.
        min_results : int, default=1
            Fewest workers per batch needed to decode.
        """

    def _invalid(self, problem):
        return ValueError(f"stragglers={self!r} is invalid: {problem}")

    def _check_n_stragglers(self, n_workers, min_results):
        n_stragglers = self.n_stragglers
        if not _is_int(n_stragglers) or n_stragglers < 0:
            raise self._invalid(f"n_stragglers must be an int >= 0, got {n_stragglers!r}.")
        if n_workers - n_stragglers < min_results:
            raise self._invalid(
                f"n_stragglers={n_stragglers} leaves fewer than min_results={min_results} of "
                f"the {n_workers} workers; at most {n_workers - min_results} can straggle."
            )


class FixedStragglers(BaseStragglers):
    """Exactly ``n_stragglers`` workers do not return.

    Read more in the :ref:`User Guide <executors>`.

    In process, S workers drawn at random miss each batch (a fresh draw per
    batch). On a real executor the master waits for the first N - S workers of
    the request and stops the other S: the stragglers are the S slowest workers
    of that request, whoever they are.

    Parameters
    ----------
    n_stragglers : int, default=1
        S, with 0 <= S <= N - ``min_results``.

    See Also
    --------
    RandomStragglers : Each worker misses independently with probability p.
    LatencyStragglers : Workers with random latencies and a deadline.

    Examples
    --------
    >>> from sklearn_coded.execution import FixedStragglers
    >>> missing = FixedStragglers(2).draw_missing(6, 4, random_state=0)
    >>> missing.sum(axis=0)
    array([2, 2, 2, 2])
    """

    def __init__(self, n_stragglers=1):
        self.n_stragglers = n_stragglers

    def draw_missing(self, n_workers, n_batches, random_state=None):
        rng = check_random_state(random_state)
        # The S smallest of N i.i.d. uniform keys are a uniformly random S-subset
        # (found by a partial sort: the keys at or below each column's S-th smallest).
        keys = rng.random_sample((n_workers, n_batches))
        if not 0 < self.n_stragglers < n_workers:  # none, or all of them
            return np.full(keys.shape, self.n_stragglers >= n_workers)
        return keys <= np.partition(keys, self.n_stragglers - 1, axis=0)[self.n_stragglers - 1]

    def draw_plan(self, n_workers, random_state=None):
        return StragglerPlan(np.zeros(n_workers), n_workers - self.n_stragglers, None)

    def validate(self, n_workers, min_results=1):
        self._check_n_stragglers(n_workers, min_results)


class RandomStragglers(BaseStragglers):
    """Each worker independently does not return with probability ``p``.

    Read more in the :ref:`User Guide <executors>`.

    In process the draw is per worker and batch. On a real executor it is per
    worker and request: a worker drawn as a straggler is sent no task (it is
    dead for that request) and the master waits for all the others.

    Parameters
    ----------
    p : float, default=0.1
        Probability in [0, 1) that a worker misses.

    Examples
    --------
    >>> from sklearn_coded.execution import RandomStragglers
    >>> missing = RandomStragglers(0.25).draw_missing(100, 1000, random_state=0)
    >>> round(float(missing.mean()), 2)
    0.25
    """

    def __init__(self, p=0.1):
        self.p = p

    def draw_missing(self, n_workers, n_batches, random_state=None):
        rng = check_random_state(random_state)
        return rng.random_sample((n_workers, n_batches)) < self.p

    def draw_plan(self, n_workers, random_state=None):
        missing = self.draw_missing(n_workers, 1, random_state)[:, 0]
        return StragglerPlan(np.where(missing, np.inf, 0.0), int(n_workers - missing.sum()), None)

    def validate(self, n_workers, min_results=1):
        if not _is_real(self.p) or not 0 <= self.p < 1:
            raise self._invalid(f"p must be a probability in [0, 1), got {self.p!r}.")


class LatencyStragglers(BaseStragglers):
    """Workers with random latencies, a slow tail and a deadline.

    Read more in the :ref:`User Guide <executors>`.

    Each worker's latency is a shifted exponential with, with probability
    ``slow_prob``, an exponential slow-down on top:

        T = shift + Exp(scale) + Bernoulli(slow_prob) * Exp(slow_scale)

    (``Exp(m)`` has mean m seconds). A worker does not return if ``T`` exceeds
    ``deadline``, or if it is not among the first N - ``n_stragglers`` workers.
    In process the latencies are drawn per worker and batch and nothing sleeps.
    On a real executor they are drawn per worker and request, and each task
    sleeps ``T`` seconds (checking its stop flag) before it computes; the master
    stops the rest at the deadline or once N - ``n_stragglers`` have arrived.

    Parameters
    ----------
    shift : float, default=0.0
        Smallest latency, in seconds.
    scale : float, default=0.01
        Mean of the exponential part, in seconds.
    slow_prob : float, default=0.0
        Probability in [0, 1] that a worker is slow.
    slow_scale : float, default=1.0
        Mean extra latency of a slow worker, in seconds.
    n_stragglers : int or None, default=None
        S: wait for the first N - S workers only. None waits for every worker
        (up to the deadline).
    deadline : float or None, default=None
        Seconds; workers later than this do not return. None: no deadline.

    Examples
    --------
    >>> from sklearn_coded.execution import LatencyStragglers
    >>> model = LatencyStragglers(shift=0.01, scale=0.01, deadline=0.02)
    >>> missing = model.draw_missing(1000, 1, random_state=0)
    >>> round(float(missing.mean()), 1)  # P(Exp(0.01) > 0.01) = exp(-1)
    0.4
    """

    def __init__(
        self,
        shift=0.0,
        scale=0.01,
        *,
        slow_prob=0.0,
        slow_scale=1.0,
        n_stragglers=None,
        deadline=None,
    ):
        self.shift = shift
        self.scale = scale
        self.slow_prob = slow_prob
        self.slow_scale = slow_scale
        self.n_stragglers = n_stragglers
        self.deadline = deadline

    def draw_latencies(self, size, random_state=None):
        """Draw latencies in seconds.

        Parameters
        ----------
        size : int or tuple of int
            Shape of the draw.
        random_state : int, RandomState instance or None, default=None
            Seeds the draw.

        Returns
        -------
        latencies : ndarray of shape ``size``
        """
        rng = check_random_state(random_state)
        base = self.shift + rng.exponential(self.scale, size)
        slow = rng.random_sample(size) < self.slow_prob
        return base + slow * rng.exponential(self.slow_scale, size)

    def draw_missing(self, n_workers, n_batches, random_state=None):
        latencies = self.draw_latencies((n_workers, n_batches), random_state)
        missing = np.zeros((n_workers, n_batches), dtype=bool)
        if self.deadline is not None:
            missing |= latencies > self.deadline
        if self.n_stragglers is not None:
            # Arrival rank of each worker within its batch; the last S miss.
            ranks = latencies.argsort(axis=0, kind="stable").argsort(axis=0)
            missing |= ranks >= n_workers - self.n_stragglers
        return missing

    def draw_plan(self, n_workers, random_state=None):
        n_wait = n_workers - (self.n_stragglers or 0)
        return StragglerPlan(self.draw_latencies(n_workers, random_state), n_wait, self.deadline)

    def validate(self, n_workers, min_results=1):
        for name in ("shift", "scale", "slow_scale"):
            value = getattr(self, name)
            if not _is_real(value) or value < 0:
                raise self._invalid(f"{name} must be a finite float >= 0, got {value!r}.")
        if not _is_real(self.slow_prob) or not 0 <= self.slow_prob <= 1:
            raise self._invalid(f"slow_prob must be in [0, 1], got {self.slow_prob!r}.")
        if self.deadline is not None and (not _is_real(self.deadline) or self.deadline <= 0):
            raise self._invalid(f"deadline must be None or a float > 0, got {self.deadline!r}.")
        if self.n_stragglers is not None:
            self._check_n_stragglers(n_workers, min_results)


def check_stragglers(stragglers, n_workers, *, min_results=1):
    """Validate ``stragglers`` and return a straggler model.

    Parameters
    ----------
    stragglers : None, int, float or BaseStragglers
        None: no stragglers (``FixedStragglers(0)``); an int S:
        ``FixedStragglers(S)``; a float p in [0, 1): ``RandomStragglers(p)``;
        or a model object, returned as it is once validated.
    n_workers : int
        N, the number of workers.
    min_results : int, default=1
        Fewest workers per batch needed to decode: a fixed number of stragglers
        must leave at least this many.

    Returns
    -------
    model : BaseStragglers

    Raises
    ------
    ValueError
        If the model is invalid for N workers (the message names ``stragglers``).
    TypeError
        If ``stragglers`` is of any other type.

    Examples
    --------
    >>> from sklearn_coded.execution import check_stragglers
    >>> check_stragglers(2, n_workers=6)
    FixedStragglers(n_stragglers=2)
    >>> check_stragglers(0.1, n_workers=6)
    RandomStragglers()
    """
    if stragglers is None:
        model = FixedStragglers(0)
    elif _is_int(stragglers):
        model = FixedStragglers(stragglers)
    elif isinstance(stragglers, Real) and not isinstance(stragglers, bool):
        model = RandomStragglers(stragglers)
    elif isinstance(stragglers, BaseStragglers):
        model = stragglers
    else:
        raise TypeError(
            "stragglers must be None, an int (number of stragglers), a float (straggler "
            f"probability) or a straggler model such as FixedStragglers; got {stragglers!r} "
            f"of type {type(stragglers).__name__}."
        )
    model.validate(n_workers, min_results)
    return model
