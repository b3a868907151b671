"""Private randomness: a generator the public seed cannot replay.

Anything that must stay secret from workers (the privacy padding, the assignment of
coded rows to workers that a liar could exploit) is drawn from the operating
system's cryptographic source, never from ``random_state`` or numpy's global state:
seeds are public, and anyone who knows one rebuilds every draw made from it.
"""

import secrets

import numpy as np


def private_generator():
    """Return a numpy generator seeded from the operating system's secret source.

    Every call gives an independent generator: 128 bits from :mod:`secrets`
    seed a PCG64 stream, so no public parameter (``random_state``, a call to
    ``np.random.seed``) can reproduce what it draws.

    Returns
    -------
    numpy.random.Generator
        A fresh generator, seeded with 128 secret bits.

    Examples
    --------
    >>> from sklearn_coded.operators._secret import private_generator
    >>> a = private_generator().standard_normal(4)
    >>> b = private_generator().standard_normal(4)
    >>> bool((a != b).all())
    True
    """
    return np.random.default_rng(secrets.randbits(128))
