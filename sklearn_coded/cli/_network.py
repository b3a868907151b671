"""The main job's network (imports torch: loaded only once the options are valid)."""

import torch
from skorch import NeuralNetClassifier
from torch import nn


class MLP(nn.Module):
    """A one-hidden-layer perceptron returning logits."""

    def __init__(self, n_features=64, n_classes=10, hidden=64):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, X):
        return self.layers(X)


def make_network(n_features, n_classes, epochs):
    """The MLP as a skorch classifier trained with cross-entropy on its logits."""
    return NeuralNetClassifier(
        MLP,
        module__n_features=n_features,
        module__n_classes=n_classes,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=3e-3,
        max_epochs=epochs,
        train_split=None,
        verbose=0,
    )
