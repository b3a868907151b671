"""
Encoding and decoding a batch
=============================

A batch of K digit images is encoded into N coded images with the spline code,
every worker applies f, a few workers straggle, and the decoder recovers
f(x_1)..f(x_K) from the rest. We look at the coded images and at the decoding
error against the number of workers that answer.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from sklearn_coded import BerrutDecoder, BerrutEncoder, SplineDecoder, SplineEncoder

smoke = os.environ.get("SKLEARN_CODED_SMOKE") == "1"
rng = np.random.default_rng(0)
images = load_digits().data / 16.0
K, N = 8, 40
X = images[rng.choice(len(images), K, replace=False)]

# %%
# The coded images are smooth blends of neighbouring inputs: worker n sees the
# spline through the K images evaluated at its coded point beta_n.
encoder = SplineEncoder(n_coded=N).fit(X)
coded = encoder.transform(X)
fig, axes = plt.subplots(2, 8, figsize=(9, 2.6))
for ax, image, title in zip(axes[0], X, encoder.data_points_, strict=True):
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.set_title(f"x at {title:+.2f}", fontsize=7)
for ax, n in zip(axes[1], np.linspace(0, N - 1, 8).astype(int), strict=True):
    ax.imshow(coded[n].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"coded at {encoder.coded_points_[n]:+.2f}", fontsize=7)
for ax in axes.ravel():
    ax.set_axis_off()
fig.tight_layout()

# %%
# Workers apply f (here a fixed random tanh layer); S of them never answer. The
# decoding error of the spline code stays far below Berrut's as S grows.
W = rng.standard_normal((64, 16)) / 8


def f(Z):
    return np.tanh(Z @ W)


# Down to K results: below the code's K nodes a decoder refuses (fewer results do
# not determine the outputs, even for an affine f).
stragglers = range(0, N - K + 1, 2 if smoke else 1)
errors = {"spline": [], "berrut": []}
for S in stragglers:
    for name, (Encoder, Decoder) in {
        "spline": (SplineEncoder, SplineDecoder),
        "berrut": (BerrutEncoder, BerrutDecoder),
    }.items():
        results = f(Encoder(N).fit_transform(X))
        results[rng.choice(N, S, replace=False)] = np.nan
        decoded = Decoder(K).fit(results).transform(results)
        errors[name].append(np.sqrt(np.mean((decoded - f(X)) ** 2)))

fig, ax = plt.subplots(figsize=(5, 3.2))
for name, values in errors.items():
    ax.semilogy(list(stragglers), values, marker="o", ms=3, label=name)
ax.set(xlabel="S, workers that never answer (of N = 40)", ylabel="RMSE of decoded f(x)")
ax.legend()
fig.tight_layout()
plt.show()
