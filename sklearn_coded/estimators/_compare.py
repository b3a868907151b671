"""Code or replicate, on the user's own model and rows: :func:`compare_schemes`."""

import numbers

import numpy as np
from scipy import stats
from sklearn.base import is_classifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from ..coding import CODERS, get_scheme
from ..coding._registry import resolve_auto_points
from ..execution import check_stragglers
from ._batching import batch_groups, decode_groups, encode_groups

#: The schemes :func:`compare_schemes` races by default: (scheme, points).
DEFAULT_SCHEMES = (
    ("replication", "auto"),
    ("spline", "auto"),
    ("spline", "systematic"),
    ("berrut", "auto"),
    ("berrut", "systematic"),
)

COLUMNS = (
    "scheme",
    "points",
    "n_coded",
    "stragglers",
    "agreement",
    "agreement_ci",
    "mse",
    "lost",
)


class SchemeComparison:
    """The table of :func:`compare_schemes`: one row per scheme, N and straggler model.

    Attributes
    ----------
    rows : list of dict
        Keys ``COLUMNS``: ``agreement`` (argmax agreement with the bare model,
        lost rows counted as disagreeing; NaN for a regressor), ``agreement_ci``
        (half-width of its 95% t-interval over the repeats), ``mse`` (mean
        squared error of the decoded outputs against the bare model's, over the
        decoded rows, relative to their variance), ``lost`` (fraction of rows not
        decoded: a refused batch, or a replicated row none of whose replicas
        arrived).
    """

    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, column):
        """A column as an array, e.g. ``table["agreement"]``."""
        return np.array([row[column] for row in self.rows])

    def to_frame(self):
        """The table as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=COLUMNS)

    def best(self, metric="agreement"):
        """The row of highest ``metric`` (lowest for ``"mse"`` and ``"lost"``)."""
        values = self[metric].astype(float)
        if metric in ("mse", "lost"):
            index = np.argmin(np.nan_to_num(values, nan=np.inf))
        else:
            index = np.argmax(np.nan_to_num(values, nan=-np.inf))
        return self.rows[int(index)]

    def plot(self, ax=None, metric="agreement"):
        """``metric`` against N, one line per scheme and straggler model (needs matplotlib)."""
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        keys = sorted({(r["scheme"], r["points"], r["stragglers"]) for r in self.rows})
        for key in keys:
            rows = [r for r in self.rows if (r["scheme"], r["points"], r["stragglers"]) == key]
            ax.plot([r["n_coded"] for r in rows], [r[metric] for r in rows], "o-", label=str(key))
        ax.set_xlabel("n_coded (workers per batch)")
        ax.set_ylabel(metric)
        ax.legend(fontsize="small")
        return ax

    def __repr__(self):
        lines = ["  ".join(f"{c:>12}" for c in COLUMNS)]
        for row in self.rows:
            cells = [
                f"{v:12.4g}" if isinstance(v, float) else f"{str(v)[:12]:>12}"
                for v in (row[c] for c in COLUMNS)
            ]
            lines.append("  ".join(cells))
        return "\n".join(lines)


def compare_schemes(
    estimator,
    X,
    *,
    schemes=DEFAULT_SCHEMES,
    n_coded=None,
    batch_size=16,
    stragglers=0.1,
    n_repeats=5,
    response="auto",
    random_state=None,
):
    """Race the codes and replication on a fitted model and the user's validation rows.

    Each scheme codes the rows of ``X`` in batches of ``batch_size``, the
    model computes its outputs on the coded rows once, and ``n_repeats``
    straggler draws are decoded as the coded estimators decode them (the
    quality floor of K results, replicated rows lost when no replica arrives).
    Compared with the bare model's outputs on ``X``: argmax agreement and
    mean squared error, at equal numbers of workers N.

    Parameters
    ----------
    estimator : fitted estimator
        The model to serve (a classifier, or any estimator with ``predict``).
    X : array-like of shape (n_samples, n_features)
        Validation rows (numeric), at least ``batch_size`` of them.
    schemes : sequence, default=DEFAULT_SCHEMES
        Each a scheme name (``"spline"``, ``"berrut"``, ``"lagrange"``,
        ``"replication"``) or a ``(scheme, points)`` pair; ``"auto"`` points are
        the estimators' defaults.
    n_coded : int, sequence of int or None, default=None
        The N to compare at (each >= ``batch_size``); None: 1.25 K, 2 K and 4 K.
    batch_size : int, default=16
        K.
    stragglers : straggler spec or list of them, default=0.1
        Anything :func:`~sklearn_coded.execution.check_stragglers` takes (an int
        S, a probability, a model such as
        :class:`~sklearn_coded.execution.GroupStragglers`), or a list.
    n_repeats : int, default=5
        Straggler draws per row of the table (at least 2 for an interval).
    response : {"auto", "decision_function", "predict_proba", "predict"}, default="auto"
        The output decoded; "auto": ``decision_function`` of a classifier that
        has it, else ``predict_proba``, else ``predict``.
    random_state : int, RandomState instance or None, default=None
        Seeds the straggler draws (the same draws for every scheme).

    Returns
    -------
    table : SchemeComparison
        One row per (scheme, points, N, straggler model); ``to_frame()`` gives a
        DataFrame and ``plot()`` a frontier plot.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_coded import compare_schemes
    >>> X, y = load_digits(return_X_y=True)
    >>> model = LogisticRegression(max_iter=300).fit(X[:1000] / 16, y[:1000])
    >>> table = compare_schemes(model, X[1000:1256] / 16, n_coded=[20, 32], random_state=0)
    >>> table.best()["scheme"] in {"replication", "spline", "berrut"}
    True
    >>> sorted(set(table["n_coded"].tolist()))
    [20, 32]
    """
    check_is_fitted(estimator)
    X = check_array(X, dtype=np.float64)
    K = _check_int(batch_size, "batch_size", 2)
    if X.shape[0] < K:
        raise ValueError(f"X has {X.shape[0]} rows; it needs at least batch_size={K}.")
    Ns = [round(1.25 * K), 2 * K, 4 * K] if n_coded is None else np.atleast_1d(n_coded).tolist()
    Ns = [_check_int(N, "n_coded", K) for N in Ns]
    models = stragglers if isinstance(stragglers, list | tuple) else [stragglers]
    n_repeats = _check_int(n_repeats, "n_repeats", 1)
    f = _response(estimator, response)
    bare = f(X)
    classifier = is_classifier(estimator)
    groups = batch_groups(X.shape[0], K)
    seeds = check_random_state(random_state).randint(2**31 - 1, size=n_repeats)
    rows = []
    for scheme, points in (_scheme(s) for s in schemes):
        for N in Ns:
            encoder, decoder = _coders(scheme, points, K, N)
            coded = encode_groups(X, groups, lambda: encoder(N))  # noqa: B023 (used at once)
            results = f(coded.reshape(-1, X.shape[1])).reshape(N, coded.shape[1], -1)
            for spec in models:
                model = check_stragglers(spec, N, min_results=1)
                runs = [
                    _score(results, model, seed, groups, decoder, bare, classifier)
                    for seed in seeds
                ]
                rows.append(_row(scheme, points, N, spec, runs))
    return SchemeComparison(rows)


def _row(scheme, points, N, spec, runs):
    agreement = np.array([r[0] for r in runs])
    half = np.nan
    if agreement.size > 1 and np.isfinite(agreement).all():
        half = stats.t.ppf(0.975, agreement.size - 1) * agreement.std(ddof=1)
        half /= np.sqrt(agreement.size)
    return {
        "scheme": scheme,
        "points": points,
        "n_coded": int(N),
        "stragglers": repr(spec),
        "agreement": float(agreement.mean()),
        "agreement_ci": float(half),
        "mse": float(np.nanmean([r[1] for r in runs])),
        "lost": float(np.mean([r[2] for r in runs])),
    }


def _score(results, model, seed, groups, decoder, bare, classifier):
    """(agreement, relative MSE on decoded rows, lost fraction) of one straggler draw."""
    import warnings

    N, n_batches = results.shape[:2]
    missing = model.draw_missing(N, n_batches, np.random.RandomState(seed))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # the decoders' own floor: K for a code, 1 for replicas
        decoded = decode_groups(results, ~missing, groups, decoder, len(bare))
    kept = np.isfinite(decoded).all(axis=1)
    agreement = np.nan
    if classifier:  # the class: argmax of several columns, the sign of one
        same = _labels(decoded[kept]) == _labels(bare[kept])
        agreement = float(same.sum() / len(bare))
    spread = bare.var(axis=0).mean() or 1.0
    mse = float(((decoded[kept] - bare[kept]) ** 2).mean() / spread) if kept.any() else np.nan
    return agreement, mse, float(1 - kept.mean())


def _labels(out):
    return out.argmax(axis=1) if out.shape[1] > 1 else (out[:, 0] > 0).astype(int)


def _coders(scheme, points, K, N):
    if scheme not in CODERS:
        raise ValueError(f"schemes: scheme must be one of {sorted(CODERS)}; got {scheme!r}.")
    if isinstance(points, str) and points == "auto":  # the estimators' default layout
        points = resolve_auto_points(get_scheme(scheme), K, N)
    encoder_cls, decoder_cls = CODERS[scheme]
    return (lambda N: encoder_cls(N, points=points)), (lambda k: decoder_cls(k, points=points))


def _scheme(spec):
    if isinstance(spec, str):
        return spec, "auto"
    if isinstance(spec, tuple | list) and len(spec) == 2:
        return spec[0], spec[1]
    raise ValueError(f"schemes: each must be a name or a (scheme, points) pair; got {spec!r}.")


def _response(estimator, response):
    if response == "auto":
        if is_classifier(estimator) and hasattr(estimator, "decision_function"):
            response = "decision_function"
        elif hasattr(estimator, "predict_proba"):
            response = "predict_proba"
        else:
            response = "predict"
    if response not in ("decision_function", "predict_proba", "predict"):
        raise ValueError(
            'response must be "auto", "decision_function", "predict_proba" or "predict"; '
            f"got {response!r}."
        )
    method = getattr(estimator, response)

    def f(Z):
        out = np.asarray(method(Z), dtype=np.float64)
        return out.reshape(out.shape[0], -1)

    return f


def _check_int(value, name, minimum):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {name}={value!r}.")
    return int(value)
