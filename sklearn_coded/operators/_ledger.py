"""The per-model leakage budget: how views of a row add up over requests (eq. R of ``_privacy``).

Each coded view of a row gives T colluders information ``q`` (eq. Q of
:mod:`._privacy`); views with fresh noise add their q, and the bound after all
of them is :func:`~._privacy.leakage_bound` of the sum. :class:`LeakageLedger`
keeps that sum per row of a fitted model and refuses a request that would pass
the budget.
"""

import hashlib

import numpy as np

from ._privacy import information_for_leakage, leakage_bound

#: ``leakage_budget="auto"``: the bound after this many views of a row at ``max_leakage``
#: (eq. R): R^2 0.5 at the default ``max_leakage=0.25``, 1 (no limit) at ``max_leakage=1``.
AUTO_BUDGET_VIEWS = 3


def resolve_budget(leakage_budget, max_leakage):
    """The R^2 budget of ``leakage_budget`` ("auto": ``AUTO_BUDGET_VIEWS`` views at the target).

    Examples
    --------
    >>> from sklearn_coded.operators._ledger import resolve_budget
    >>> resolve_budget("auto", 0.25), resolve_budget("auto", 1.0), resolve_budget(0.3, 0.25)
    (0.5, 1.0, 0.3)
    """
    if leakage_budget is None or leakage_budget != "auto":
        return leakage_budget
    return float(leakage_bound(AUTO_BUDGET_VIEWS * information_for_leakage(max_leakage)))


class LeakageBudgetError(ValueError):
    """A request would code rows past the leakage budget of a fitted model (eq. R).

    Examples
    --------
    >>> from sklearn_coded.operators import LeakageBudgetError
    >>> issubclass(LeakageBudgetError, ValueError)
    True
    """


class LeakageLedger:
    """Per-row account of the colluders' information over requests (eq. R).

    Rows are identified by a hash of their bytes (as float64, so a float32 copy of
    a row is the same row); each coded view of a row adds its ``q`` (eq. Q), and
    the bound after all of them is :func:`leakage_bound` of the sum.

    Parameters
    ----------
    budget : float
        Largest R^2 bound any row may reach, in (0, 1].
    owner : str, default="leakage_budget"
        The parameter named in the error.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_coded.operators import LeakageLedger
    >>> ledger = LeakageLedger(0.5)
    >>> X = np.arange(4.0).reshape(2, 2)
    >>> ledger.charge(X, [1 / 3, 1 / 3]).round(3)  # one view each: R^2 <= 0.25
    array([0.25, 0.25])
    >>> ledger.charge(X, [1 / 3, 1 / 3]).round(3)  # a second view: 0.4
    array([0.4, 0.4])
    """

    def __init__(self, budget, owner="leakage_budget"):
        self.budget = float(budget)
        self.owner = owner
        self._spent = {}

    def __len__(self):
        return len(self._spent)

    @staticmethod
    def keys(X):
        """16-byte BLAKE2b digests of the rows of ``X`` as float64."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in X]

    def spent(self, X):
        """The current bound (eq. L of the summed q) of each row of ``X``."""
        return leakage_bound([self._spent.get(key, 0.0) for key in self.keys(X)])

    def charge(self, X, information):
        """Add a request's views; refuse (nothing recorded) if a row would pass the budget.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            The rows of the request; a row listed twice is charged twice.
        information : array-like of shape (n_rows,)
            q of this request's view(s) of each row.

        Returns
        -------
        bound : ndarray of shape (n_rows,)
            Each row's bound after this request.

        Raises
        ------
        LeakageBudgetError
            If some row's bound would exceed the budget.
        """
        keys = self.keys(X)
        q = np.broadcast_to(np.asarray(information, dtype=np.float64), (len(keys),))
        total = {}
        for key, qi in zip(keys, q, strict=True):
            total[key] = total.get(key, self._spent.get(key, 0.0)) + qi
        after = leakage_bound(np.array([total[key] for key in keys]))
        over = after > self.budget * (1 + 1e-9)
        if over.any():
            first = int(np.flatnonzero(over)[0])
            before = leakage_bound(self._spent.get(keys[first], 0.0))
            raise LeakageBudgetError(
                f"{int(over.sum())} of the {len(keys)} rows of this request would pass "
                f"{self.owner}={self.budget!r}: row {first} has leaked up to R^2 "
                f"{before:.3f} to T colluders in earlier requests and would reach "
                f"{after[first]:.3f} (views with fresh noise add up; see the security "
                "guide). Nothing was sent. Fit a new model, or raise the budget."
            )
        self._spent.update(total)
        return after
