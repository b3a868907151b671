"""Locating lying workers of an exact real-field code (docs/method.rst (9.6), (9.8)).

Honest results ``Y_F`` of the survivors F lie in the column space of the code's
system ``M_F`` (:meth:`~._exact.ExactCode.system`). Two locators:

- :func:`locate_liars`: the exact syndrome locator of (9.6), trying every set of
  at most A workers (exponential in A);
- :func:`l1_locate_liars`: l1 decoding by linear programming (9.8), polynomial
  time: ``min_c ||Y - M_F c||_1`` column by column (Candes and Tao's decoding by
  linear programming over the reals). Its answer is checked, not trusted: it is
  returned only if at most A workers carry the residual and the others are
  consistent with the code to rounding, which by the distance argument of (9.6)
  makes it *the* explanation with at most A liars when ``|F| >= threshold + 2A``.
  It finds that explanation whenever the null-space property of order A holds,
  which :func:`l1_recovery_bound` certifies from the code alone.
"""

import functools
import itertools
import math

import numpy as np
from scipy.optimize import linprog

from ._exact import _check_int, _rows


def locate_liars(code, workers, results, n_adversaries, *, rtol=None):
    """Locate up to A lying workers among the survivors exactly, by their syndrome.

    The locator of docs/method.rst (9.6).

    Honest results Y_F lie in the column space of the code's system M_F; with
    H the left null space of M_F, the syndrome H Y_F = H E depends on the lies E
    alone. The liars are the set R of at most A workers whose columns of H span
    the syndrome. It is unique when ``|F| >= threshold + 2A``: two such sets would
    leave an error pattern on at most 2A workers in the column space, that is a
    codeword vanishing on threshold workers, which is zero.

    Parameters
    ----------
    code : ExactCode
    workers : array-like of int
        The survivors F, sorted.
    results : ndarray of shape (len(workers) * share, n_outputs)
        Their results.
    n_adversaries : int
        A.
    rtol : float, optional
        A syndrome (or a candidate's residual) below ``rtol * ||Y_F||`` is
        rounding. Default: ``100 * eps * cond(M_F) * sqrt(rows)`` in the results'
        dtype. Lies smaller than that are not located; they move the decoded
        rows by at most ``||D_F|| * rtol * ||Y_F||``.

    Returns
    -------
    liars : ndarray of bool of shape (len(workers),)

    Raises
    ------
    ValueError
        If ``|F| < threshold + 2A`` (the bound), or no set of A workers explains the
        syndrome (more liars than declared): the batch cannot be certified.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import exact_code, locate_liars
    >>> code = exact_code("chebyshev", 3, 7)
    >>> Y = code.encoder @ np.arange(6.0).reshape(3, 2)
    >>> Y[4] += 0.5  # worker 4 lies
    >>> np.flatnonzero(locate_liars(code, np.arange(7), Y, 1))
    array([4])
    """
    workers = np.asarray(workers, dtype=np.intp)
    A = _check_int("n_adversaries", n_adversaries, 0)
    liars = np.zeros(workers.size, dtype=bool)
    if A == 0:
        return liars
    _check_bound(code, workers, A)
    H, syndrome, norm, rtol = _syndrome(code, workers, results, rtol)
    gram = syndrome @ syndrome.T  # method: residuals from the small Gram matrix
    total = np.trace(gram)
    if math.sqrt(max(total, 0.0)) <= rtol * norm:
        return liars  # consistent with the code: nobody lied detectably
    share = code.share
    # Per size, rank the candidate sets by their energy off span(H[:, R]) from the
    # small Gram matrix (cheap, but it loses digits by cancellation when lies are
    # large), then check the best one directly on the syndrome. The smallest set
    # that explains it is the liars' (a larger one adds honest workers: any
    # superset of the liars explains the syndrome too).
    for size in range(1, A + 1):
        best, best_energy = None, np.inf
        for R in itertools.combinations(range(workers.size), size):
            Q, _ = np.linalg.qr(H[:, _rows(R, share)])
            energy = total - np.trace(Q.T @ gram @ Q)
            if energy < best_energy:
                best, best_energy = R, energy
        Q = np.linalg.qr(H[:, _rows(best, share)], mode="complete")[0]
        off = Q[:, len(best) * share :].T @ syndrome  # the syndrome off span(H[:, best])
        if np.linalg.norm(off) <= rtol * norm:
            liars[list(best)] = True
            return liars
    raise ValueError(_beyond(workers.size, A))


def _check_bound(code, workers, A):
    needed = code.threshold + 2 * A
    if workers.size < needed:
        raise ValueError(
            f"n_adversaries={A} needs at least threshold + 2A = {needed} results to locate "
            f"the liars exactly; {workers.size} workers returned."
        )


def _beyond(n_workers, A):
    return (
        f"The results of {n_workers} workers are inconsistent with the code beyond "
        f"any {A} liars (n_adversaries={A}): more workers lied than declared, or the "
        "precision is lost; the batch cannot be decoded with certainty."
    )


def _syndrome(code, workers, results, rtol):
    """Left null space H of M_F, the syndrome ``H Y``, ``||Y||`` and the rounding level."""
    M = code.system(workers)[0]
    U, s, _ = np.linalg.svd(M, full_matrices=True)
    rank = int((s > s[0] * 1e-13).sum())
    H = U[:, rank:].T  # left null space: H @ M = 0
    Y = np.asarray(results, dtype=np.float64)
    Y = Y.reshape(Y.shape[0], -1)
    if rtol is None:
        eps = np.finfo(np.asarray(results).dtype).eps
        rtol = 100 * eps * (s[0] / s[rank - 1]) * math.sqrt(M.shape[0])
    return H, H @ Y, np.linalg.norm(Y), rtol


def l1_locate_liars(code, workers, results, n_adversaries, *, rtol=None, combine=False):
    """Locate up to A lying workers by l1 decoding (a linear program), with a check.

    docs/method.rst (9.8). For each output column y, ``c = argmin ||y - M_F c||_1``
    (``scipy.optimize.linprog``, HiGHS); a worker is a liar if any of its rows'
    residuals exceeds the rounding level in any column. The answer is returned
    only when it names at most A workers and the other workers' results are
    consistent with the code (their syndrome is rounding): then it is the
    unique explanation with at most A liars (``|F| >= threshold + 2A``, the
    distance argument of (9.6)), and decoding without them equals the decoder
    told the liars. Otherwise the batch is refused: more liars than declared,
    or (beyond :func:`l1_recovery_bound`) l1 decoding missed the sparse answer.
    Never a wrong location without an error.

    Parameters
    ----------
    code : ExactCode
    workers : array-like of int
        The survivors F, sorted.
    results : ndarray of shape (len(workers) * share, n_outputs)
    n_adversaries : int
        A.
    rtol : float, optional
        Rounding level relative to ``||Y_F||`` (default as :func:`locate_liars`).
    combine : bool, default=False
        Solve one linear program, on a random combination ``Y g`` of the output
        columns, instead of one per column: ``Y g = M_F (C g) + E g`` is again a
        codeword plus lies on the liars' rows only, so (9.8) applies to it. g is
        drawn from the operating system's secret source, so a liar cannot make
        its lie vanish in it; a lie that did would be left among the kept results
        and refused by the check on every column, never decoded.

    Returns
    -------
    liars : ndarray of bool of shape (len(workers),)

    Raises
    ------
    ValueError
        If ``|F| < threshold + 2A``, or no explanation with at most A liars was found.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import exact_code, l1_locate_liars
    >>> code = exact_code("chebyshev", 3, 9)
    >>> Y = code.encoder @ np.arange(6.0).reshape(3, 2)
    >>> Y[[2, 6]] += [[0.5, -3.0], [40.0, 1.0]]  # workers 2 and 6 lie
    >>> np.flatnonzero(l1_locate_liars(code, np.arange(9), Y, 2))
    array([2, 6])
    """
    workers = np.asarray(workers, dtype=np.intp)
    A = _check_int("n_adversaries", n_adversaries, 0)
    liars = np.zeros(workers.size, dtype=bool)
    if A == 0:
        return liars
    _check_bound(code, workers, A)
    syndrome, norm, rtol = _syndrome(code, workers, results, rtol)[1:]
    if np.linalg.norm(syndrome) <= rtol * norm:
        return liars
    M = code.system(workers)[0]
    Y = np.asarray(results, dtype=np.float64).reshape(M.shape[0], -1)
    if combine and Y.shape[1] > 1:  # one program: Y g keeps the lies' support
        from ._secret import private_generator

        g = private_generator().standard_normal(Y.shape[1])
        columns = (Y @ (g / np.linalg.norm(g)))[None]
    else:
        columns = Y.T
    residual = np.column_stack([_l1_residual(M, y) for y in columns])
    per_worker = np.abs(residual).reshape(workers.size, -1).max(axis=1)
    # the linear program's answer is exact only to its solver's tolerance: it ranks
    # the workers, and the check on the kept workers' syndrome (exact) decides
    top = np.argsort(-per_worker, kind="stable")[:A]
    liars[top[per_worker[top] > rtol * norm]] = True
    kept = np.flatnonzero(~liars)
    coef = _kept_fit(code, workers[kept], Y, kept)
    if np.linalg.norm(coef[1]) > rtol * norm:
        raise ValueError(_beyond(workers.size, A))
    # a candidate that agrees with the kept workers' codeword (the true one, by the
    # distance argument of (9.6)) to rounding did not lie: the program's ranking
    # names A workers even when fewer lied
    M = code.system(workers)[0]
    rows = _rows(np.arange(workers.size), code.share).reshape(workers.size, code.share)
    for w in np.flatnonzero(liars):
        if np.linalg.norm(Y[rows[w]] - M[rows[w]] @ coef[0]) <= rtol * norm:
            liars[w] = False
    return liars


def _l1_residual(M, y):
    """``y - M c`` at ``c = argmin ||y - M c||_1``: min sum t, -t <= y - M c <= t."""
    n, m = M.shape
    cost = np.concatenate([np.zeros(m), np.ones(n)])
    eye = np.eye(n)
    A_ub = np.block([[-M, -eye], [M, -eye]])
    b_ub = np.concatenate([-y, y])
    bounds = [(None, None)] * m + [(0, None)] * n
    result = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if result.status != 0:
        raise ValueError(f"l1 decoding failed to solve its linear program: {result.message}")
    return y - M @ result.x[:m]


def _kept_fit(code, kept_workers, Y, kept):
    """Least-squares coefficients of the kept workers' results, and their residuals."""
    M = code.system(kept_workers)[0]
    Yk = Y[_rows(kept, code.share)]
    coef = np.linalg.lstsq(M, Yk, rcond=None)[0]
    return coef, Yk - M @ coef


def l1_recovery_bound(code, workers):
    """Most liars l1 decoding provably locates on these survivors, and the coherence mu.

    docs/method.rst (9.8). With ``mu_i = max_c |(M_F c)_i| / ||M_F c||_1`` (one
    linear program per row i) and ``mu_w`` the sum of ``mu_i`` over worker w's
    rows, every codeword v and set R of workers has
    ``||v_R||_1 <= sum_{w in R} mu_w ||v||_1``; so the null-space property of
    order A, ``||v_R||_1 < ||v_{F \\ R}||_1``, holds when the A largest ``mu_w``
    sum to less than 1/2, and then l1 decoding recovers every pattern of at
    most A lying workers exactly. (This refines ``2 A share mu < 1``, mu the
    largest ``mu_i``: the rows at the ends of a Chebyshev grid are the most
    coherent, the others much less.)

    Parameters
    ----------
    code : ExactCode
    workers : array-like of int

    Returns
    -------
    bound : int
        The largest A whose A largest ``mu_w`` sum to less than 1/2 (capped at
        ``(|F| - threshold) // 2``).
    mu : float
        The largest ``mu_i``.

    Examples
    --------
    >>> from sklearn_coded.operators import exact_code, l1_recovery_bound
    >>> bound, mu = l1_recovery_bound(exact_code("chebyshev", 3, 12), range(12))
    >>> bound >= 1, round(mu, 3) < 0.5
    (True, True)
    """
    workers = np.asarray(workers, dtype=np.intp)
    M = code.system(workers)[0]
    n, m = M.shape
    mu = np.zeros(n)
    for i in range(n):  # max (M c)_i  s.t.  ||M c||_1 <= 1 (symmetric: |.| for free)
        cost = np.concatenate([-M[i], np.zeros(n)])
        eye = np.eye(n)
        A_ub = np.block([[M, -eye], [-M, -eye], [np.zeros((1, m)), np.ones((1, n))]])
        b_ub = np.concatenate([np.zeros(2 * n), [1.0]])
        bounds = [(None, None)] * m + [(0, None)] * n
        result = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
        mu[i] = -float(result.fun)
    per_worker = np.sort(mu.reshape(workers.size, code.share).sum(axis=1))[::-1]
    # strictly below 1/2, with room for the solver's tolerance on each mu_i
    bound = int((np.cumsum(per_worker) < 0.5 - 1e-6).sum())
    return min(bound, (workers.size - code.threshold) // 2), float(mu.max())


#: How :func:`locate_exact` chooses its locator.
EXACT_LOCATORS = ("auto", "l1", "exhaustive")


def locate_exact(code, workers, results, n_adversaries, *, locator="auto"):
    """Up to A liars by l1 decoding, by the exhaustive search, or l1 first (docs/method.rst (9.10)).

    ``"auto"``: l1 decoding on a secret combination of the columns
    (:func:`l1_locate_liars`); where it refuses and :func:`l1_recovery_bound`
    does not prove the refusal (more liars than declared), the exhaustive
    search (:func:`locate_liars`). Every location returned is checked against
    every column of the results.

    Parameters
    ----------
    code : ExactCode
    workers : ndarray of int
        The survivors F, sorted.
    results : ndarray of shape (len(workers) * share, n_outputs)
    n_adversaries : int
        A.
    locator : {"auto", "l1", "exhaustive"}, default="auto"

    Returns
    -------
    liars : ndarray of bool of shape (len(workers),)
    located_by : {"l1", "exhaustive"}

    Raises
    ------
    ValueError
        If fewer than threshold + 2A workers returned, or no explanation with at
        most A liars was found; its ``located_by`` attribute names the locator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import exact_code
    >>> from sklearn_coded.operators._exact_liars import locate_exact
    >>> code = exact_code("chebyshev", 3, 9)
    >>> Y = code.encoder @ np.arange(6.0).reshape(3, 2)
    >>> Y[5] += 7.0
    >>> liars, how = locate_exact(code, np.arange(9), Y, 1)
    >>> np.flatnonzero(liars), how
    (array([5]), 'l1')
    """
    if locator not in EXACT_LOCATORS:
        raise ValueError(f"locator must be one of {EXACT_LOCATORS}; got locator={locator!r}.")
    workers = np.asarray(workers, dtype=np.intp)
    A = _check_int("n_adversaries", n_adversaries, 0)
    _check_bound(code, workers, A)
    error, how = None, "l1"
    if locator != "exhaustive":  # l1 first: a location it returns is checked
        try:
            return l1_locate_liars(code, workers, results, A, combine=True), how
        except ValueError as l1_error:
            error = l1_error
    proven = locator == "l1" or (
        error is not None and _l1_bound(code, tuple(workers.tolist())) >= A
    )
    if not proven:  # beyond (9.10)'s proof: search every set
        how = "exhaustive"
        try:
            return locate_liars(code, workers, results, A), how
        except ValueError as search_error:
            error = search_error
    error.located_by = how
    raise error


@functools.lru_cache(maxsize=256)
def _l1_bound(code, workers):
    """:func:`l1_recovery_bound` per survivor set, cached (one linear program per row)."""
    return l1_recovery_bound(code, np.asarray(workers))[0]
