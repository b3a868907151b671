"""Tests of FID and Inception Score (sklearn_coded.nn._metrics)."""

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from sklearn_coded.nn import frechet_distance, inception_score


def _fid_scipy(a, b):
    """FID with scipy's matrix square root of S_a S_b (the usual recipe)."""
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = sqrtm(cov_a @ cov_b).real
    diff = a.mean(axis=0) - b.mean(axis=0)
    return diff @ diff + np.trace(cov_a + cov_b - 2 * root)


def test_fid_matches_scipy_sqrtm_and_is_symmetric():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 0.5
    assert frechet_distance(a, b) == pytest.approx(_fid_scipy(a, b), rel=1e-9)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_fid_of_one_dimensional_gaussians_is_the_closed_form():
    a = np.array([[-1.0], [1.0]])  # mean 0, variance 2
    b = np.array([[1.0], [5.0]])  # mean 3, variance 8
    # (0 - 3)^2 + 2 + 8 - 2 sqrt(16)
    assert frechet_distance(a, b) == pytest.approx(11.0, rel=1e-12)
    assert frechet_distance(torch.tensor(a), torch.tensor(b)) == pytest.approx(11.0, rel=1e-12)


def test_inception_score_closed_forms():
    # confident and even over 5 classes: IS = 5; identical rows: IS = 1
    assert inception_score(60 * np.eye(5)[np.arange(50) % 5])[0] == pytest.approx(5.0, rel=1e-9)
    assert inception_score(np.tile([1.0, 2.0, 3.0], (8, 1)))[0] == pytest.approx(1.0)
    # two classes, half the rows sure of class 0, half uniform:
    # p(y) = (3/4, 1/4); KL = log(4/3) (sure rows), (log(2/3) + log 2) / 2 (uniform rows)
    logits = np.log(np.array([[1.0, 1e-300]] * 4 + [[0.5, 0.5]] * 4))
    expected = np.exp((np.log(4 / 3) + (np.log(2 / 3) + np.log(2)) / 2) / 2)
    assert inception_score(logits)[0] == pytest.approx(expected, rel=1e-9)
    mean, std = inception_score(60 * np.eye(5)[np.arange(50) % 5], n_splits=5)
    assert (mean, std) == pytest.approx((5.0, 0.0))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: frechet_distance(np.ones((3, 2)), np.ones((3, 3))), "same columns"),
        (lambda: frechet_distance(np.ones(3), np.ones((3, 3))), "features_a must be"),
        (lambda: frechet_distance(np.ones((3, 2)), np.full((3, 2), np.nan)), "features_b"),
        (lambda: inception_score(np.ones((4, 2)), n_splits=5), "n_splits must be"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_fid_from_a_digits_classifier_separates_real_from_noise():
    # The check of the metric on itself: a classifier trained on the real
    # training set; its penultimate features score the real test set near 0
    # and noise far away.
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16, dtype=torch.float32)
    X_train, X_test, y_train, _ = train_test_split(
        X, torch.tensor(y), test_size=0.3, random_state=0
    )
    torch.manual_seed(0)
    features = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
    model = nn.Sequential(features, nn.Linear(32, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X_train), y_train).backward()
        optimizer.step()
    with torch.no_grad():
        real, test = features(X_train), features(X_test)
        noise = features(torch.rand_like(X_test))
        blurred = features(X_test.roll(1, dims=1))
    fid_test, fid_noise = frechet_distance(test, real), frechet_distance(noise, real)
    fid_shift = frechet_distance(blurred, real)
    assert fid_test < 0.05 * fid_noise
    assert fid_test < fid_shift < fid_noise
    is_test = inception_score(model[1](test))[0]
    is_noise = inception_score(model[1](noise).detach())[0]
    assert is_test > 8 > is_noise
