"""WGAN-GP training with coded-smoothing, and its offline evaluation (for bench_gan.py).

- Data: ``load_digits`` (8x8, pixels / 16) or the first ``n_train`` Fashion-MNIST
  training images (28x28, pixels in [0, 1]), scaled to [-1, 1], as images of shape
  (n, 1, side, side); a stratified 70/30 train/test split.
- Evaluation: a small CNN classifier trained on the real training split; FID of its
  penultimate features (:func:`sklearn_coded.nn.frechet_distance`) and Inception
  Score of its logits (:func:`sklearn_coded.nn.inception_score`).
- WGAN-GP (Gulrajani et al. 2017) with small DCGAN-style networks (Radford et al.
  2016; side = 4 b, b = 2 for the digits, 7 for Fashion-MNIST): the generator
  z -> Linear -> (2c, b, b) -> ConvTranspose (c, 2b, 2b) -> ConvTranspose (1, 4b, 4b)
  -> tanh, the critic its mirror, two stride-2 convolutions and a Linear, with no
  normalisation (batch norm would break the per-sample gradient penalty); n_critic
  critic steps per generator step, gradient penalty 10, Adam (0.5, 0.9).
- Coded-smoothing, through :func:`sklearn_coded.nn.coded_smoothing_loss`:

  * on the critic: ``mu_critic * MSE(D C(E h), C(h))`` (the consistency loss, a
    smoothness regulariser beside the gradient penalty) on the batch of real rows
    followed by fake rows, added to the critic loss;
  * on the generator: the generator loss ``-C(G(z)).mean()`` becomes
    ``(1 - mu_gen) (-C(G(z))) + mu_gen (-C(D G(E z)))`` (the task loss of the
    generator with its output decoded; label-free criterion).
"""

import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from sklearn_coded.nn import coded_smoothing_loss, frechet_distance, inception_score


def load(name, *, n_train=None):
    """``(X_train, X_test, y_train, y_test, side)`` in [-1, 1], float32 tensors."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X, side = X / 16, 8
    elif name == "fashion":
        from sklearn_coded.datasets import load_fashion_mnist

        X, y = load_fashion_mnist("train", n_samples=n_train)
        X, side = np.asarray(X, dtype=np.float64), 28
    else:
        raise ValueError(f"unknown data set {name!r}")
    X = X.reshape(-1, 1, side, side)
    X_train, X_test, y_train, y_test = train_test_split(
        2 * X - 1, y, test_size=0.3, stratify=y, random_state=0
    )
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.int64)  # noqa: E731
    return as_x(X_train), as_x(X_test), as_y(y_train), as_y(y_test), side


class Evaluator:
    """FID and IS from a classifier trained on the real training rows."""

    def __init__(self, X_train, y_train, *, epochs=20, seed=0):
        torch.manual_seed(seed)
        side, n_classes = X_train.shape[-1], int(y_train.max()) + 1
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (side // 4) ** 2, 64), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(64, n_classes)
        model = nn.Sequential(self.features, self.head)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            for idx in torch.randperm(len(X_train)).split(64):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(X_train[idx]), y_train[idx]).backward()
                optimizer.step()
        model.eval()
        self.reference = {}

    @torch.no_grad()
    def accuracy(self, X, y):
        return float((self.head(self.features(X)).argmax(1) == y).float().mean())

    @torch.no_grad()
    def set_reference(self, name, X):
        self.reference[name] = self.features(X).numpy()

    @torch.no_grad()
    def score(self, X, reference):
        feats = self.features(X)
        return {
            "fid": frechet_distance(feats.numpy(), self.reference[reference]),
            "is": inception_score(self.head(feats).numpy())[0],
        }


def make_gan(side, z_dim=16, width=None):
    """DCGAN-style generator and critic for (1, side, side) images, side = 4 b.

    ``width`` c (default 16 for the digits, 32 above): channels of the wider layers
    are 2c.
    """
    b, c = side // 4, width or (16 if side <= 8 else 32)
    generator = nn.Sequential(
        nn.Linear(z_dim, 2 * c * b * b), nn.ReLU(), nn.Unflatten(1, (2 * c, b, b)),
        nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1), nn.Tanh(),
    )  # fmt: skip
    critic = nn.Sequential(
        nn.Conv2d(1, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * c * b * b, 1),
    )  # fmt: skip
    return generator, critic


def gradient_penalty(critic, real, fake):
    """Gulrajani et al. (2017): (|grad C(x_hat)| - 1)^2 on random interpolates."""
    eps = torch.rand(real.shape[0], *[1] * (real.ndim - 1))
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def train_wgan(
    X_train,
    *,
    steps,
    seed,
    evaluate=None,
    eval_every=100,
    mu_critic=0.0,
    mu_gen=0.0,
    ratio=1.0,
    batch_size=64,
    n_critic=5,
    z_dim=16,
    lr=5e-4,
    lambda_gp=10.0,
):
    """Train one WGAN-GP; returns ``(generator, curve, seconds per generator step)``.

    ``evaluate(generator)`` is called every ``eval_every`` generator steps and at
    the end (not timed); ``ratio`` is N/K of both coded losses.
    """
    torch.manual_seed(seed)
    generator, critic = make_gan(X_train.shape[-1], z_dim)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.9))
    opt_c = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))
    n_coded = max(2, round(ratio * batch_size))
    n_coded_critic = max(2, round(ratio * 2 * batch_size))
    curve, seconds = [], 0.0
    for step in range(1, steps + 1):
        start = time.perf_counter()
        for _ in range(n_critic):
            real = X_train[torch.randint(len(X_train), (batch_size,))]
            with torch.no_grad():
                fake = generator(torch.randn(batch_size, z_dim))
            opt_c.zero_grad()
            loss = critic(fake).mean() - critic(real).mean()
            loss = loss + lambda_gp * gradient_penalty(critic, real, fake)
            if mu_critic > 0:
                loss = loss + coded_smoothing_loss(
                    critic, torch.cat([real, fake]), coded_loss="consistency",
                    mu=mu_critic, n_coded=n_coded_critic,
                ).loss  # fmt: skip
            loss.backward()
            opt_c.step()
        opt_g.zero_grad()
        z = torch.randn(batch_size, z_dim)
        if mu_gen > 0:
            loss = coded_smoothing_loss(
                generator, z, criterion=lambda x: -critic(x).mean(), mu=mu_gen, n_coded=n_coded
            ).loss
        else:
            loss = -critic(generator(z)).mean()
        loss.backward()
        opt_g.step()
        seconds += time.perf_counter() - start
        if evaluate is not None and (step % eval_every == 0 or step == steps):
            generator.eval()
            curve.append({"step": step, **evaluate(generator)})
            generator.train()
    return generator, curve, seconds / steps


@torch.no_grad()
def sample(generator, n, *, seed=12345, z_dim=16):
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    return generator(z)
