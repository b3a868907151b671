"""A decoded NaN row refuses its batch (docs/method.rst 12).

:func:`refuse_lost_rows`, a hook of the serving loop for every scheme: a decoded
row that is NaN in a batch the decode certified (replication's lost rows: no
replica arrived) refuses its batch, so that ``on_uncertified`` raises or warns;
no lost row is ever returned as if it were decoded. (Replication's early stop,
``replica_stop``, is its registry entry's ``stop_rule``, coding/_replication.py.)
"""

import numpy as np


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
