"""
Choosing mu and N by cross-validation
=====================================

Coded-smoothing trains a network on

.. math::

   L = (1 - \\mu) L_{main} + \\mu L_{coded},

where :math:`L_{coded}` is the loss of the outputs decoded from N coded copies of
each training batch of K rows. The two hyperparameters users tune are the weight
:math:`\\mu` and the number N of coded rows. :class:`~sklearn_coded.estimators.CodedClassifier`
is an ordinary scikit-learn estimator, so ``GridSearchCV`` chooses them like any
other parameter, here for a small skorch network inside a ``Pipeline`` on the
digits data. ``mu = 0`` is plain training (ERM) on the same batches, the baseline
in the same grid.

The same parameters also set the code used at prediction time (N coded rows per
batch of K, no stragglers here), so the cross-validated score is the score of
coded prediction.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from sklearn_coded.estimators import CodedClassifier

smoke = os.environ.get("SKLEARN_CODED_SMOKE") == "1"
torch.set_num_threads(1)  # small nets: threads cost more than they bring
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=600 if smoke else 1200, stratify=y, random_state=0
)


class MLP(torch.nn.Module):
    """A one-hidden-layer perceptron that returns logits."""

    def __init__(self, n_hidden=32):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(64, n_hidden), torch.nn.ReLU(), torch.nn.Linear(n_hidden, 10)
        )

    def forward(self, X):
        return self.layers(X)


net = NeuralNetClassifier(
    MLP,
    criterion=torch.nn.CrossEntropyLoss,  # the module returns logits
    optimizer=torch.optim.Adam,
    lr=1e-2,
    max_epochs=8 if smoke else 30,
    train_split=None,
    verbose=0,
)
K = 16
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        ("coded", CodedClassifier(net, batch_size=K, random_state=0)),
    ]
)

# %%
# The grid: mu in {0, 0.3, 0.6} and N in {1.5K, 2K} (and 4K in the full run).
# Every fit is seeded through ``random_state``, so the search is reproducible.
param_grid = {
    "coded__mu": [0.0, 0.3, 0.6],
    "coded__n_coded": [24, 32] if smoke else [24, 32, 64],
}
search = GridSearchCV(pipe, param_grid, cv=3).fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated accuracy: {search.best_score_:.3f}")
print(f"held-out accuracy of the refitted best pipeline: {search.score(X_test, y_test):.3f}")

# %%
# The cross-validated accuracy of every cell, with the spread over the folds. On
# a problem this small and easy the differences are within the fold-to-fold
# noise. ``benchmarks/bench_training.py``, under a protocol fixed before its
# runs (tuned learning rates, early stopping, 5 seeds), found no gain over plain
# training or mixup whose 95% interval excludes 0 on 300, 500 and 1000 digits;
# an earlier series without that protocol had shown gains on 300 digits and 5000
# Fashion-MNIST images that did not replicate.
results = search.cv_results_
mus = param_grid["coded__mu"]
fig, ax = plt.subplots(figsize=(5.5, 3.6))
for i, n_coded in enumerate(param_grid["coded__n_coded"]):
    rows = [
        np.flatnonzero(
            (results["param_coded__mu"] == mu) & (results["param_coded__n_coded"] == n_coded)
        )[0]
        for mu in mus
    ]
    ax.errorbar(
        np.array(mus) + 0.01 * (i - 0.5),
        results["mean_test_score"][rows],
        yerr=results["std_test_score"][rows],
        marker="o",
        capsize=3,
        label=f"N = {n_coded} ({n_coded / K:g} K)",
    )
ax.set(xlabel="mu, weight of the coded loss", ylabel="3-fold CV accuracy", xticks=mus)
ax.set_title(f"digits, K = {K}; mu = 0 is plain training", fontsize=10)
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
