"""Which objects a model's attributes reach: how a dask client sees that a model was refitted."""

import numpy as np

#: Most objects an attribute snapshot visits; a larger object graph is checked
#: only this far (in a deterministic order, so a change there is still seen).
_SNAPSHOT_LIMIT = 20_000


#: Values a snapshot holds but does not look inside.
_SNAPSHOT_LEAVES = (str, bytes, int, float, complex, type(None), np.ndarray, np.generic, type)


def _attribute_snapshot(model):
    """Every object reachable from the model's attributes, in a fixed order.

    A depth-first walk through instance attributes, lists, tuples, sets and
    dicts (keys and values), holding each object (so that its id cannot be
    reused). Refitting the model, or an inner estimator of it in place
    (``coded.estimator_.fit(...)``), rebinds some attribute somewhere to a new
    object, which changes the snapshot; changes made inside an array or a
    tensor are not seen (see run_workers' Notes).
    """
    objects, seen, stack = [], set(), [model]
    while stack and len(objects) < _SNAPSHOT_LIMIT:
        obj = stack.pop()
        objects.append(obj)
        if isinstance(obj, _SNAPSHOT_LEAVES) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, list | tuple):
            children = list(obj)
        elif isinstance(obj, set | frozenset):
            children = sorted(obj, key=id)
        elif isinstance(obj, dict):
            children = [item for pair in obj.items() for item in pair]
        else:
            try:
                children = list(vars(obj).values())
            except TypeError:  # no __dict__ (slots, C objects): compared by identity only
                children = []
        stack.extend(reversed(children))
    return objects


def _same_snapshot(old, new):
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))
