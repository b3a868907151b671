"""Byzantine workers: decoding error, detection and accuracy, locator against locator.

An MLP on ``load_digits`` (the model of ``bench_accuracy.py``); batches of K = 16
test rows, N = 80 workers, S = 4 stragglers, and A Byzantine workers drawn by
the adversary models of :mod:`sklearn_coded.execution` (gross errors of size
``scale`` times the results' spread, sign flips, a small targeted shift, and the
adaptive block of adjacent colluders). Four codes, each with the locators that
apply to it, side by side on identical batches and draws:

- ``spline`` (interior points, the estimator's default), ``berrut`` (Chebyshev
  points, where ApproxIFER's rational locator works), and the same two padded
  with noise rows for T = 2 colluders (``*_private``, ``noise_scale`` 0.3, about
  one standard deviation of the pixels, in the default "alternate" layout);
- locators: ``lts``, ``irls`` and ``trim``, the three ways
  :func:`~sklearn_coded.operators.locate_span` chooses its candidates in the span
  of the code (least trimmed squares by local search, the shipped default; a
  robust IRLS fit, Huber then bisquare; iterative trimming), ``loo``
  (leave-one-out spline residuals with trimming,
  :func:`~sklearn_coded.operators.locate_loo`) and ``rational`` (ApproxIFER's
  locator, Berrut only; it flags exactly A rows, so it needs no threshold);
- for each code, ``oracle``: the linear decoder told the bad rows, and
  ``naive``: the linear decoder on every result.

Every thresholded locator is raced at its best: its threshold is the 99.9%
quantile of its clean scores on held-out rows (the training split, no liars) for
that code, so all of them wrongly drop a row in about 0.1% of clean batches; the
shipped ``SPAN_THRESHOLD`` is checked against the same quantiles. An *evasive*
adversary, white-box, shows what a liar who knows the code, the survivors and the
locator can do: its 3 liars shift the target class along the direction that
moves the decoded rows most per unit of the locator's statistic
(``v = G^{-1} D_bad' 1``, G the locator's quadratic form on the liars' rows), as
far as the locator lets it (largest size, by bisection, at which no liar is
flagged). Reported per cell (mean over batches, and a 95% interval of the mean):
MSE of the decoded logits against the model's logits and its ratio to the
oracle's, the fraction of batches whose bad rows were all flagged, detection
precision and recall, argmax agreement with the bare model. A last cell runs the
real path: a thread pool via ``run_workers(..., adversaries=...)``, and
``CodedClassifier`` end to end (all test rows, in process and on a thread pool,
with and without ``n_adversaries=3`` and ``n_private=2``, against 3 gross liars).

Run ``python benchmarks/bench_adversarial.py`` (about 11 minutes here) or ``--quick``.
Writes ``benchmarks/results/adversarial.json`` and ``adversarial.png``.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import mlp_model

from sklearn_coded import BerrutDecoder, BerrutEncoder, SplineDecoder, SplineEncoder
from sklearn_coded.coding import UncertifiedDecodeError
from sklearn_coded.coding._byzantine import code_basis
from sklearn_coded.execution import (
    AdaptiveAdversaries,
    ChoosingAdversaries,
    FixedStragglers,
    GrossErrors,
    SignFlips,
    TargetedShift,
    run_workers,
)
from sklearn_coded.operators import (
    SPAN_METHODS,
    SPAN_THRESHOLD,
    locate_loo,
    locate_rational,
    locate_span,
    rational_locator_bound,
    span_candidate_scores,
)
from sklearn_coded.operators._loo import _roughness_matrix, candidate_scores
from sklearn_coded.operators._robust import _column_space

RESULTS = Path(__file__).resolve().parent / "results"
K, N, S, T, NOISE = 16, 80, 4, 2, 0.3
FULL = {"batches": 200, "evasive_batches": 80, "held_out": 800, "mlp_iter": 500, "real_batches": 40}
QUICK = {"batches": 20, "evasive_batches": 8, "held_out": 50, "mlp_iter": 60, "real_batches": 4}

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


def run_cell(f, X, code, adversaries, A, thresholds, config, rng, locators=None):
    evasive = adversaries == "evasive"  # white-box, slow: fewer batches
    n_batches = config["evasive_batches" if evasive else "batches"]
    rows, coded, decoder = encode_batches(X, code, rng, n_batches)
    results, returned = run_workers(
        Logits(f), "logits", coded, stragglers=FixedStragglers(S), random_state=rng
    )
    if evasive:  # lies chosen per locator below
        corrupted, bad = results, np.zeros(returned.shape, dtype=bool)
        for b in range(returned.shape[1]):
            bad[rng.choice(np.flatnonzero(returned[:, b]), A, replace=False), b] = True
    elif adversaries is not None:
        # A model draws its liars once per request; one request per batch here, so
        # that a cell averages over where the liars sit (one draw would fix them).
        corrupted, bad = results.copy(), np.zeros(returned.shape, dtype=bool)
        for b in range(returned.shape[1]):
            one = slice(b, b + 1)
            corrupted[:, one], bad[:, one] = adversaries.corrupt(
                results[:, one], returned[:, one], rng
            )
    else:
        corrupted, bad = results, np.zeros(returned.shape, dtype=bool)
    locators = locators or CODES[code][4]
    keys = ("mse", "agree", "all_flagged", "size")
    out = {loc: {k: [] for k in keys} | {"tp": 0, "fp": 0, "fn": 0} for loc in locators}
    out |= {"oracle": {"mse": [], "agree": []}, "naive": {"mse": [], "agree": []}}
    for b in range(coded.shape[1]):
        true = f(X[rows[b]])
        ret, is_bad = returned[:, b], bad[:, b]
        F = np.flatnonzero(ret)
        spread = results[F, b].std(axis=0)
        for name in ("oracle", "naive"):
            Y = corrupted[:, b]
            decoded = linear_decode(decoder, Y, ret & ~is_bad if name == "oracle" else ret)
            out[name]["mse"].append(((decoded - true) ** 2).mean())
            out[name]["agree"].append((decoded.argmax(1) == true.argmax(1)).mean())
        for loc in locators:
            Y = corrupted[:, b].copy()
            if evasive:
                Y[F], size = evasive_lies(
                    loc, decoder, F, results[F, b], is_bad[F], spread, A, thresholds[loc]
                )
                out[loc]["size"].append(size)
            flags = np.zeros(N, dtype=bool)
            located = locate(loc, decoder, F, Y[F], A, thresholds[loc])
            if located is None:
                break
            flags[F] = located
            decoded = linear_decode(decoder, Y, ret & ~flags)
            o = out[loc]
            o["mse"].append(((decoded - true) ** 2).mean())
            o["agree"].append((decoded.argmax(1) == true.argmax(1)).mean())
            o["all_flagged"].append(bool((flags | ~is_bad).all()))
            o["tp"] += int((flags & is_bad).sum())
            o["fp"] += int((flags & ~is_bad).sum())
            o["fn"] += int((~flags & is_bad).sum())
    oracle = float(np.mean(out["oracle"]["mse"]))
    cell = []
    for loc in locators:
        o = out[loc]
        if not o["mse"]:
            continue  # beyond the locator's bound
        mse, n_flags, n_bad = float(np.mean(o["mse"])), o["tp"] + o["fp"], o["tp"] + o["fn"]
        cell.append(
            {
                "code": code,
                "locator": loc,
                "threshold": thresholds[loc],
                "adversary": adversaries
                if isinstance(adversaries, str)
                else (type(adversaries).__name__ if adversaries else "none"),
                "scale": getattr(adversaries, "scale", None),
                "A": A,
                "mse": mse,
                "mse_ci": interval(o["mse"]),
                "mse_oracle": oracle,
                "mse_naive": float(np.mean(out["naive"]["mse"])),
                "ratio_to_oracle": mse / oracle if oracle > 0 else None,
                "all_flagged": float(np.mean(o["all_flagged"])),
                "precision": o["tp"] / n_flags if n_flags else None,
                "recall": o["tp"] / n_bad if n_bad else None,
                "false_flags_per_batch": o["fp"] / len(o["mse"]),
                "agree": float(np.mean(o["agree"])),
                "agree_ci": interval(o["agree"]),
                "agree_oracle": float(np.mean(out["oracle"]["agree"])),
                "agree_naive": float(np.mean(out["naive"]["agree"])),
                "evasive_size_median": float(np.median(o["size"])) if o["size"] else None,
            }
        )
    return cell


def threshold_study(f, X, config, rng):
    """Clean confirmation scores of every thresholded locator on held-out rows (no liars)."""
    study = {}
    for code, spec in CODES.items():
        _, coded, decoder = encode_batches(X, code, rng, config["held_out"])
        results, returned = run_workers(
            Logits(f), "logits", coded, stragglers=FixedStragglers(S), random_state=rng
        )
        for loc in spec[4]:
            if loc == "rational":
                continue
            scores = np.array(
                [
                    clean_scores(
                        loc, decoder, np.flatnonzero(returned[:, b]), results[returned[:, b], b], 3
                    )
                    for b in range(coded.shape[1])
                ]
            )
            study[f"{code}/{loc}"] = {
                "batches": len(scores),
                "quantiles": {
                    q: float(np.quantile(scores, float(q))) for q in ("0.5", "0.99", "0.999", "1.0")
                },
                "tuned_threshold": float(np.quantile(scores, 0.999)),
                "false_flag_rate_at_SPAN_THRESHOLD": float((scores > SPAN_THRESHOLD).mean())
                if loc in SPAN_METHODS
                else None,
            }
            print("threshold", code, loc, study[f"{code}/{loc}"]["quantiles"], flush=True)
    return study


def real_path(f, X, config, rng):
    """Thread pool: 4 threads, S = 4 stragglers, 3 gross liars, spline decoder A = 3."""
    rows, coded, decoder = encode_batches(X, "spline", rng, config["real_batches"])
    decoder.set_params(n_adversaries=3)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results, returned = run_workers(
            Logits(f),
            "logits",
            coded,
            executor=pool,
            stragglers=S,
            adversaries=GrossErrors(3),
            random_state=rng,
        )
    agree = []
    for b in range(coded.shape[1]):
        decoded = decoder.transform(results[:, b], returned[:, b])
        agree.append((decoded.argmax(1) == f(X[rows[b]]).argmax(1)).mean())
    return {
        "executor": "ThreadPoolExecutor(4)",
        "batches": coded.shape[1],
        "agree": float(np.mean(agree)),
        "seconds": time.perf_counter() - t0,
    }


def estimator_cells(X_train, y_train, X_test, config, seed):
    """CodedClassifier end to end, in process and on a thread pool, 3 gross liars.

    With and without ``n_adversaries=3``, and with and without ``n_private=2``
    (``noise_scale`` 0.05 and 0.3): all three at once.
    """
    from sklearn.neural_network import MLPClassifier

    from sklearn_coded.estimators import CodedClassifier

    out = []
    for n_private, noise_scale in ((0, 1.0), (T, 0.05), (T, NOISE)):
        for executor in (None, "threads"):
            for A in (0, 3):
                pool = ThreadPoolExecutor(4) if executor else None
                clf = CodedClassifier(
                    MLPClassifier((64,), max_iter=config["mlp_iter"], random_state=seed),
                    batch_size=K,
                    n_coded=N,
                    stragglers=S,
                    n_adversaries=A,
                    n_private=n_private,
                    noise_scale=noise_scale,
                    max_leakage=1.0,  # a small fixed padding, its leakage accepted
                    adversaries=GrossErrors(3, scale=10.0),
                    executor=pool,
                    random_state=seed,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    clf.fit(X_train, y_train)
                t0 = time.perf_counter()
                agree = float((clf.predict(X_test) == clf.estimator_.predict(X_test)).mean())
                seconds = time.perf_counter() - t0
                if pool is not None:
                    pool.shutdown()
                out.append(
                    {
                        "executor": executor or "in process",
                        "n_adversaries": A,
                        "n_private": n_private,
                        "noise_scale": noise_scale if n_private else None,
                        "agree": agree,
                        "predict_s": seconds,
                        "n_rows": len(X_test),
                    }
                )
                print("estimator:", out[-1], flush=True)
    return out


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


# ---------------------------------------------------------------- certified decoding
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
        "certified": float(np.mean(certified)),
        "silent_failures": int((errors > 3.0).sum()),
        "max_error_spreads": float(errors.max()) if errors.size else None,
        "refused_by": reasons,
        "decode_ms_robust": 1e3 * float(np.median(t_robust)),
        "decode_ms_linear": 1e3 * float(np.median(t_linear)),
    }


def _certified_seed(seed, config):
    """The rows of one model seed (run in its own process)."""
    f, X_test, *_ = mlp_model({"mlp_iter": config["mlp_iter"]}, seed)
    rng = np.random.RandomState(100 + seed)
    rows = []
    for code in CERTIFIED_CODES:
        for declared in (2, 3):
            cells = [(None, 0, 0.0)]
            for attack in CHOSEN_ATTACKS:
                for scale in config["scales"]:
                    cells.append((attack, declared, scale))  # up to the declared A
                cells.append((attack, 2 * declared, 30.0))  # more liars than declared
            for attack, n_liars, scale in cells:
                row = certified_cell(
                    f, X_test, code, attack, n_liars, declared, scale, config["batches"], rng
                )
                row["seed"] = seed
                rows.append(row)
                print(
                    f"seed={seed} {code:20s} A={declared} {row['attack']:20s} "
                    f"liars={row['liars']} scale={scale:4g} certified={row['certified']:.3f} "
                    f"silent={row['silent_failures']} max_err={row['max_error_spreads']} "
                    f"t={row['decode_ms_robust']:.2f}/{row['decode_ms_linear']:.3f} ms",
                    flush=True,
                )
    return rows


def certified_study(quick=False, out_dir=RESULTS):
    """Chosen-position attacks against the certified decoders (issue 16.4, 16.7, 16.8)."""
    config = CERT_QUICK if quick else CERT_FULL
    t_start = time.perf_counter()
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(len(config["seeds"])) as pool:
        parts = pool.map(_certified_seed, config["seeds"], [config] * len(config["seeds"]))
        rows = [row for part in parts for row in part]
    suffix = "_quick" if quick else ""
    (out_dir / f"adversarial_certified{suffix}_rows.json").write_text(json.dumps(rows))
    honest = [r for r in rows if r["attack"] == "none"]
    within = [r for r in rows if r["liars"] <= r["declared"]]
    beyond = [r for r in rows if r["liars"] > r["declared"]]
    summary = {
        "silent_failures": int(sum(r["silent_failures"] for r in within)),
        "silent_failures_more_liars_than_declared": int(sum(r["silent_failures"] for r in beyond)),
        "batches_within": int(sum(r["batches"] for r in within)),
        "batches_more_liars_than_declared": int(sum(r["batches"] for r in beyond)),
        "silent_failures_by_code": {
            code: [
                int(sum(r["silent_failures"] for r in within if r["code"] == code)),
                int(sum(r["silent_failures"] for r in beyond if r["code"] == code)),
            ]
            for code in CERTIFIED_CODES
        },
        "certified_under_attack_by_code": {
            code: float(
                np.mean([r["certified"] for r in within if r["code"] == code and r["liars"]])
            )
            for code in CERTIFIED_CODES
        },
        "certified_batches_under_attack": float(
            np.mean([r["certified"] for r in rows if r["attack"] != "none"])
        ),
        "certified_honest_by_code_and_A": {
            f"{code}/A={A}": float(
                np.mean(
                    [r["certified"] for r in honest if r["code"] == code and r["declared"] == A]
                )
            )
            for code in CERTIFIED_CODES
            for A in (2, 3)
        },
        "honest_refused_by_rank_by_code_and_A": {
            f"{code}/A={A}": int(
                sum(
                    r["refused_by"].get("a_rank", 0)
                    for r in honest
                    if r["code"] == code and r["declared"] == A
                )
            )
            for code in CERTIFIED_CODES
            for A in (2, 3)
        },
        "certified_honest_by_code": {
            code: float(np.mean([r["certified"] for r in honest if r["code"] == code]))
            for code in CERTIFIED_CODES
        },
        "decode_ms_robust_median": float(np.median([r["decode_ms_robust"] for r in rows])),
        "decode_ms_linear_median": float(np.median([r["decode_ms_linear"] for r in rows])),
    }
    summary["targets"] = {
        "zero_silent_failures_up_to_declared": summary["silent_failures"] == 0,
        "zero_silent_failures_more_than_declared": (
            summary["silent_failures_more_liars_than_declared"] == 0
        ),
        "certified_honest_99pct": {
            code: value >= 0.99 for code, value in summary["certified_honest_by_code"].items()
        },
    }
    print("summary:", json.dumps(summary, indent=1))
    payload = {
        "config": {"K": K, "N": N, "S": S, "T": T, "noise_scale": NOISE, **config},
        "summary": summary,
        "rows": rows,
        "platform": platform.platform(),
        "seconds": time.perf_counter() - t_start,
        "note": "timings on a 2-core machine shared with other jobs: ratios, not absolutes",
    }
    (out_dir / f"adversarial_certified{suffix}.json").write_text(json.dumps(payload, indent=1))
    plot_certified(rows, out_dir / f"adversarial_certified{suffix}.png")
    return payload


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--certified", action="store_true", help="only the certified-decoding study (issue 16)"
    )
    args = parser.parse_args(argv)
    if args.certified:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        certified_study(args.quick, args.out_dir)
        return
    config = dict(QUICK if args.quick else FULL)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    f, X_test, _, X_train, y_train, info = mlp_model(config, args.seed)
    rng = np.random.RandomState(args.seed + 1)

    study = threshold_study(f, X_train, config, rng)  # held-out rows: the training split

    def thresholds(code):
        tuned = {
            loc: study[f"{code}/{loc}"]["tuned_threshold"]
            for loc in CODES[code][4]
            if loc != "rational"
        }
        return tuned | {"rational": None}

    cells = [(GrossErrors(A, scale=10.0), A) for A in (1, 2, 3, 4, 6)]
    cells += [(GrossErrors(3, scale=s), 3) for s in (0.3, 1.0, 3.0, 30.0)]
    cells += [
        (SignFlips(3), 3),
        (TargetedShift(3, scale=1.0), 3),
        (AdaptiveAdversaries(3, scale=1.0), 3),
        (AdaptiveAdversaries(3, scale=10.0), 3),
        ("evasive", 3),
        (None, 3),
    ]
    rows = []
    for adversaries, A in cells:
        for code in CODES:
            for row in run_cell(f, X_test, code, adversaries, A, thresholds(code), config, rng):
                rows.append(row)
                print(
                    f"{code:15s} {row['locator']:8s} {row['adversary']:20s} "
                    f"scale={row['scale']!s:5s} A={A} ratio={row['ratio_to_oracle'] or 0:.3g} "
                    f"all_flagged={row['all_flagged']:.3f} prec={row['precision']} "
                    f"rec={row['recall']} agree={row['agree']:.4f} "
                    f"oracle={row['agree_oracle']:.4f} naive={row['agree_naive']:.4f} "
                    f"evasive={row['evasive_size_median']}",
                    flush=True,
                )
    # the shipped decoder (SPAN_THRESHOLD) on the target cell, plain and padded
    shipped, shipped_private = (
        run_cell(f, X_test, code, GrossErrors(3, scale=10.0), 3, {"decoder": None}, config,
                 rng, locators=("decoder",))[0]
        for code in ("spline", "spline_private")
    )  # fmt: skip
    print("shipped:", shipped, shipped_private, flush=True)
    real = real_path(f, X_test, config, rng)
    print("real path:", real, flush=True)
    estimator = estimator_cells(X_train, y_train, X_test, config, args.seed)

    targets = {
        "mse_within_2x_of_oracle": shipped["ratio_to_oracle"] <= 2.0,
        "bad_rows_flagged_in_95pct": shipped["all_flagged"] >= 0.95,
        "agreement_0.99": shipped["agree"] >= 0.99,
        "cell": shipped,
        "cell_private": shipped_private,
    }
    print("targets:", {k: v for k, v in targets.items() if not k.startswith("cell")})
    suffix = "_quick" if args.quick else ""
    payload = {
        "config": {
            "K": K,
            "N": N,
            "S": S,
            "T": T,
            "noise_scale": NOISE,
            **config,
            "seed": args.seed,
            "SPAN_THRESHOLD": SPAN_THRESHOLD,
        },
        "model": info,
        "threshold_study": study,
        "rows": rows,
        "real_path": real,
        "estimator": estimator,
        "targets": targets,
        "platform": platform.platform(),
        "seconds": time.perf_counter() - t_start,
    }
    (args.out_dir / f"adversarial{suffix}.json").write_text(json.dumps(payload, indent=1))
    plot(rows, args.out_dir / f"adversarial{suffix}.png")


if __name__ == "__main__":
    main()
