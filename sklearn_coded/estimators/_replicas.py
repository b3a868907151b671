"""What the coded estimators need for ``scheme="replication"`` (docs/method.rst 11).

Two hooks of the serving loop:

- :func:`refuse_lost_rows`: a decoded row that is NaN in a batch the decode
  certified (replication's lost rows: no replica arrived) refuses its batch, so
  that ``on_uncertified`` raises or warns; no lost row is ever returned as if
  it were decoded.
- :func:`replica_stop`: on a real executor the master stops collecting once
  every row of every batch has a replica (2A + 1 of them with ``n_adversaries =
  A``), instead of waiting for N - S workers: the first arriving replica is
  used.
"""

import numpy as np

from ..coding import replica_rows


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
    nan_rows = np.isnan(decoded).any(axis=1)
    if not nan_rows.any():
        return
    certified = np.array(report["certified"], dtype=bool)
    start = 0
    for group in groups:
        n_batches = group.slots.shape[0]
        lost = (nan_rows[group.slots] & group.keep).any(axis=1)
        for b in np.flatnonzero(lost):
            column = start + int(b)
            if certified[column]:
                certified[column] = False
                report["reasons"][column] = (
                    "a row of the batch lost every replica (no worker holding it returned)"
                )
        start += n_batches
    report["certified"] = certified


def replica_stop(groups, n_coded, n_adversaries=0):
    """``enough(returned)`` for :func:`~sklearn_coded.execution.run_workers`.

    True once every row of every batch has ``2A + 1`` finite replicas (one when
    A = 0), counted with the replica map of :func:`~sklearn_coded.coding.replica_rows`
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
