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
    ``slow_prob``, a slow-down on top:

        T = shift + Exp(scale) + Bernoulli(slow_prob) * Slow(slow_scale)

    (``Exp(m)`` has mean m seconds). ``Slow`` is ``Exp(slow_scale)`` for
    ``tail="exponential"`` (a light tail) or, for ``tail="pareto"``, a Lomax
    (Pareto II) variable of tail index a = ``tail_index`` and the same mean,
    ``P(Slow > t) = (1 + t / (slow_scale (a - 1)))^-a``: a heavy tail (its
    variance is infinite for a <= 2), where a few workers are very late. A
    worker does not return if ``T`` exceeds ``deadline``, or if it is not
    among the first N - ``n_stragglers`` workers.
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
    tail : {"exponential", "pareto"}, default="exponential"
        The distribution of a slow worker's extra latency (see above).
    tail_index : float, default=1.5
        a > 1, the Pareto tail's index (``tail="pareto"`` only); smaller is heavier.

    Examples
    --------
    >>> from sklearn_coded.execution import LatencyStragglers
    >>> model = LatencyStragglers(shift=0.01, scale=0.01, deadline=0.02)
    >>> missing = model.draw_missing(1000, 1, random_state=0)
    >>> round(float(missing.mean()), 1)  # P(Exp(0.01) > 0.01) = exp(-1)
    0.4
    >>> heavy = LatencyStragglers(scale=0.001, slow_prob=1.0, slow_scale=0.01, tail="pareto")
    >>> late = heavy.draw_latencies(100000, random_state=0)
    >>> round(float((late > 0.1).mean()), 2)  # (1 + 0.1 / 0.005) ** -1.5, Exp's: 5e-5
    0.01
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
        tail="exponential",
        tail_index=1.5,
    ):
        self.shift = shift
        self.scale = scale
        self.slow_prob = slow_prob
        self.slow_scale = slow_scale
        self.n_stragglers = n_stragglers
        self.deadline = deadline
        self.tail = tail
        self.tail_index = tail_index

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
        if self.tail == "pareto":  # Lomax by inversion, mean slow_scale
            a = float(self.tail_index)
            u = 1.0 - rng.random_sample(size)  # in (0, 1]
            return base + slow * self.slow_scale * (a - 1) * (u ** (-1.0 / a) - 1.0)
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
        if self.tail not in ("exponential", "pareto"):
            raise self._invalid(f'tail must be "exponential" or "pareto", got {self.tail!r}.')
        if self.tail == "pareto" and (not _is_real(self.tail_index) or self.tail_index <= 1):
            raise self._invalid(f"tail_index must be a float > 1, got {self.tail_index!r}.")


def _worker_of_coded(n_workers, n_batches, layout, rng):
    """(n_workers, n_batches) physical worker of each coded row, per batch.

    ``"contiguous"``: coded row i on physical worker i in every batch;
    ``"random"``: a fresh uniformly random assignment per batch (request), as
    :func:`~sklearn_coded.execution._run.assign_rows` deals rows on real executors.
    """
    if layout == "contiguous":
        return np.repeat(np.arange(n_workers)[:, None], n_batches, axis=1)
    return rng.random_sample((n_workers, n_batches)).argsort(axis=0)


class GroupStragglers(BaseStragglers):
    """Workers in groups of ``group_size`` that fail together (hosts, racks).

    The N physical workers form ``ceil(N / group_size)`` groups of consecutive
    workers (the last one possibly smaller); each group is down with
    probability ``p``, independently, and then none of its workers returns.
    The expected fraction of missing workers is ``p``, as for
    :class:`RandomStragglers`, but the losses come in blocks.

    Which coded rows a group holds depends on ``layout``: ``"random"`` deals the
    coded rows to the physical workers afresh for every batch (in process) or
    request (on a real executor), as the estimators do on real executors
    (:func:`~sklearn_coded.execution._run.assign_rows`), so that a down rack
    removes coded points spread over the code; ``"contiguous"`` puts coded row
    i on worker i, so that a down rack removes a contiguous block of coded
    points (the smoothing-spline and Berrut codes' worst case, while round-robin
    replication loses no row when ``group_size <= K``).

    Parameters
    ----------
    group_size : int, default=4
        g >= 1, workers per group.
    p : float, default=0.1
        Probability in [0, 1) that a group is down.
    layout : {"random", "contiguous"}, default="random"
        How coded rows sit on the physical workers (see above).

    See Also
    --------
    RandomStragglers : Each worker misses independently (``group_size=1``).
    TargetedStragglers : The S workers that hurt a given code most.

    Examples
    --------
    >>> from sklearn_coded.execution import GroupStragglers
    >>> model = GroupStragglers(group_size=4, p=0.25, layout="contiguous")
    >>> missing = model.draw_missing(8, 10000, random_state=0)
    >>> bool((missing[:4] == missing[0]).all())  # a group fails as one
    True
    >>> bool(abs(missing.mean() - 0.25) < 0.01)  # p of the workers, on average
    True
    """

    def __init__(self, group_size=4, p=0.1, *, layout="random"):
        self.group_size = group_size
        self.p = p
        self.layout = layout

    def _down(self, n_workers, n_batches, rng):
        g = int(self.group_size)
        groups = rng.random_sample((-(-n_workers // g), n_batches)) < self.p
        return np.repeat(groups, g, axis=0)[:n_workers]  # physical workers down

    def draw_missing(self, n_workers, n_batches, random_state=None):
        rng = check_random_state(random_state)
        down = self._down(n_workers, n_batches, rng)
        where = _worker_of_coded(n_workers, n_batches, self.layout, rng)
        return np.take_along_axis(down, where, axis=0)

    def draw_plan(self, n_workers, random_state=None):
        missing = self.draw_missing(n_workers, 1, random_state)[:, 0]
        return StragglerPlan(np.where(missing, np.inf, 0.0), int(n_workers - missing.sum()), None)

    def validate(self, n_workers, min_results=1):
        if not _is_int(self.group_size) or self.group_size < 1:
            raise self._invalid(f"group_size must be an int >= 1, got {self.group_size!r}.")
        if not _is_real(self.p) or not 0 <= self.p < 1:
            raise self._invalid(f"p must be a probability in [0, 1), got {self.p!r}.")
        if self.layout not in ("random", "contiguous"):
            raise self._invalid(f'layout must be "random" or "contiguous", got {self.layout!r}.')


class TargetedStragglers(BaseStragglers):
    """The ``n_stragglers`` coded workers that hurt a given code most.

    An adversary who knows the code's layout (which coded point, or which
    row's replica, each worker holds) and takes out S of the N workers of
    every batch:

    - ``target="block"``: S adjacent coded points ``start .. start + S - 1``,
      the largest gap a smoothing-spline or Berrut decoder can be left with
      (``start=None``: a uniformly random start per batch);
    - ``target="replicas"``: every replica of as many rows as S allows (those
      with the fewest replicas first, ties at random; the rest of S at random)
      for round-robin replication of batches of ``n_samples`` rows
      (:func:`~sklearn_coded.coding.replica_rows`): each such row is lost.

    It is the worst case of a code whose coded-row-to-worker assignment is
    known. On a real executor with one task per physical worker the estimators
    deal the coded rows to the workers from a secret random source
    (:func:`~sklearn_coded.execution._run.assign_rows`), which this adversary
    cannot see: there it hits the tasks by index, i.e. random coded rows.

    Parameters
    ----------
    n_stragglers : int, default=1
        S, with 0 <= S <= N - ``min_results``.
    target : {"block", "replicas"}, default="block"
        What to take out (see above).
    n_samples : int or None, default=None
        K, the rows of a batch; needed for ``target="replicas"``.
    start : int or None, default=None
        First coded worker of the block (``target="block"``); None draws it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.execution import TargetedStragglers
    >>> TargetedStragglers(3, start=2).draw_missing(8, 1)[:, 0].nonzero()[0]
    array([2, 3, 4])
    >>> model = TargetedStragglers(4, target="replicas", n_samples=4)
    >>> rows = model.draw_missing(8, 1, random_state=0)[:, 0].nonzero()[0] % 4
    >>> np.bincount(rows, minlength=4).tolist().count(2)  # both replicas of two rows
    2
    """

    def __init__(self, n_stragglers=1, *, target="block", n_samples=None, start=None):
        self.n_stragglers = n_stragglers
        self.target = target
        self.n_samples = n_samples
        self.start = start

    def draw_missing(self, n_workers, n_batches, random_state=None):
        rng = check_random_state(random_state)
        S = int(self.n_stragglers)
        missing = np.zeros((n_workers, n_batches), dtype=bool)
        for b in range(n_batches):
            if self.target == "block":
                first = rng.randint(n_workers - S + 1) if self.start is None else self.start
                missing[first : first + S, b] = True
            else:
                missing[self._replicas(n_workers, S, rng), b] = True
        return missing

    def _replicas(self, n_workers, S, rng):
        """Workers holding every replica of the rows with fewest replicas, S in all."""
        K = int(self.n_samples)
        rows = np.arange(n_workers) % K  # round-robin, as replica_rows
        counts = np.bincount(rows, minlength=K)
        order = np.lexsort((rng.random_sample(K), counts))  # fewest replicas first
        chosen, left = [], S
        for k in order:
            if counts[k] > left:
                break
            chosen.extend(np.flatnonzero(rows == k))
            left -= counts[k]
        rest = np.setdiff1d(np.arange(n_workers), chosen)
        chosen.extend(rng.permutation(rest)[:left])
        return np.asarray(chosen, dtype=np.intp)

    def draw_plan(self, n_workers, random_state=None):
        missing = self.draw_missing(n_workers, 1, random_state)[:, 0]
        return StragglerPlan(np.where(missing, np.inf, 0.0), int(n_workers - missing.sum()), None)

    def validate(self, n_workers, min_results=1):
        self._check_n_stragglers(n_workers, min_results)
        if self.target not in ("block", "replicas"):
            raise self._invalid(f'target must be "block" or "replicas", got {self.target!r}.')
        if self.target == "replicas" and (not _is_int(self.n_samples) or self.n_samples < 1):
            raise self._invalid(
                f'target="replicas" needs n_samples=K, the rows of a batch, an int >= 1; '
                f"got n_samples={self.n_samples!r}."
            )
        if self.start is not None and not (
            _is_int(self.start) and 0 <= self.start <= n_workers - self.n_stragglers
        ):
            raise self._invalid(
                f"start must be None or an int in [0, N - S = {n_workers - self.n_stragglers}]"
                f", got {self.start!r}."
            )


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
