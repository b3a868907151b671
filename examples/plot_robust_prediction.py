"""
Randomized coded inference against PGD
======================================

Randomized coded inference (RCI) predicts each batch through the code with a
fresh random permutation of its rows: row k is placed at a random data point,
the K rows are encoded into N coded rows, the network runs on those, and the
decoded outputs are un-permuted. Each prediction then depends on the draw and on
the other rows of the batch, and the gradient a white-box attacker computes is
the gradient of a random function.

We train a small network on the digits (pixels scaled to [0, 1]) and attack it
with projected gradient descent (PGD, L-infinity) from the Adversarial
Robustness Toolbox (ART):

* against plain prediction, attacking the network itself;
* against RCI, attacking :class:`~sklearn_coded.nn.RandomizedCodedModule` around
  the same network, so the attacker differentiates through the randomized code;
* against RCI with an adaptive attack, expectation over transformation (EOT):
  the attacker differentiates the average of several draws of the randomized
  code, which estimates the expected gradient;
* against RCI with a transfer attack: PGD on the plain network, and the
  examples fed to RCI. A randomized defence that survives the white-box attack
  but not this one only masks gradients (docs/method.rst section 7).

The defended predictions come from the scikit-learn side:
``CodedClassifier(randomized=True)`` around the trained net, with its own
independent draws.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

from sklearn_coded.estimators import CodedClassifier
from sklearn_coded.nn import CodedSmoothing, RandomizedCodedModule

smoke = os.environ.get("SKLEARN_CODED_SMOKE") == "1"
torch.set_num_threads(1)
torch.manual_seed(0)
X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)  # pixels in [0, 1]: the attack's clip values
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
n_eval = 192 if smoke else len(X_test)
X_eval, y_eval = X_test[:n_eval], y_test[:n_eval]

# %%
# Train the network, and the coded classifier around it
# ------------------------------------------------------
# K = 16 rows per batch, N = 32 coded rows, Chebyshev points on both sides so
# that the attacker's module and the defended estimator use the same code.
K, N = 16, 32
net = NeuralNetClassifier(
    torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    ),  # returns logits
    criterion=torch.nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=1e-2,
    max_epochs=15 if smoke else 40,
    train_split=None,
    verbose=0,
)
clf = CodedClassifier(
    net, batch_size=K, n_coded=N, points="chebyshev", randomized=True, random_state=0
).fit(X_train, y_train)
module = clf.estimator_.module_.eval()
print(f"clean accuracy, plain: {np.mean(clf.estimator_.predict(X_eval) == y_eval):.3f}")
print(f"clean accuracy, RCI:   {np.mean(clf.predict(X_eval) == y_eval):.3f}")

# %%
# Three attacker's views of the model
# -----------------------------------
# ART needs a differentiable PyTorch model. The plain view is the network; the
# RCI view draws a new permutation on every forward pass; the EOT view averages
# the logits of several draws (its gradient is the average of the draws'
# gradients).
rci = RandomizedCodedModule(
    module, CodedSmoothing(K, N, points="chebyshev"), generator=torch.Generator().manual_seed(1)
)


class ExpectationOverDraws(torch.nn.Module):
    """The mean logits of ``n_draws`` independent passes through a random module."""

    def __init__(self, random_module, n_draws):
        super().__init__()
        self.random_module = random_module
        self.n_draws = n_draws

    def forward(self, x):
        return torch.stack([self.random_module(x) for _ in range(self.n_draws)]).mean(0)


def art_view(model):
    return PyTorchClassifier(
        model,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(64,),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )


views = {
    "plain prediction, PGD": (art_view(module), clf.estimator_.predict),
    "RCI, PGD through the code": (art_view(rci), clf.predict),
    "RCI, adaptive EOT-PGD": (art_view(ExpectationOverDraws(rci, 4)), clf.predict),
    "RCI, transfer from the plain network": (art_view(module), clf.predict),
}

# %%
# Accuracy against the attack budget
# ----------------------------------
# PGD with 10 steps of size eps / 4 and no random start; the attack sees batches
# of 64 rows (a multiple of K), like the defended predictions.
epsilons = [0.0, 0.05, 0.1, 0.2] if smoke else [0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3]
accuracy = {name: [] for name in views}
for name, (attacked, predict) in views.items():
    for eps in epsilons:
        if eps == 0:
            X_adv = X_eval
        else:
            attack = ProjectedGradientDescent(
                attacked, eps=eps, eps_step=eps / 4, max_iter=10, num_random_init=0,
                batch_size=64, verbose=False,
            )  # fmt: skip
            X_adv = attack.generate(X_eval, y=y_eval).astype(np.float32)
        accuracy[name].append(np.mean(predict(X_adv) == y_eval))
    print(name, np.round(accuracy[name], 3))

fig, ax = plt.subplots(figsize=(5.5, 3.6))
for (name, values), style in zip(accuracy.items(), ["o-", "s-", "^--", "v:"], strict=True):
    ax.plot(epsilons, 100 * np.array(values), style, label=name)
ax.set(xlabel="eps (L-infinity, pixels in [0, 1])", ylabel="accuracy (%)", ylim=(0, 100))
ax.set_title(f"digits MLP, K = {K}, N = {N}, {n_eval} test images", fontsize=10)
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Robust accuracy is the lowest of these curves, not the white-box one: the
# adaptive EOT attack and the transfer attack take back what the randomization
# hides. Randomized coded inference is not a defence by itself.
# ``benchmarks/bench_robustness.py`` and the main job run the full adaptive
# evaluation (EOT over 20 draws, transfer, BPDA, each to convergence, and the
# minimum over attacks) on a Fashion-MNIST CNN and on the digits.
