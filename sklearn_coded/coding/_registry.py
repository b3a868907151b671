"""The coding schemes, one registered object each (layer 2).

A scheme is what ``scheme=`` names on the coded estimators: its encoder and
decoder classes, the options that apply to it, its ``points="auto"`` layout and
its quality floor (the fewest results a batch is decoded from, docs/method.rst 8).
A :class:`~sklearn_coded.coding.CodingPlan` reads its scheme here; no estimator
branches on a scheme's name.

How a scheme registers
----------------------
Write the coders in their own module of :mod:`sklearn_coded.coding` (say
``_replication.py``), with the usual interface: ``Encoder(n_coded, points=...,
**options)`` fitted on a batch of K rows, with ``encoding_matrix(k)`` (and
``noise_matrix`` / ``draw_padding`` if it supports ``n_private``), and
``Decoder(n_samples, points=..., n_adversaries=..., n_private=...)`` fitted on the
N results, with ``decoding_matrix(survivors)`` and ``min_results()``. At the end
of that module register one object::

    register_scheme(Scheme("replication", ReplicationEncoder, ReplicationDecoder,
                           auto_points="uniform", floor=replication_floor))

and import the module in ``coding/__init__.py`` so that the registration runs on
``import sklearn_coded``. ``floor(plan)`` returns the fewest results a batch of the
plan needs (default :func:`nodes_floor`, K + P, the code's nodes); ``options``
names the :class:`CodingPlan` options that apply (``"smoothing"``, ``"order"``:
any other scheme refuses a non-default value of them, naming it).

A scheme whose estimator path is not encode / f / decode per batch (exact
layer-wise inference, learned parity models) names a module instead of coders::

    register_scheme(Scheme("parm", dispatch="sklearn_coded.estimators._parm"))

That module (layer 4, imported only when the scheme is used) defines
``fit_scheme(estimator, X, y, fit_params)``, which fits and returns the estimator,
and ``scheme_response(estimator, X)``, the decoded outputs of shape
(n_samples, n_outputs); the estimators call those two and nothing else.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

from ..operators._privacy import DEFAULT_PRIVATE_GAP

#: Names of the registered schemes; the estimators' ``scheme`` constraint reads
#: this set, so a scheme registered after import is accepted too.
SCHEME_NAMES = set()

_REGISTRY = {}


def nodes_floor(plan):
    """K + P (the code's nodes; docs/method.rst 8), and a spline's order m, at least 2."""
    order = plan.order if "order" in get_scheme(plan.scheme).options else 2
    return max(plan.batch_size + plan.n_noise, 2, order)


@dataclasses.dataclass(frozen=True)
class Scheme:
    """One coding scheme: its coders, options, default points and quality floor.

    Parameters
    ----------
    name : str
        The ``scheme=`` value.
    encoder, decoder : type or None
        The layer-2 encoder and decoder classes; None for a dispatched scheme.
    options : frozenset of str, default=frozenset()
        The :class:`CodingPlan` options that apply: ``"smoothing"``, ``"order"``.
    auto_points : str, default="uniform"
        The layout of ``points="auto"`` in prediction.
    fallback_points : str or None, default=None
        The layout of ``points="auto"`` where ``auto_points`` is
        ``"systematic"`` and cannot be: with noise padding (``n_private > 0``)
        or fewer workers than rows (N < K, a training setting).
    floor : callable, default=nodes_floor
        ``floor(plan)``: the fewest results a batch is decoded from.
    needs_all_nodes : bool, default=False
        Decoding needs the floor even in training (Lagrange: N >= K at fit too).
    private_gap : float, default=DEFAULT_PRIVATE_GAP
        The coded points' distance from the data points with ``n_private > 0``
        (:func:`~sklearn_coded.operators.private_layout`'s ``gap``).
    dispatch : str or None, default=None
        Module (dotted path) with ``fit_scheme`` and ``scheme_response``, for
        schemes outside the batch-coded path.
    stop_rule : callable or None, default=None
        ``stop_rule(groups, n_coded, n_adversaries)`` returns the ``enough``
        callable of :func:`~sklearn_coded.execution.run_workers` for a request's
        batches (replication: stop once every row has a replica); None: the
        straggler model's rule, or earlier once every row's own worker answered
        where the plan has such workers (a systematic layout without liars:
        :func:`~sklearn_coded.coding._systematic.exact_stop`).
    probe : bool, default=True
        ``fit`` probes the model's smoothness along the code's curve (False for
        a scheme exact for any f, such as replication).
    training_scheme : str or None, default=None
        The code coded-smoothing trains a skorch net with (None: this scheme).
    """

    name: str
    encoder: Any = None
    decoder: Any = None
    options: frozenset = frozenset()
    auto_points: str = "uniform"
    fallback_points: str | None = None
    floor: Callable = nodes_floor
    needs_all_nodes: bool = False
    private_gap: float = DEFAULT_PRIVATE_GAP
    dispatch: str | None = None
    stop_rule: Callable | None = None
    probe: bool = True
    training_scheme: str | None = None


def resolve_auto_points(scheme, n_samples, n_coded, n_private=0, randomized=False):
    """The layout ``points="auto"`` means for a scheme, K rows, N workers and T.

    ``"systematic"`` (K of the N coded points on the data points: exact at S = 0,
    docs/method.rst 12) where it applies, else the scheme's ``fallback_points``:
    with noise padding (``n_private``), with randomized coded inference (a
    systematic layout passes the rows through and leaves nothing to mix), and
    with N < K.

    Examples
    --------
    >>> from sklearn_coded.coding._registry import get_scheme, resolve_auto_points
    >>> resolve_auto_points(get_scheme("spline"), 16, 32)
    'systematic'
    >>> resolve_auto_points(get_scheme("spline"), 16, 32, n_private=2)
    'interior'
    """
    points = scheme.auto_points
    if points == "systematic" and (n_private or randomized or n_coded < n_samples):
        return scheme.fallback_points
    return points


def register_scheme(scheme):
    """Add (or replace) a scheme in the registry; returns it.

    Examples
    --------
    >>> from sklearn_coded.coding._registry import get_scheme
    >>> get_scheme("spline").auto_points
    'systematic'
    """
    if not isinstance(scheme, Scheme):
        raise TypeError(f"register_scheme takes a Scheme; got {scheme!r}.")
    _REGISTRY[scheme.name] = scheme
    SCHEME_NAMES.add(scheme.name)
    return scheme


def unregister_scheme(name):
    """Remove a scheme from the registry (tests; a scheme registered by mistake)."""
    _REGISTRY.pop(name, None)
    SCHEME_NAMES.discard(name)


def get_scheme(name):
    """The registered :class:`Scheme` called ``name``; a ValueError naming the choices."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"scheme must be one of {sorted(SCHEME_NAMES)}; got scheme={name!r}."
        ) from None


def find_scheme(name):
    """The registered :class:`Scheme` called ``name``, or None."""
    return _REGISTRY.get(name) if isinstance(name, str) else None


def coders_of(name):
    """``(encoder class, decoder class)`` of a batch-coded scheme."""
    scheme = get_scheme(name)
    if scheme.encoder is None:
        raise ValueError(f"scheme={name!r} has no encoder and decoder (it is dispatched).")
    return scheme.encoder, scheme.decoder
