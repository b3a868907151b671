"""
Decoding error against N and S for the three codes
==================================================

The spline code (LeTCC), the Berrut code (BACC) and the real-field Lagrange code
(LCC) all encode K inputs into N coded inputs and decode f(x_1)..f(x_K) from the
workers that answer. Here f is a fixed random layer ``tanh(x W)`` on rows of the
digits images, K = 16, and we measure the mean squared error of the decoded
outputs

* against N with no stragglers and with 10% of the workers missing, and
* against the number S of missing workers at a fixed N.

The spline code is shown with order 2 (cubic, the default) and order 3 (quintic,
``order=3``). All codes use Chebyshev points, so they are compared on identical points.
N is prime, never a multiple of K, so no data point coincides with a coded point
(where decoding would be exact for free).
"""

import os
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from sklearn_coded import (
    BerrutDecoder,
    BerrutEncoder,
    LagrangeDecoder,
    LagrangeEncoder,
    SplineDecoder,
    SplineEncoder,
)

smoke = os.environ.get("SKLEARN_CODED_SMOKE") == "1"
n_trials = 8 if smoke else 20
rng = np.random.default_rng(0)
images = load_digits().data / 16.0
K = 16
W = rng.standard_normal((64, 8)) / 8


def f(Z):
    """What every worker computes: a fixed random tanh layer."""
    return np.tanh(Z @ W)


codes = {
    "spline (LeTCC)": (SplineEncoder, SplineDecoder),
    "spline, order 3": (partial(SplineEncoder, order=3), partial(SplineDecoder, order=3)),
    "berrut (BACC)": (BerrutEncoder, BerrutDecoder),
    "lagrange (LCC)": (LagrangeEncoder, LagrangeDecoder),
}


def decoding_mse(Encoder, Decoder, N, S, trial_rng):
    """Mean squared error of one coded round trip with S random stragglers."""
    if N - S < K:
        return np.nan  # every decoder needs at least K survivors (the code's nodes)
    X = images[trial_rng.choice(len(images), K, replace=False)]
    results = f(Encoder(N).fit_transform(X))
    results[trial_rng.choice(N, S, replace=False)] = np.nan  # S workers never answer
    decoder = Decoder(K).fit(results)
    return np.mean((decoder.transform(results) - f(X)) ** 2)


def mean_mse(Encoder, Decoder, N, S):
    """Average over random batches and straggler draws (seeded: reproducible)."""
    trial_rng = np.random.default_rng(N * 1000 + S)
    errors = [decoding_mse(Encoder, Decoder, N, S, trial_rng) for _ in range(n_trials)]
    return np.mean(errors)


# %%
# Error against N
# ---------------
# Without stragglers all three converge; Lagrange on Chebyshev points converges
# geometrically and wins. With a tenth of the workers missing, the survivors of
# the Lagrange code form an ill-conditioned node set and its error explodes,
# while the spline code keeps its fast algebraic rate and Berrut its slow one.
Ns = [17, 23, 31, 43, 61, 83, 113] if smoke else [17, 23, 31, 43, 61, 83, 113, 157, 211, 293]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
for ax, share in zip(axes, [0.0, 0.1], strict=True):
    for name, (Encoder, Decoder) in codes.items():
        Ss = [round(share * N) for N in Ns]
        ax.loglog(Ns, [mean_mse(Encoder, Decoder, N, S) for N, S in zip(Ns, Ss, strict=True)],
                  marker="o", ms=3, label=name)  # fmt: skip
    ax.set(title=f"S = {share:.0%} of N", xlabel="N, coded inputs (workers)")
axes[0].set_ylabel("MSE of decoded f(x)")
axes[0].legend()
fig.tight_layout()

# %%
# Error against S
# ---------------
# At N = 61 (about 4K), both approximate codes degrade gracefully as workers go
# missing: the spline code starts orders of magnitude below Berrut and stays below
# it until almost all of the slack N - K is used up. Lagrange is the best code
# when every worker answers, loses several orders of magnitude with the first
# missing workers, and cannot decode at all with fewer than K survivors.
N = 61
Ss = list(range(0, N - K + 1, 6 if smoke else 3))
fig, ax = plt.subplots(figsize=(5.5, 3.6))
for name, (Encoder, Decoder) in codes.items():
    ax.semilogy(Ss, [mean_mse(Encoder, Decoder, N, S) for S in Ss], marker="o", ms=3, label=name)
ax.set(xlabel=f"S, workers that never answer (of N = {N}, K = {K})", ylabel="MSE of decoded f(x)")
ax.legend()
fig.tight_layout()
plt.show()
