"""What a coded estimator's layout certifies against liars, said at ``fit`` (docs/method.rst (8.4)).

Condition (a) of a certified decode (:mod:`sklearn_coded.coding._byzantine`)
depends on the code and the survivor set only, so ``fit`` computes from the
parameters alone how many liars every survivor set of the declared stragglers
can locate (:func:`~sklearn_coded.coding.certified_adversaries`), keeps it as
``certified_adversaries_``, warns (:class:`~sklearn_coded.coding.CertificationWarning`)
when ``n_adversaries`` is above it, and refuses when ``n_adversaries`` is above
it even with no straggler (every batch would be refused).
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone

from ..coding._byzantine import CertificationWarning, certified_adversaries
from ..execution._collect import check_placement

#: Schemes whose decoders certify with the code-span locator (condition (a)).
LOCATED_SCHEMES = ("spline", "berrut", "lagrange")

#: Largest n_coded, as a multiple of the estimator's, that the suggestion searches.
_SEARCH_FACTOR = 8


def declared_stragglers(stragglers, n_coded):
    """S: an int, a model's ``n_stragglers``, or ``ceil(p N)`` for a probability p."""
    if isinstance(stragglers, Integral) and not isinstance(stragglers, bool):
        return int(stragglers)
    if isinstance(stragglers, Real) and not isinstance(stragglers, bool):
        return math.ceil(float(stragglers) * n_coded)
    count = getattr(stragglers, "n_stragglers", None)
    if isinstance(count, Integral):
        return int(count)
    p = getattr(stragglers, "p", None)
    return math.ceil(float(p) * n_coded) if isinstance(p, Real) else 0


def _bound(estimator, n_coded, S, n_random=64):
    """certified_adversaries of the estimator's full-batch decoder at ``n_coded``, up to A."""
    est = estimator if n_coded is None else clone(estimator).set_params(n_coded=n_coded)
    plan = est._coding_plan()
    decoder = plan.coders()[1](plan.batch_size).fit(np.zeros((plan.n_coded, 1)))
    return certified_adversaries(decoder, S, n_random=n_random, max_adversaries=plan.n_adversaries)


def _smallest_n(estimator, N, S, A):
    """The smallest n_coded (doubling, then bisection) whose bound reaches A, or None."""
    if not isinstance(estimator.points, str):
        return None  # explicit points fix N

    def ok(n):
        try:
            return _bound(estimator, n, S, n_random=16) >= A
        except ValueError:
            return False

    low, high = N, 2 * N
    while not ok(high):
        low, high = high, 2 * high
        if high > _SEARCH_FACTOR * N:
            return None
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if not ok(mid) else (low, mid)
    return high


def fit_certified_bound(estimator, plan):
    """Set ``certified_adversaries_``; warn or refuse when ``n_adversaries`` exceeds it."""
    A = int(plan.n_adversaries)
    estimator.certified_adversaries_ = None
    if not A or plan.scheme not in LOCATED_SCHEMES:
        return
    N = plan.n_coded
    S = declared_stragglers(estimator.stragglers, N)
    bound = _bound(estimator, None, S)
    estimator.certified_adversaries_ = bound
    if bound >= A:
        return
    layout = (
        f"scheme={plan.scheme!r}, batch_size={plan.batch_size}, n_coded={N}, "
        f"n_private={plan.n_private}, points={estimator.points!r}"
    )
    n_min = _smallest_n(estimator, N, S, A)
    more = f"n_coded >= {n_min} certifies A={A} at stragglers={S}" if n_min else ""
    without = _bound(estimator, None, 0) if S else bound
    if without < A:
        raise ValueError(
            f"n_adversaries={A} is more than this layout can locate even with no "
            f"straggler: {layout} locate at most {without} liars (after removing any "
            f"{2 * A} results adjacent in coded point the rest no longer determine the "
            f"code), so every batch would be refused. "
            + (more + "." if more else "Lower n_adversaries or add workers.")
        )
    s_max = next(s for s in range(S - 1, -1, -1) if _bound(estimator, None, s) >= A)
    warnings.warn(
        f"n_adversaries={A} is above what this layout certifies with stragglers={S} "
        f"missing: {layout} with {S} results missing (for example adjacent in coded "
        f"point) locate at most {bound} liars (certified_adversaries_={bound}); batches "
        f"whose survivors cannot locate {A} are refused (on_uncertified). "
        + (f"{more}, or stragglers <= {s_max} at n_coded={N}." if more else "")
        + ("" if more else f"stragglers <= {s_max} certifies it at n_coded={N}."),
        CertificationWarning,
        stacklevel=4,
    )


def check_process_collusion(executor, n_coded, n_private):
    """Refuse a dask cluster whose worker processes each compute more than n_private coded rows.

    A request sends one task per worker thread, each with at most
    ``ceil(N / threads)`` coded rows of a batch (interleaved), so a process
    with t threads computes at most ``t ceil(N / threads)`` of them; where that
    is above ``n_private`` the request would be refused by ``run_workers``
    after its rows were charged to the leakage budget, so it is refused here
    first (:class:`~sklearn_coded.execution.CollusionError`). Threads and
    process pools of this machine are not checked.
    """
    from ..execution._run import _dask_client

    client = _dask_client(executor)
    if client is None or not n_private:
        return
    nthreads = client.nthreads()  # {address: threads}, a scheduler round trip
    per_task = -(-n_coded // max(sum(nthreads.values()), 1))
    held = {address: min(n_coded, t * per_task) for address, t in nthreads.items()}
    if held:
        check_placement(held, n_private)
