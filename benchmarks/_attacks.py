"""Attack models and decoding helpers shared by the Byzantine benchmarks.

Moved out of ``bench_adversarial.py`` unchanged: the adversary's side (liars
drawn by :mod:`sklearn_coded.execution`'s models, the white-box evasive liar) and
the decoders' side (each locator on one batch, the linear decoder told the liars,
the certified decoders under chosen-position attacks).
"""

import time

import numpy as np
from sklearn.base import clone

from sklearn_coded import BerrutDecoder, BerrutEncoder, SplineDecoder, SplineEncoder
from sklearn_coded.coding import UncertifiedDecodeError, certified_adversaries
from sklearn_coded.coding._byzantine import code_basis
from sklearn_coded.execution import ChoosingAdversaries
from sklearn_coded.operators import (
    SPAN_METHODS,
    locate_loo,
    locate_rational,
    locate_span,
    rational_locator_bound,
    span_candidate_scores,
)
from sklearn_coded.operators._loo import _roughness_matrix, candidate_scores
from sklearn_coded.operators._robust import _column_space

K, N, S, T, NOISE = 16, 80, 4, 2, 0.3

CODES = {
    # label: (encoder, decoder, points, n_private, locators)
    "spline": (SplineEncoder, SplineDecoder, "interior", 0, ("lts", "irls", "trim", "loo")),
    "berrut": (BerrutEncoder, BerrutDecoder, "chebyshev", 0, ("lts", "irls", "trim", "rational")),
    "spline_private": (SplineEncoder, SplineDecoder, "interior", T, ("lts", "irls", "trim", "loo")),
    "berrut_private": (
        BerrutEncoder,
        BerrutDecoder,
        "chebyshev",
        T,
        ("lts", "irls", "trim", "rational"),
    ),
}


class Logits:
    """The MLP's logits as a method, for run_workers."""

    def __init__(self, f):
        self.f = f

    def logits(self, X):
        return self.f(X)


def coders(code, seed=0):
    encoder_cls, decoder_cls, points, n_private, _ = CODES[code]
    # A small fixed padding whose leakage is accepted (max_leakage=1.0): liars are the point.
    private = (
        {"n_private": n_private, "noise_scale": NOISE, "max_leakage": 1.0} if n_private else {}
    )
    encoder = encoder_cls(N, points=points, random_state=seed, **private)
    decoder = decoder_cls(K, points=points, n_private=n_private)
    return encoder, decoder


def encode_batches(X, code, rng, n_batches):
    encoder, decoder = coders(code, seed=rng.randint(2**31))
    rows = np.array([rng.choice(len(X), K, replace=False) for _ in range(n_batches)])
    encoder.fit(X[rows[0]])
    coded = np.stack([encoder.transform(X[r]) for r in rows], axis=1)  # (N, B, d)
    return rows, coded, decoder.fit(np.zeros((N, 10)))  # 10 logits


def locate(locator, decoder, F, Y, A, threshold):
    """Flags over the survivors F of one batch."""
    beta = decoder.coded_points_[F]
    if locator == "decoder":  # the shipped path: the decoder told n_adversaries
        robust = clone(decoder).set_params(n_adversaries=A).fit(np.zeros((N, Y.shape[1])))
        full = np.full((N, Y.shape[1]), np.nan)
        full[F] = Y
        robust.transform(full)
        return robust.flagged_[F]
    if locator in SPAN_METHODS:
        return locate_span(code_basis(decoder, F), Y, A, threshold=threshold, method=locator)
    if locator == "loo":
        return locate_loo(beta, Y, A, threshold=threshold)
    r = code_basis(decoder, F).shape[1]
    den = r - 1 if decoder.scheme == "berrut" else 0
    if len(F) < rational_locator_bound(r - 1, den, A):
        return None  # beyond the rational locator's bound
    return locate_rational(beta, Y, A, num_degree=r - 1, den_degree=den)


def clean_scores(locator, decoder, F, Y, A):
    """The largest confirmation score of the A candidates of a clean batch."""
    flags = locate(locator, decoder, F, Y, A, 0.0)
    if locator == "loo":
        return candidate_scores(decoder.coded_points_[F], Y, flags).max()
    return span_candidate_scores(code_basis(decoder, F), Y, flags).max()


def linear_decode(decoder, Y, keep):
    """The linear decoder (A = 0) on the rows ``keep``."""
    return decoder.transform(np.where(keep[:, None], Y, np.nan))


def quadratic_form(locator, decoder, F, bad):
    """G: the locator's statistic on the liars' rows is v' G v for an error v there."""
    if locator == "loo":
        K_matrix = _roughness_matrix(decoder.coded_points_[F])  # y' K y, eq. (L0)
        return K_matrix[np.ix_(bad, bad)]
    U = _column_space(code_basis(decoder, F))[0]
    projector = np.eye(len(F)) - U @ U.T  # I - H, eq. (S)
    return projector[np.ix_(bad, bad)]


def evasive_lies(locator, decoder, F, Y, bad, spread, A, threshold, target=0):
    """The white-box liars' largest shift of the target class that the locator misses."""
    bad = np.flatnonzero(bad)
    D = decoder.decoding_matrix(F)
    G = quadratic_form(locator, decoder, F, bad)
    gain = D[:, bad].sum(axis=0)  # d(sum_k decoded_k,target) / d(error on each liar)
    v = np.linalg.solve(G + 1e-12 * np.trace(G) * np.eye(len(bad)), gain)
    v /= np.abs(v).max()

    def lie(size):
        out = Y.copy()
        out[bad, target] += size * spread[target] * v
        return out

    def caught(size):
        return locate(locator, decoder, F, lie(size), A, threshold)[bad].any()

    lo, hi = 0.0, 1e4
    if not caught(hi):
        return lie(hi), hi
    for _ in range(30):  # bisection on the size the locator lets through
        mid = np.sqrt(max(lo, 1e-3) * hi)
        lo, hi = (mid, hi) if not caught(mid) else (lo, mid)
    return lie(lo), lo


def interval(values):
    values = np.asarray(values, dtype=float)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return [float(values.mean() - half), float(values.mean() + half)]


#: Chosen-position attacks of issue 16 (ChoosingAdversaries: position, lie).
CHOSEN_ATTACKS = [
    ("stragglers", "weakest"),
    ("ends", "weakest"),
    ("weakest", "weakest"),
    ("weakest", "frame"),
    ("stragglers", "smooth"),
    ("stragglers", "shift"),
    ("random", "gross"),
]
CERTIFIED_CODES = {
    # label: (decoder class, points, n_private, N)
    "spline": (SplineDecoder, "interior", 0, N),
    "berrut": (BerrutDecoder, "chebyshev", 0, N),
    "spline_private": (SplineDecoder, "interior", T, N),
    "spline_private_N120": (SplineDecoder, "interior", T, 120),
}
ENCODERS = {SplineDecoder: SplineEncoder, BerrutDecoder: BerrutEncoder}
# 8 batches per cell and lies of 30 spreads only: check (c) made the robust decode
# slower, on a machine shared at load 20-30; the model seeds run in parallel processes
CERT_FULL = {"batches": 8, "seeds": (0, 1, 2), "mlp_iter": 300, "scales": (30.0,)}
CERT_QUICK = {"batches": 6, "seeds": (0,), "mlp_iter": 60, "scales": (3.0, 30.0)}


def _certified_batches(f, X, code, n_batches, rng):
    """Clean centred results (N, B, 10), stragglers' mask, and the fitted public decoder."""
    decoder_cls, points, n_private, n_coded = CERTIFIED_CODES[code]
    # a small fixed padding whose leakage is accepted (max_leakage=1.0): liars are the point
    private = (
        {"n_private": n_private, "noise_scale": NOISE, "max_leakage": 1.0} if n_private else {}
    )
    encoder = ENCODERS[decoder_cls](n_coded, points=points, **private).fit(X[:K])
    rows = [rng.choice(len(X), K, replace=False) for _ in range(n_batches)]
    results = np.stack([f(encoder.transform(X[r])) for r in rows], axis=1)
    results -= results.mean(axis=2, keepdims=True)  # row-centred, as the estimators locate
    returned = np.ones(results.shape[:2], dtype=bool)
    for b in range(n_batches):
        returned[rng.choice(n_coded, S, replace=False), b] = False
    results[~returned] = np.nan
    return results, returned, (decoder_cls, points, n_private)


def _decode_batch(decoder, Y, ok):
    """(decoded or None when refused, seconds)."""
    tic = time.perf_counter()
    try:
        out, reason = decoder.transform(Y, ok), None
    except UncertifiedDecodeError as error:
        out, reason = None, _REASONS[next(k for k in _REASONS if k in error.reason)]
    return out, time.perf_counter() - tic, reason


#: Which check refused a batch, by a phrase of its reason.
_REASONS = {
    "leaves the code undetermined": "a_rank",
    "dropping the results of workers": "c_stability",
    "more lowers": "b_excess",
    "is inconsistent": "b_consistency",
    "": "other",
}


def certified_cell(f, X, code, attack, n_liars, declared, scale, n_batches, rng):
    """Silent failures and certified fraction of one (code, attack, liars, declared) cell."""
    results, returned, (decoder_cls, points, n_private) = _certified_batches(
        f, X, code, n_batches, rng
    )
    n_coded = results.shape[0]
    public = decoder_cls(K, points=points, n_private=n_private)
    robust = decoder_cls(K, points=points, n_private=n_private, n_adversaries=declared)
    robust.fit(results[:, 0])
    linear = clone(public).fit(results[:, 0])
    if attack is None:
        corrupted, bad = results, np.zeros_like(returned)
    else:
        position, lie = attack
        model = ChoosingAdversaries(n_liars, code=public, position=position, lie=lie, scale=scale)
        corrupted, bad = model.corrupt(results, returned, random_state=rng)
    errors, certified, t_robust, t_linear, reasons = [], [], [], [], {}
    for b in range(n_batches):
        Y, ok = corrupted[:, b], returned[:, b]
        spread = np.nanstd(results[ok, b], axis=0)
        told = linear.transform(Y, ok & ~bad[:, b])  # the decoder told the liars
        tic = time.perf_counter()
        linear.transform(Y, ok)
        t_linear.append(time.perf_counter() - tic)
        out, seconds, reason = _decode_batch(robust, Y, ok)
        t_robust.append(seconds)
        if reason is not None:
            reasons[reason] = reasons.get(reason, 0) + 1
        certified.append(out is not None)
        if out is not None:
            errors.append(float(np.sqrt(np.mean(((out - told) / spread) ** 2))))
    errors = np.array(errors)
    return {
        "code": code,
        "N": n_coded,
        "attack": "none" if attack is None else "/".join(attack),
        "liars": int(n_liars if attack is not None else 0),
        "declared": declared,
        "scale": scale,
        "batches": n_batches,
        # the layout's fit-time bound (certified_adversaries; fit reports it up to A)
        "fit_time_bound": certified_adversaries(linear, S),
        "certified": float(np.mean(certified)),
        "silent_failures": int((errors > 3.0).sum()),
        "max_error_spreads": float(errors.max()) if errors.size else None,
        "refused_by": reasons,
        "decode_ms_robust": 1e3 * float(np.median(t_robust)),
        "decode_ms_linear": 1e3 * float(np.median(t_linear)),
    }


# ---------------------------------------------------------------- exact codes: l1 vs exhaustive
#: Exact codes timed: (code, K, T, N), S = 2 adjacent stragglers, liars next to them.
EXACT_TIMING = (("rotation", 4, 1, 24), ("chebyshev", 4, 1, 24))


def exact_timing(repeats=5, seed=0):
    """Decode time of ExactDecoder with n_adversaries = 1..4 against without, per locator.

    A linear f (10 outputs) on every worker, S = 2 adjacent stragglers, A gross
    liars next to them; each locator's decode is checked against the decoder
    told the liars (max error relative to the outputs' scale) and its flags
    against the liars. Medians over ``repeats`` batches, measured side by side.
    """
    from sklearn_coded.coding import ExactDecoder
    from sklearn_coded.operators import exact_code, exact_decode, l1_recovery_bound

    rng = np.random.default_rng(seed)
    rows = []
    for name, K, T, N in EXACT_TIMING:
        code = exact_code(name, K, N, n_private=T)
        share, stragglers = code.share, np.arange(N // 2, N // 2 + 2)
        workers = np.setdiff1d(np.arange(N), stragglers)
        tic = time.perf_counter()
        proven = l1_recovery_bound(code, workers)[0]
        bound_s = time.perf_counter() - tic
        for A in range(1, 5):
            liars = np.arange(N // 2 - A, N // 2)
            times = {"linear": [], "exhaustive": [], "l1": [], "auto": []}
            errors, flags_ok, used = {k: [] for k in times if k != "linear"}, {}, []
            for _ in range(repeats):
                X = np.vstack([rng.normal(size=(K, 6)), 100 * rng.normal(size=(share * T, 6))])
                pad = np.zeros((code.n_data_rows - K, 6))
                Y = code.encoder @ np.vstack([X[:K], pad, X[K:]]) @ rng.normal(size=(6, 10))
                Y[(stragglers[:, None] * share + np.arange(share)).ravel()] = np.nan
                bad = (liars[:, None] * share + np.arange(share)).ravel()
                Y[bad] += (
                    30 * np.abs(Y[np.isfinite(Y[:, 0])]).max() * rng.normal(size=(bad.size, 10))
                )
                honest = np.setdiff1d(workers, liars)
                told = exact_decode(
                    code, honest, Y[(honest[:, None] * share + np.arange(share)).ravel()]
                )
                for locator in times:
                    dec = ExactDecoder(
                        K,
                        code=name,
                        n_private=T,
                        n_adversaries=0 if locator == "linear" else A,
                        locator="auto" if locator == "linear" else locator,
                    ).fit(Y)
                    ok = np.isfinite(Y)
                    tic = time.perf_counter()
                    try:
                        out = dec.transform(Y if locator != "linear" else np.where(ok, Y, np.nan))
                    except UncertifiedDecodeError:
                        out = None
                    times[locator].append(time.perf_counter() - tic)
                    if locator == "auto":
                        used.append(dec.located_by_)
                    if locator == "linear":
                        continue
                    errors[locator].append(
                        np.inf
                        if out is None
                        else float(np.abs(out - told).max() / np.abs(told).max())
                    )
                    flags_ok.setdefault(locator, []).append(
                        out is not None and np.array_equal(np.flatnonzero(dec.flagged_), liars)
                    )
            row = {
                "code": name,
                "K": K,
                "T": T,
                "N": N,
                "S": 2,
                "A": A,
                "l1_proven_bound": proven,
                "l1_bound_seconds": bound_s,
                "l1_proven": bool(proven >= A),
            }
            row["auto_located_by"] = sorted(set(used))
            for k, v in times.items():
                row[f"ms_{k}"] = 1e3 * float(np.median(v))
            for k in errors:
                row[f"max_rel_error_{k}"] = float(np.max(errors[k]))
                row[f"located_{k}"] = float(np.mean(flags_ok[k]))
                row[f"ratio_{k}_to_linear"] = row[f"ms_{k}"] / row["ms_linear"]
            rows.append(row)
            print("exact timing:", row, flush=True)
    return rows


def _rate(rows):
    """Certified honest batches over the cells ``rows``: fraction and counts."""
    n = sum(r["batches"] for r in rows)
    k = sum(round(r["certified"] * r["batches"]) for r in rows)
    return {"certified": k / n if n else None, "certified_batches": k, "batches": n}


def plot_certified(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    codes = list(CERTIFIED_CODES)
    attacks = ["none"] + ["/".join(a) for a in CHOSEN_ATTACKS]
    width = 0.8 / len(codes)
    for i, code in enumerate(codes):
        values = [
            np.mean([r["certified"] for r in rows if r["code"] == code and r["attack"] == a])
            for a in attacks
        ]
        ax.bar(np.arange(len(attacks)) + i * width, values, width, label=code)
    ax.set_xticks(np.arange(len(attacks)) + 0.4 - width / 2, attacks, rotation=30, ha="right")
    ax.set_ylabel("certified fraction of batches")
    ax.set_title("Certified decoding under chosen-position attacks (silent failures: see JSON)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def honest_seed(seed, config):
    """Honest cells (no liar) of every certified code at A = 2, 3, one model seed."""
    from bench_accuracy import mlp_model

    f, X_test, *_ = mlp_model({"mlp_iter": config["mlp_iter"]}, seed)
    rng = np.random.RandomState(200 + seed)
    rows = []
    for code in CERTIFIED_CODES:
        for declared in (2, 3):
            row = certified_cell(f, X_test, code, None, 0, declared, 0.0, config["batches"], rng)
            rows.append(row | {"seed": seed})
            print(
                f"honest seed={seed} {code:20s} A={declared} bound={row['fit_time_bound']} "
                f"certified={row['certified']:.3f} refused_by={row['refused_by']}",
                flush=True,
            )
    return rows


def plot(rows, path):
    """The shipped locator (solid) against the code's older one (dotted), per code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for color, (code, spec) in zip(("C0", "C1", "C2", "C3"), CODES.items(), strict=True):
        for loc in ("lts", spec[4][-1]):
            style = "o-" if loc == "lts" else "x:"
            label = f"{code}: {'span (lts)' if loc == 'lts' else loc}"
            g = [
                r
                for r in rows
                if r["code"] == code and r["locator"] == loc and r["adversary"] == "GrossErrors"
            ]
            gA = sorted((r for r in g if r["scale"] == 10.0), key=lambda r: r["A"])
            gs = sorted((r for r in g if r["A"] == 3), key=lambda r: r["scale"])
            kw = {"color": color, "label": label}
            axes[0].semilogy([r["A"] for r in gA], [r["ratio_to_oracle"] for r in gA], style, **kw)
            axes[1].semilogx([r["scale"] for r in gs], [r["recall"] or 0 for r in gs], style, **kw)
            axes[2].semilogx([r["scale"] for r in gs], [r["agree"] for r in gs], style, **kw)
    axes[0].set(xlabel="A (gross errors, 10 spreads)", ylabel="MSE / told decoder's")
    axes[1].set(xlabel="error size (spreads), A = 3", ylabel="detection recall")
    axes[2].set(xlabel="error size (spreads), A = 3", ylabel="argmax agreement")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Byzantine workers, digits MLP, K={K}, N={N}, S={S}; *_private: T={T}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
