"""Refused batches, row by row (docs/method.rst 12.3).

:func:`settle_refused`, the hook of the serving loop for every scheme, after the
decode of a chunk:

1. :func:`refuse_lost_rows`: a decoded row that is NaN in a batch the decode
   certified (replication's lost rows: no replica arrived) refuses its batch, so
   that ``on_uncertified`` raises or warns; no lost row is ever returned as if it
   were decoded.
2. :func:`keep_exact_rows`: in a refused batch, a row whose own worker answered (a
   coded row that *is* the data row: a systematic layout's data worker, a replica;
   :func:`~sklearn_coded.coding._systematic.exact_sources`) gets that worker's
   result, ``f(x_k)`` itself; only the other rows stay NaN. Not with
   ``n_adversaries > 0``: one worker's row is not certified, the batch-level
   refusal stands.

(The early stops, replication's ``replica_stop`` and the systematic layouts'
:func:`~sklearn_coded.coding._systematic.exact_stop`, are in the coding layer.)
"""

import numpy as np

from ..coding._systematic import exact_sources
from ..execution._collect import nan_rows
from ..execution._run import finite_rows


def settle_refused(decoded, results, returned, groups, plan, report):
    """:func:`refuse_lost_rows`, then :func:`keep_exact_rows`; ``report`` gains ``"exact_rows"``.

    Parameters
    ----------
    decoded : ndarray of shape (n_rows, n_outputs)
        The chunk's decoded outputs (summed over draws), changed in place.
    results : ndarray of shape (N, n_batches, n_outputs)
    returned : ndarray of bool of shape (N, n_batches)
    groups : list of Group
    plan : CodingPlan
    report : dict
        A decode report (``"certified"``, ``"reasons"``), changed in place;
        ``"exact_rows"``: rows of refused batches returned exactly,
        ``"refused_rows"``: rows of refused batches.
    """
    refuse_lost_rows(decoded, groups, report)
    certified = np.asarray(report["certified"], dtype=bool)
    report["exact_rows"] = report["refused_rows"] = 0
    if certified.all():
        return
    if not plan.n_adversaries:
        keep_exact_rows(decoded, results, returned, groups, plan)
    refused = _refused_rows(groups, certified, decoded.shape[0])
    report["refused_rows"] = int(refused.sum())
    report["exact_rows"] = int((refused & ~np.isnan(decoded).any(axis=1)).sum())


def keep_exact_rows(decoded, results, returned, groups, plan):
    """Fill NaN rows with their own worker's result, where one arrived (docs/method.rst 12.3).

    A row appears once per draw (``n_draws``): ``decoded`` holds the sum over its
    draws, so a filled row gets its multiplicity times ``f(x_k)``.

    Parameters
    ----------
    decoded : ndarray of shape (n_rows, n_outputs)
        Changed in place on the NaN rows that have an exact result.
    results, returned, groups, plan
        As in :func:`settle_refused`.

    Returns
    -------
    filled : ndarray of bool of shape (n_rows,)
    """
    n_rows = decoded.shape[0]
    lost = nan_rows(decoded)
    if not lost.any():
        return lost
    ok = finite_rows(results, among=returned)
    exact = np.full(decoded.shape, np.nan)
    multiplicity = np.zeros(n_rows)
    start = 0
    for group in groups:
        n_batches, k = group.slots.shape
        cols = np.arange(start, start + n_batches)
        start += n_batches
        multiplicity += np.bincount(group.slots[group.keep], minlength=n_rows)
        sources = exact_sources(plan, k)
        for i in np.flatnonzero(sources >= 0):  # coded row i is data slot sources[i]
            slot = sources[i]
            got = ok[i, cols] & group.keep[:, slot]
            exact[group.slots[got, slot]] = results[i, cols[got]]
    filled = lost & np.isfinite(exact).all(axis=1)
    decoded[filled] = multiplicity[filled, None] * exact[filled]
    return filled


def _refused_rows(groups, certified, n_rows):
    """Mask (n_rows,) of the rows in some refused batch."""
    mask = np.zeros(n_rows, dtype=bool)
    start = 0
    for group in groups:
        n_batches = group.slots.shape[0]
        refused = ~certified[start : start + n_batches]
        mask[group.slots[refused][group.keep[refused]]] = True
        start += n_batches
    return mask


def refuse_lost_rows(decoded, groups, report):
    """Refuse (in ``report``) every certified batch with a NaN decoded row.

    Parameters
    ----------
    decoded : ndarray of shape (n_rows, n_outputs)
        The chunk's decoded outputs.
    groups : list of Group
        The chunk's layout, in the order of ``report``'s batches.
    report : dict
        A decode report (``"certified"``, ``"reasons"``), changed in place.
    """
    lost_rows = nan_rows(decoded)  # one sum when no row is NaN
    if not lost_rows.any():
        return
    certified = np.array(report["certified"], dtype=bool)
    start = 0
    for group in groups:
        n_batches = group.slots.shape[0]
        lost = (lost_rows[group.slots] & group.keep).any(axis=1)
        for b in np.flatnonzero(lost):
            column = start + int(b)
            if certified[column]:
                certified[column] = False
                report["reasons"][column] = (
                    "a row of the batch lost every replica (no worker holding it returned)"
                )
        start += n_batches
    report["certified"] = certified
