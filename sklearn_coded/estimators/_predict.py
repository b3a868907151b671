"""The streaming predict path of the coded estimators (layer 4, docs/method.rst 3 and 6)."""

import importlib
import numbers
import time
import weakref

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..coding._registry import find_scheme, get_scheme
from ..coding._systematic import exact_first, exact_stop
from ..execution import check_stragglers
from ..execution._run import finite_rows, simulated_deadline
from ._batching import (
    Codec,
    chunk_layout,
    decode_groups,
    decode_request,
    encode_groups,
    encode_request,
    make_coders,
    request_layout,
)
from ._diagnostics import Diagnostics, RequestDiagnostics, apply_policy
from ._replicas import settle_refused
from ._response import SCORE_SPACES
from ._serving import request_rng, request_rows, run_rows, shallow_params

FLOAT_DTYPES = (np.float64, np.float32)

#: ``predict`` streams its input through encode -> workers -> decode in chunks
#: of whole batches whose coded rows (all draws) take at most about this many
#: bytes, so that its peak memory is bounded by a chunk, not by the input
#: (measured in ``benchmarks/bench_execution.py``). Each chunk is one request
#: to the workers (one task per worker).
PREDICT_CHUNK_BYTES = 32 * 2**20


class _StreamingPredict:
    """The coded estimators' predict path (a mixin of ``_BaseCoded``)."""

    # ----------------------------------------------------------------- predict
    def _coded_response(self, X):
        """Decoded outputs of the inner estimator, shape (n_samples, n_outputs).

        For each batch: encode (``X_coded = E X``), run f on the N coded rows,
        decode the survivors (``Y_hat = D_F Y[F]``), all per docs/method.rst 3; with
        ``randomized`` the rows are permuted before encoding and un-permuted after
        decoding (docs/method.rst 6), and ``n_draws`` decoded outputs are averaged.
        """
        scheme = find_scheme(self.scheme)
        if scheme is not None and scheme.dispatch and getattr(self, "hedge_after", None):
            raise ValueError(
                f"hedge_after={self.hedge_after!r} applies to the spline, Berrut, Lagrange "
                f"and replication schemes; scheme={self.scheme!r} runs its own path. "
                "Set hedge_after=None."
            )
        if scheme is not None and scheme.dispatch:  # its own path (coding/_registry.py)
            return importlib.import_module(scheme.dispatch).scheme_response(self, X)
        check_is_fitted(self)
        plan, codec = self._serving_state()  # validated once per parameter setting
        # validate_data, fast on plain arrays (then with max|x|, bounding the coded rows)
        X, bound = request_rows(self, X, FLOAT_DTYPES, with_bound=True)
        K, N = plan.batch_size, plan.n_coded
        rng = request_rng(self.random_state, self)
        n_samples, n_features = X.shape
        # The request's layout (and in process its stragglers) is drawn once, before
        # it is cut into chunks: chunked and one-pass predictions are the same.
        layout = request_layout(
            n_samples,
            K,
            n_draws=self.n_draws,
            fixed_size=plan.fixed_size,
            rng=rng if self.randomized else None,
            min_size=max(2, plan.order),
        )
        missing = None
        if self.executor is None:
            n_columns = self.n_draws * sum(g.slots.shape[0] for g in layout[0])
            model = check_stragglers(self.stragglers, N, min_results=plan.min_results)
            model = simulated_deadline(model, self.timeout)  # the hard limit, simulated
            missing = model.draw_missing(N, n_columns, rng)
        # padding rows (n_private > 0): fresh per batch, from the secret source
        encoder, decoder = make_coders(plan)
        self._charge_leakage(X, plan, encoder)  # before anything is sent
        # Whole batches per chunk, so the chunks cut the input exactly as one pass would.
        per_batch = self.n_draws * N * n_features * X.dtype.itemsize
        chunk = K * max(1, PREDICT_CHUNK_BYTES // per_batch)
        decoded = None
        reports = _RequestReports()  # per-batch diagnostics over the chunks (docs/method.rst 8)
        for start in range(0, n_samples, chunk):
            stop = min(start + chunk, n_samples)
            rows = X[start:stop]
            groups, columns = chunk_layout(layout, K, start, stop)
            if plan.n_private:
                coded = encode_groups(rows, groups, encoder)
            else:
                # in process: batch after batch in memory, f runs on them as they lie
                coded = encode_request(rows, groups, codec, batch_major=missing is not None)
            in_process = None if missing is None else missing[:, columns]
            finite = not plan.n_private and codec.coded_is_finite(groups, bound, X.dtype)
            results, returned = self._run_chunk(coded, plan, rng, in_process, groups, codec, finite)
            coders = (codec, decoder)
            part = self._decode_chunk(results, returned, groups, len(rows), plan, coders, reports)
            if stop - start == n_samples and part.dtype == np.float64:  # one chunk: no copy
                decoded = part
                break
            if decoded is None:
                decoded = np.empty((n_samples, part.shape[1]))
            decoded[start:stop] = part
        request = reports.request(n_samples, plan.min_results)
        if not hasattr(self, "diagnostics_"):  # fitted before diagnostics existed
            self.diagnostics_ = Diagnostics()
        self.diagnostics_.requests.append(request)  # same object: predict changes no attribute
        if self.n_draws > 1:  # the mean over the draws (a sum so far)
            decoded = decoded / self.n_draws
        return apply_policy(decoded, request, self.on_uncertified)

    def _run_chunk(self, coded, plan, rng, missing, groups, codec, finite=False):
        """f on a chunk's coded rows: in process under the request's mask, or on the executor.

        ``finite``: the coded rows are proved finite (:meth:`Codec.coded_is_finite`).
        """
        # "raise": the package's error below the floor (a real executor waits for the
        # floor, to the timeout); "nan": NaN rows
        floor = plan.min_results if self.on_uncertified == "raise" else 1
        hedge_after = getattr(self, "hedge_after", None)  # fitted before it existed: None
        # checked in process too, so that a layout that cannot hedge fails before deployment
        first = None if hedge_after is None else _hedge_first(plan, groups, hedge_after)
        if hedge_after == "auto":
            hedge_after = _auto_hedge(codec.hedge_samples)
            first = None if hedge_after is None else first
        return run_rows(
            self,
            self._worker,  # one object per fit: a dask client scatters it once
            coded,
            missing,  # in process: f once on all coded rows, the request's mask
            floor,
            rng,
            finite=finite,
            # an executor's early stop; in process every row is computed at once
            enough=None if missing is not None else _stop_rule(plan, groups),
            first=first,
            hedge_after=hedge_after,
            timings=codec.hedge_samples,
        )

    def _decode_chunk(self, results, returned, groups, n_rows, plan, coders, reports):
        """A chunk's decoded rows: one batched product, or batch by batch (docs/method.rst 3, 8)."""
        codec, decoder = coders
        tic = time.perf_counter()
        ok = finite_rows(results, among=returned)  # returned and finite: checked once
        n_ok = ok.sum(axis=0)
        fast = plan.lam_dec != "gcv" and not plan.n_adversaries
        if fast and n_ok.min() >= plan.min_results:  # every batch above the floor
            part = decode_request(results, ok, groups, codec, n_rows, usable=True)
            report = {
                "n_used": n_ok,
                "certified": np.ones(n_ok.size, dtype=bool),
                "below_floor": np.zeros(n_ok.size, dtype=bool),
                "reasons": {},
            }
        else:  # located liars, GCV, or batches below the floor (refused: NaN rows)
            report = {}
            part = decode_groups(
                results,
                returned,
                groups,
                decoder,
                n_rows,
                shift_free=getattr(self, "response_", None) in SCORE_SPACES,  # classes' scores
                floor=plan.min_results,
                report=report,
            )
        # a NaN row is never returned as decoded; a refused batch keeps its exact rows
        settle_refused(part, results, returned, groups, plan, report)
        reports.add(report, time.perf_counter() - tic)
        return part

    def _serving_state(self):
        """(CodingPlan, Codec) for the current parameters, kept while they stay the same.

        ``set_params`` after fit is allowed (the coding parameters are read at
        prediction time), so the parameters are validated again whenever one
        of them changed; a request with the same parameters as the last one
        reuses the validated configuration and its cached operators. The
        state lives beside the estimator (``_SERVING``), not in it: pickles,
        clones and ``__dict__`` stay as they were.
        """
        names = _PARAM_NAMES.get(type(self))
        if names is None:  # inspect.signature once per class, not per request
            # but the inner estimator: never validated here ("no_validation"), never
            # read by the plan (the fitted estimator_ serves), and its repr is slow
            names = tuple(n for n in self._get_param_names() if n != "estimator")
            _PARAM_NAMES[type(self)] = names
        key = tuple(_param_key(getattr(self, name)) for name in names)
        state = _SERVING.get(self)
        if state is not None and state[0] == key:
            return state[1], state[2]
        self._validate_params()  # coding parameters may have been set after fit
        plan = self._coding_plan(predicting=True)
        codec = Codec(plan)
        _SERVING[self] = (key, plan, codec)
        return plan, codec


class _RequestReports:
    """The per-batch decode diagnostics of one request, gathered over its chunks."""

    def __init__(self):
        self.n_used, self.refused, self.below, self.reasons, self.seconds = [], [], [], {}, 0.0
        self.exact = self.refused_rows = 0

    def add(self, report, seconds):
        """One chunk's report (:func:`decode_groups`'s keys), its batches after the others'."""
        offset = sum(u.size for u in self.n_used)
        self.n_used.append(report["n_used"])
        self.refused.append(offset + np.flatnonzero(~report["certified"]))
        self.below.append(offset + np.flatnonzero(report["below_floor"]))
        self.reasons.update({offset + b: why for b, why in report["reasons"].items()})
        self.exact += report.get("exact_rows", 0)
        self.refused_rows += report.get("refused_rows", 0)
        self.seconds += seconds

    def request(self, n_samples, floor):
        """The request's :class:`RequestDiagnostics`."""
        return RequestDiagnostics(
            n_samples=n_samples,
            floor=floor,
            results_used=np.concatenate(self.n_used),
            below_floor=np.concatenate(self.below),
            uncertified=np.concatenate(self.refused),
            reasons=self.reasons,
            decode_seconds=self.seconds,
            exact_rows=self.exact,
            refused_rows=self.refused_rows,
        )


#: estimator -> (parameter key, CodingPlan, Codec) of its last request
_SERVING = weakref.WeakKeyDictionary()

#: class -> the names of its parameters that key the serving state (all but ``estimator``)
_PARAM_NAMES = {}


def _param_key(value):
    """A cheap, comparable stand-in for a parameter's value (see ``_serving_state``).

    Scalars stand for themselves; an estimator-like object (a straggler model)
    by its identity and its parameters, so that ``set_params(stragglers__p=...)``
    is seen; any other object (an executor, arrays of points) by its identity
    and, for sequences, their text.
    """
    if value is None or isinstance(value, bool | numbers.Number | str):
        return (type(value), value)
    if isinstance(value, BaseEstimator):
        return (type(value), id(value), repr(sorted(shallow_params(value).items())))
    if isinstance(value, tuple | list):
        return (type(value), id(value), repr(value))
    return (type(value), id(value))


#: hedge_after="auto": this many times the median seconds to a first task's result
AUTO_HEDGE_FACTOR = 2.0

#: hedge_after="auto" sends everything at once until this many results were timed
AUTO_HEDGE_WARMUP = 32


def _auto_hedge(samples):
    """``hedge_after="auto"``: twice the median seconds to the recent first results.

    The median of the last 256 results' arrival times (the first tasks', once
    hedging) is what the data workers usually take; a worker slower than twice
    that is hedged. One slow worker of several moves the median little, so it
    does not drag the hedge after it. None (everything at once, timed) until
    :data:`AUTO_HEDGE_WARMUP` results were timed.
    """
    if len(samples) < AUTO_HEDGE_WARMUP:
        return None
    return AUTO_HEDGE_FACTOR * float(np.median(list(samples)))


def _hedge_first(plan, groups, hedge_after):
    """:func:`~sklearn_coded.coding._systematic.exact_first`, or an error naming why not."""
    first = exact_first(groups, plan)
    if isinstance(first, tuple):
        k, row = first
        raise ValueError(
            f"hedge_after={hedge_after!r} needs coded rows that copy the data "
            f"rows (points='systematic' or scheme='replication', without n_private "
            f"or n_adversaries); with scheme={plan.scheme!r}, points={plan.points!r}, "
            f"n_private={plan.n_private}, n_adversaries={plan.n_adversaries} data "
            f"row {row} of a batch of {k} has none. Set hedge_after=None."
        )
    return first


def _stop_rule(plan, groups):
    """``run_workers``' ``enough``: the scheme's ``stop_rule``, else the exact-rows stop.

    A scheme without its own rule stops at the earlier of the straggler model's rule
    (N - S results per batch) and every row answered by its own data worker
    (:func:`~sklearn_coded.coding._systematic.exact_stop`, systematic layouts
    without liars); elsewhere None: the executor's usual rule.
    """
    rule = get_scheme(plan.scheme).stop_rule
    if rule is not None:
        return rule(groups, plan.n_coded, plan.n_adversaries)
    return exact_stop(groups, plan)
