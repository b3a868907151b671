"""Batch layout, encoding and grouped decoding for coded prediction (docs/method.rst 3, 6).

The rows of a prediction set are cut into consecutive batches of K rows. Every
batch is one code: its rows sit at the data points alpha_1..alpha_K, the encoder
gives N coded rows, the N workers compute f on them, and the decoder maps the
surviving results back to the K rows. A batch is a row of a ``slots`` array
holding the indices of its rows in the order of the data points.

- The last batch of r < K rows uses its own code for r rows (the same N
  workers, data points for r); a batch of a single row is coded as two copies
  of that row, so f is constant along the code and decoding is exact up to
  rounding. With explicit data points (which fix K) the last batch is padded to
  K by repeating its last row, and the padded outputs are dropped.
- Randomized coded inference (docs/method.rst 6) permutes the rows of each batch
  before they are placed at the data points: ``x_pi(k)`` sits at alpha_k.
"""

import collections
import mmap
import threading

import numpy as np

from ..coding import UncertifiedDecodeError, adversary_bound
from ..coding._base import apply_operator
from ..execution._run import finite_rows
from ..operators._cache import SecondSight, transient


class Group:
    """Batches of one size k: ``slots`` (n_batches, k) row indices, ``keep`` which slots count."""

    def __init__(self, slots, keep, contiguous=False):
        self.slots = slots
        self.keep = keep
        self.contiguous = contiguous  # slots are consecutive rows in order (no permutation)

    @property
    def size(self):
        return self.slots.shape[1]


def batch_groups(n_samples, batch_size, *, fixed_size=False, rng=None, min_size=2):
    """Cut ``n_samples`` rows into groups of equal-size batches.

    Parameters
    ----------
    n_samples : int
    batch_size : int
        K.
    fixed_size : bool, default=False
        Pad the last batch to K (explicit data points fix K).
    rng : RandomState or None
        When given, the rows of every batch are randomly permuted (RCI).
    min_size : int, default=2
        Shorter batches are padded to this many rows (a spline of order m needs m).

    Returns
    -------
    groups : list of Group
    """
    n_full, rest = divmod(n_samples, batch_size)
    groups = []
    if n_full:
        slots = np.arange(n_full * batch_size).reshape(n_full, batch_size)
        if rng is not None:
            # One uniformly random permutation per batch: the ranks of iid uniforms.
            slots = np.take_along_axis(
                slots, np.argsort(rng.random_sample(slots.shape), axis=1), axis=1
            )
        groups.append(Group(slots, np.ones_like(slots, dtype=bool), contiguous=rng is None))
    if rest:
        rows = np.arange(n_full * batch_size, n_samples)
        if rng is not None:
            rows = rng.permutation(rows)
        groups.append(Group(rows[None, :], np.ones((1, rest), dtype=bool)))
    out = []
    for group in groups:
        k = group.size
        target = batch_size if fixed_size else max(k, min_size)
        if k < target:  # pad by repeating the last row; its outputs are dropped
            pad = np.repeat(group.slots[:, -1:], target - k, axis=1)
            group = Group(
                np.concatenate([group.slots, pad], axis=1),
                np.concatenate([group.keep, np.zeros_like(pad, dtype=bool)], axis=1),
            )
        out.append(group)
    return out


def make_coders(plan, random_state=None):
    """Unfitted layer-2 encoder and decoder factories of a :class:`CodingPlan`.

    ``plan.coders()``; ``random_state`` is unused: the padding rows
    (``plan.n_private > 0``) are drawn from the operating system's secret source.
    """
    return plan.coders()


def encode_groups(X, groups, encoder):
    """Coded rows of every batch, worker-major: shape (N, n_batches, n_features).

    Implements ``X_coded = E X`` (docs/method.rst 3) for all batches of a group in one
    matrix product; the dtype of ``X`` is kept (float32 stays float32).
    """
    n_features = X.shape[1]
    blocks = []
    for group in groups:
        n_batches, k = group.slots.shape
        fitted = encoder().fit(X[group.slots[0]])
        E = fitted.encoding_matrix(k)
        batch = X[group.slots]  # (n_batches, k, n_features)
        stacked = batch.transpose(1, 0, 2).reshape(k, n_batches * n_features)
        coded = apply_operator(E, stacked).reshape(-1, n_batches, n_features)
        if fitted.plan_.n_private:  # + B Z_b, fresh secret padding rows per batch
            B = fitted.noise_matrix(k)
            Z = fitted.draw_padding(B.shape[1], n_features, X.dtype, n_batches)
            P = B.shape[1]
            coded += apply_operator(B, Z.transpose(1, 0, 2).reshape(P, -1)).reshape(coded.shape)
        blocks.append(coded)
    return np.concatenate(blocks, axis=1)


def decode_groups(
    results,
    returned,
    groups,
    decoder,
    n_samples,
    out_dtype=np.float64,
    *,
    shift_free=False,
    floor=None,
    report=None,
):
    """Sum of the decoded outputs of every batch, scattered back to the rows.

    ``Y_hat = D_F Y[F]`` with ``D_F = M(beta_F -> alpha)`` for the survivors F of
    each batch (docs/method.rst 3). Batches of one size with the same survivors share
    ``D_F``: they are decoded with one matrix product. With ``smoothing="gcv"``
    the matrix depends on the batch's values and every batch is decoded alone.

    Parameters
    ----------
    results : ndarray of shape (N, n_batches, n_outputs)
        NaN where a worker did not return.
    returned : ndarray of bool of shape (N, n_batches)
    groups : list of Group
        The layout ``results`` was computed from, in order.
    decoder : callable
        ``decoder(k)`` gives an unfitted layer-2 decoder for k rows.
    n_samples : int
    shift_free : bool, default=False
        The outputs matter only up to a per-row constant (class scores, whose
        argmax and softmax ignore it): with ``n_adversaries > 0`` the liars are
        then located on row-centred results, which removes the per-row
        log-sum-exp of log-probabilities and its kinks.
    floor : int, optional
        The quality floor (docs/method.rst 8): a batch with fewer finite results is
        not decoded, its rows are NaN. None: each decoder's ``min_results()``.
    report : dict, optional
        Filled with ``"n_used"`` (results each batch was decoded from, the
        finite ones less the located liars), ``"certified"`` (bool per batch:
        at or above the floor and, with ``n_adversaries``, certified) and
        ``"reasons"`` (batch -> why it was refused). Refused batches' rows are NaN.

    Returns
    -------
    decoded : ndarray of shape (n_samples, n_outputs)
    """
    n_coded, n_all, n_outputs = results.shape
    results = np.asarray(results, dtype=np.float64)
    ok = finite_rows(results, among=returned)
    decoded = np.zeros((n_samples, n_outputs), dtype=out_dtype)
    state = {
        "n_used": ok.sum(axis=0),  # docs/method.rst 8: results per batch, against the floor
        "certified": np.ones(n_all, dtype=bool),
        "below_floor": np.zeros(n_all, dtype=bool),
        "reasons": {},
    }
    start = 0
    for group in groups:
        n_batches, k = group.slots.shape
        cols = np.arange(start, start + n_batches)
        start += n_batches
        dec = decoder(k).fit(np.zeros((n_coded, n_outputs)))
        least = max(dec.min_results(), 0 if floor is None else int(floor))
        if dec.n_adversaries:  # and the locator's bound, r + 2A
            least = max(least, adversary_bound(dec.min_results(), dec.n_adversaries)[0])
        _refuse_below(state, ok, cols, least)
        if dec.n_adversaries:  # Byzantine workers: each batch locates its own liars
            batch_out = _decode_located(dec, results, ok, cols, k, shift_free, state)
        else:
            batch_out = _decode_patterns(dec, results, ok, cols, k, least)
        per_slot = batch_out.transpose(1, 0, 2)  # (n_batches, k, n_outputs)
        decoded[group.slots[group.keep]] += per_slot[group.keep]
    if report is not None:
        report.update(state)
    return decoded


def _refuse_below(state, ok, cols, least):
    """Batches of ``cols`` with fewer than ``least`` results: refused, their rows NaN."""
    for c in cols[state["n_used"][cols] < least]:
        state["certified"][c], state["below_floor"][c] = False, True
        state["reasons"][int(c)] = f"{state['n_used'][c]} results, below the floor of {least}"
        ok[:, c] = False


def _decode_located(dec, results, ok, cols, k, shift_free, state):
    """Batches decoded one by one, each locating its own liars (docs/method.rst 8)."""
    batch_out = np.full((k, cols.size, results.shape[2]), np.nan)
    for j, c in enumerate(cols):
        if not state["certified"][c]:
            continue
        try:
            batch_out[:, j] = _robust_decode(dec, results[:, c], ok[:, c], shift_free)
        except UncertifiedDecodeError as error:  # docs/method.rst 8: abstain
            state["certified"][c] = False
            state["reasons"][int(c)] = error.reason
        state["n_used"][c] -= int(dec.flagged_.sum())
    return batch_out


def _decode_patterns(dec, results, ok, cols, k, least):
    """``Y_hat = D_F Y[F]``, one matrix product per survivor set F (one per batch for GCV)."""
    n_outputs = results.shape[2]
    gcv = dec.plan_.lam_dec == "gcv"
    patterns, inverse = np.unique(ok[:, cols].T, axis=0, return_inverse=True)
    batch_out = np.empty((k, cols.size, n_outputs))
    for p, pattern in enumerate(patterns):
        members = np.flatnonzero(inverse.ravel() == p)
        survivors = np.flatnonzero(pattern)
        if survivors.size < least:  # refused above
            batch_out[:, members, :] = np.nan
            continue
        Y = results[survivors][:, cols[members], :]  # (|F|, G, n_outputs)
        if gcv:  # one lam per batch, chosen from its own results
            for j, b in enumerate(members):
                D = dec.decoding_matrix(survivors, Y[:, j, :])
                batch_out[:, b, :] = D @ Y[:, j, :]
        else:
            D = dec.decoding_matrix(survivors)
            batch_out[:, members, :] = (D @ Y.reshape(survivors.size, -1)).reshape(
                k, members.size, n_outputs
            )
    return batch_out


def _robust_decode(decoder, Y, ok, shift_free):
    """One batch through a decoder with ``n_adversaries > 0``.

    With ``shift_free`` the liars are located on ``Y`` minus each row's mean over
    the columns, and ``Y`` is decoded linearly from the rest.
    """
    if not shift_free or Y.shape[1] < 2:
        return decoder.transform(Y, ok)
    decoder.transform(Y - Y.mean(axis=1, keepdims=True), ok)
    survivors = np.flatnonzero(ok & ~decoder.flagged_)
    return apply_operator(decoder.decoding_matrix(survivors, Y[survivors]), Y[survivors])


# --------------------------------------------------------------------------------------
# The serving path: a request's layout drawn once, operators kept across requests.


class Codec:
    """The operators of one coding configuration, kept across requests (docs/method.rst 3).

    A request needs the encoder matrix E of each batch size k (one for the full
    batches, one for a short last batch) and a decoder matrix D_F for each
    survivor set F. They depend only on the configuration, so a coded
    estimator keeps one ``Codec`` while its coding parameters stay the same and
    no request builds an estimator or validates parameters per batch.

    ``decoders(k, masks)`` returns D_F embedded in the N columns, zero in the
    columns of the missing workers: ``Y_hat = D_F Y[F] = D_full Y0`` with ``Y0``
    the results with missing rows set to 0, so batches of different survivor
    sets are decoded in one batched matrix product. The embedded matrices are
    kept per survivor set in a cache bounded in bytes.

    Parameters
    ----------
    config : CodingPlan
        With ``n_private == 0`` (padding draws fresh noise per request and is
        encoded by :func:`encode_groups`).
    """

    #: bytes of embedded decoder matrices kept per codec, and the most survivor sets
    max_bytes, max_entries = 16 * 2**20, 4096

    def __init__(self, config):
        self.config = config
        self._encoder, self._decoder = make_coders(config)
        self._encoders = {}
        self._gains = {}  # k -> max_i sum_j |E_ij| (coded_is_finite)
        self._fitted_decoders = {}
        self._slots = {}  # k -> ({survivor-set key: index}, stacked embedded matrices)
        self._seen = SecondSight()  # a set is kept from its second sight on
        self.hits = self.misses = 0  # batches whose survivor set was kept, and not
        #: seconds to the first tasks' results of recent requests (hedge_after="auto")
        self.hedge_samples = collections.deque(maxlen=256)
        self._lock = threading.Lock()

    def encoding_matrix(self, k, rows):
        """E (N, k), read-only; ``rows`` (k of them) only give the fit its columns."""
        E = self._encoders.get(k)
        if E is None:
            E = self._encoder().fit(rows).encoding_matrix(k)
            self._encoders[k] = E
        return E

    def coded_is_finite(self, groups, bound, dtype):
        """True when no coded entry ``(E x)_i`` of ``groups`` can overflow ``dtype``.

        ``|(E x)_i| <= sum_j |E_ij| |x_j| <= max_i sum_j |E_ij| * max|x|`` (``bound``
        = max|x|, from :func:`~sklearn_coded.estimators._serving.request_rows`); a
        factor 2 below the largest float covers the rounding of the sum. False when
        ``bound`` is unknown (None) or too large: the entries are then checked.
        """
        if bound is None:
            return False
        gains = []
        for group in groups:
            k = group.slots.shape[1]
            gain = self._gains.get(k)
            if gain is None:  # after encode_request: E is cached by then
                gain = self._gains[k] = float(np.abs(self._encoders[k]).sum(axis=1).max())
            gains.append(gain)
        return 2.0 * max(gains) * float(bound) < float(np.finfo(dtype).max)  # inf: False

    def decoder(self, k):
        """The fitted layer-2 decoder for k rows (its ``decoding_matrix`` is the slow path)."""
        dec = self._fitted_decoders.get(k)
        if dec is None:
            dec = self._decoder(k).fit(np.zeros((self.config.n_coded, 1)))
            self._fitted_decoders[k] = dec
        return dec

    def decoders(self, k, masks):
        """Embedded decoder matrices for survivor masks (n, N): ``(D, index)``.

        ``D[index[b]]`` (k, N) decodes the batch of ``masks[b]``. A survivor set
        seen twice is kept (up to ``max_bytes`` and ``max_entries``, then the
        cache starts again) in one stacked array per k, found by the set's bits:
        a request costs one dictionary look-up per distinct set, and no operator
        construction once its sets are kept. A set seen once is built for this
        call only, and not kept by the operator caches either: on a cluster the
        interleaved assignment of coded rows to physical workers is drawn per
        request, so most sets never come back. Thread-safe.
        """
        n_coded = masks.shape[1]
        if n_coded <= 62:  # the set as the bits of one integer
            keys = (masks @ _BITS[:n_coded]).tolist()
            with self._lock:  # every set seen before: one dictionary look-up per batch
                slots, stack = self._slots.get(k, ({}, None))
                where = list(map(slots.get, keys))  # None for a set not seen yet
                known = None not in where
                self.hits += len(where) if known else 0
            if known:
                return stack, np.array(where, dtype=np.intp)
            unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            names = unique.tolist()
        else:
            packed = np.packbits(masks, axis=1)
            unique, first, inverse = np.unique(
                packed, axis=0, return_index=True, return_inverse=True
            )
            names = [row.tobytes() for row in unique]
        size = k * n_coded * 8
        with self._lock:
            slots, stack = self._slots.get(k, ({}, np.empty((0, k, n_coded))))
            new = [p for p, name in enumerate(names) if name not in slots]
            n_new = int(np.bincount(inverse.ravel(), minlength=len(names))[new].sum())
            self.hits, self.misses = self.hits + inverse.size - n_new, self.misses + n_new
            sights = {p: self._seen.admit((k, names[p])) for p in new}
            kept = [p for p in new if sights[p][0]]
            if kept:
                n_kept = len(slots) + len(kept)
                moved, old_stack = {}, stack  # sets kept before a restart: copied over
                if n_kept * size > self.max_bytes or n_kept > self.max_entries:  # start again
                    kept = [p for p in range(len(names)) if p in kept or names[p] in slots]
                    moved, slots, stack = slots, {}, stack[:0]
                needed = len(slots) + len(kept)
                if needed > len(stack):  # only when empty (first set, or a restart):
                    # room for every set the bounds allow, at once; an anonymous mapping
                    # commits no memory until a set is written, and no set is ever copied
                    # to a larger array (a copy left the client's resident memory a step
                    # higher in the soak of bench_serving_soak.py)
                    room = max(needed, min(self.max_entries, self.max_bytes // size))
                    stack = np.frombuffer(mmap.mmap(-1, room * size), dtype=np.float64)
                    stack = stack.reshape(room, k, n_coded)
                for p in kept:
                    # kept before the restart, else built at its first sight (or None)
                    held = old_stack[moved[names[p]]] if names[p] in moved else sights[p][1]
                    slots[names[p]] = len(slots)
                    if held is None:
                        self._embed(stack[slots[names[p]]], masks[first[p]], k)
                    else:
                        stack[slots[names[p]]] = held
                self._slots[k] = (slots, stack)
            if all(name in slots for name in names):
                where = np.fromiter((slots[name] for name in names), np.intp, len(names))
                return stack, where[inverse.ravel()]
            out = np.empty((len(names), k, n_coded))  # this call's sets, kept or not
            for p, name in enumerate(names):
                if name in slots:
                    out[p] = stack[slots[name]]
                else:
                    self._embed(out[p], masks[first[p]], k)
                    self._seen.hold((k, name), out[p].copy())
        return out, inverse.ravel()

    def _embed(self, target, mask, k):
        """Write D_F of the survivors ``mask`` into ``target`` (k, N), zero elsewhere."""
        survivors = np.flatnonzero(mask)
        target[:] = 0.0
        with transient():  # kept here if it recurs, not again in the operator caches
            target[:, survivors] = self.decoder(k).decoding_matrix(survivors)


def request_layout(n_samples, batch_size, *, n_draws=1, fixed_size=False, rng=None, min_size=2):
    """The batches of a whole request, for every draw: a list of (draw, groups).

    Drawn once per request, so that cutting the request into chunks (see
    :func:`chunk_layout`) changes no permutation: batch b of draw j holds rows
    ``b K .. (b + 1) K - 1`` in a random order drawn for that batch alone.
    Without ``rng`` the layout depends on its arguments alone: it is kept (read-only
    arrays, a few recent shapes) and shared by the requests of the same size.
    """
    key = (n_samples, batch_size, n_draws, fixed_size, min_size)
    if rng is None:
        layout = _LAYOUTS.get(key)
        if layout is not None:
            return layout
    layout = [
        batch_groups(n_samples, batch_size, fixed_size=fixed_size, rng=rng, min_size=min_size)
        for _ in range(n_draws)
    ]
    if rng is None:
        for group in (group for groups in layout for group in groups):
            group.slots.flags.writeable = group.keep.flags.writeable = False
        if len(_LAYOUTS) >= 64:  # request sizes come and go: stay bounded
            _LAYOUTS.clear()
        _LAYOUTS[key] = layout
    return layout


#: the bit of each of up to 62 coded workers: a survivor set as one integer
_BITS = np.int64(1) << np.arange(62, dtype=np.int64)

#: (n_samples, batch_size, n_draws, fixed_size, min_size) -> an unpermuted request layout
_LAYOUTS = {}


def chunk_layout(layout, batch_size, start, stop):
    """The groups of rows ``start..stop`` (whole batches) of a request's layout.

    Returns ``(groups, columns)``: the groups with row indices relative to
    ``start``, and each of their batches' column in the request (draw-major,
    then batch index), where the request-wide straggler mask is read. A chunk
    that is the whole request is its layout's groups as they are, and its columns
    a ``slice`` of them all.
    """
    b0, b1 = start // batch_size, -(-stop // batch_size)
    n_batches = sum(g.slots.shape[0] for g in layout[0])
    if b0 == 0 and b1 >= n_batches:  # the whole request: nothing to cut or shift
        return [group for groups in layout for group in groups], slice(None)
    groups, columns = [], []
    for draw, draw_groups in enumerate(layout):
        first = 0
        for group in draw_groups:
            n = group.slots.shape[0]
            lo, hi = max(b0, first), min(b1, first + n)
            if lo < hi:
                part = slice(lo - first, hi - first)
                groups.append(Group(group.slots[part] - start, group.keep[part], group.contiguous))
                columns.append(draw * n_batches + np.arange(lo, hi))
            first += n
    return groups, np.concatenate(columns)


def encode_request(X, groups, codec, *, batch_major=False):
    """Coded rows of every batch, worker-major (N, n_batches, n_features), no padding.

    ``X_coded = E X`` (docs/method.rst 3): one matrix product per batch size, on the
    (k, n_batches * n_features) block of the batches' rows. ``batch_major=True``
    (in process): one batched product ``E X_b`` per batch size instead, whose
    (n_batches, N, n_features) result is returned as its worker-major view
    (``transpose(1, 0, 2)``): the same values, without gathering the batches'
    rows into one block, and the rows lie in memory batch after batch (see
    :func:`~sklearn_coded.execution._run.run_drawn`).
    """
    n_features = X.shape[1]
    blocks = []
    for group in groups:
        n_batches, k = group.slots.shape
        E = codec.encoding_matrix(k, X[group.slots[0]])
        if group.contiguous:  # consecutive rows: a view, no gather
            first = group.slots[0, 0]
            batch = X[first : first + n_batches * k].reshape(n_batches, k, n_features)
        else:  # (n_batches, k, n_features), rows in the order of alpha
            batch = X[group.slots]
        if batch_major:  # (n_batches, N, n_features): E X_b for every batch b at once
            blocks.append(apply_operator(E, batch))
            continue
        # contiguous, or BLAS is skipped (numpy's matmul loops over strided operands)
        stacked = np.ascontiguousarray(batch.transpose(1, 0, 2)).reshape(k, n_batches * n_features)
        blocks.append(apply_operator(E, stacked).reshape(-1, n_batches, n_features))
    if batch_major:
        coded = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=0)
        return coded.transpose(1, 0, 2)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)


def decode_request(results, returned, groups, codec, n_samples, out=None, *, usable=False):
    """Add the decoded outputs of every batch into ``out`` (n_samples, n_outputs).

    ``Y_hat = D_F Y[F]`` for the survivors F of each batch (docs/method.rst 3): one
    matrix product when every batch has the same survivors, else one batched
    product with the embedded matrices of :meth:`Codec.decoders`. Interpolating
    or fixed-lam decoders only (no GCV, no located liars: see
    :func:`decode_groups`). ``usable=True``: ``returned`` already excludes the
    rows that are not finite (:func:`~sklearn_coded.execution._collect.finite_rows`),
    so they are not checked again.
    """
    n_coded, _, n_outputs = results.shape
    ok = np.asarray(returned, dtype=bool) if usable else finite_rows(results, among=returned)
    Y = np.array(results, dtype=np.float64)  # a copy: the missing rows become 0
    Y[~ok] = 0.0
    if out is None:
        out = np.zeros((n_samples, n_outputs))
    start = 0
    for group in groups:
        n_batches, k = group.slots.shape
        cols = slice(start, start + n_batches)
        start += n_batches
        D, index = codec.decoders(k, ok[:, cols].T)
        if (index == index[0]).all():  # one survivor set: one product on (N, n_batches * n_outputs)
            block = (D[index[0]] @ Y[:, cols].reshape(n_coded, -1)).reshape(k, n_batches, n_outputs)
            per_slot = block.transpose(1, 0, 2)
        else:
            per_slot = np.matmul(D[index], Y[:, cols].transpose(1, 0, 2))
        if group.contiguous and group.keep.all():  # consecutive rows in order: a slice
            first = group.slots[0, 0]
            out[first : first + n_batches * k] += per_slot.reshape(-1, n_outputs)
        elif group.keep.all():
            out[group.slots.ravel()] += per_slot.reshape(-1, n_outputs)
        else:
            out[group.slots[group.keep]] += per_slot[group.keep]
    return out
