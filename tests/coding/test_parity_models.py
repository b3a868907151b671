"""Learned parity models (ParM): encoder, decoder and training (docs/method.rst 11)."""

import itertools

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

torch = pytest.importorskip("torch")

from sklearn_coded.coding import ParityModel, TooFewParitiesError  # noqa: E402
from sklearn_coded.coding._parm import (  # noqa: E402
    decode_parities,
    encode_parities,
    parity_weights,
)

torch.set_num_threads(1)


def _affine(seed, d=5, c=3):
    rng = np.random.default_rng(seed)
    A, b = rng.normal(size=(d, c)), rng.normal(size=c)
    return (lambda X: X @ A + b), A, b


@pytest.mark.parametrize("k, r", [(2, 1), (4, 2), (8, 3)])
def test_every_square_weight_submatrix_is_invertible(k, r):
    # (11.2): a totally positive generalized Vandermonde matrix; row 0 the plain sum
    W = parity_weights(k, r)
    assert np.array_equal(W[0], np.ones(k))
    for m in range(1, r + 1):
        for J in itertools.combinations(range(r), m):
            for M in itertools.combinations(range(k), m):
                assert np.linalg.cond(W[np.ix_(J, M)]) < 1e6


@pytest.mark.parametrize("k, r", [(2, 1), (3, 2), (5, 3)])
def test_reconstruction_is_exact_for_an_affine_f(k, r):
    # Closed form: for f(x) = A x + b and P_j = sum_i W[j, i] x_i, the parity model
    # f_P^(j)(P) = A P + (sum_i W[j, i]) b meets (11.1) exactly, so (11.3)
    # recovers any m <= r missing outputs from any m arrived parities to rounding.
    f, A, b = _affine(k)
    rng = np.random.default_rng(r)
    X = rng.normal(size=(6, k, 5))
    W = parity_weights(k, r)
    P = encode_parities(X, W)
    parity = P @ A + W.sum(axis=1)[None, :, None] * b
    Y = f(X)
    for m in range(1, r + 1):
        for M in itertools.combinations(range(k), m):
            for lost_parities in range(r - m + 1):
                data, par = Y.copy(), parity.copy()
                data[:, list(M)] = np.nan
                par[:, r - lost_parities :] = np.nan  # the last parities also late
                decoded, ok = decode_parities(data, par, W)
                assert ok.all()
                np.testing.assert_allclose(decoded, Y, rtol=0, atol=1e-10)


def test_more_missing_than_parities_is_refused():
    f, _, _ = _affine(0)
    X = np.random.default_rng(1).normal(size=(4, 3, 5))
    W = parity_weights(3, 1)
    data = f(X)
    parity = data.sum(axis=1, keepdims=True)
    data[1, :2] = np.nan  # two missing in group 1, one parity
    with pytest.raises(TooFewParitiesError, match="Group 1: 2 data outputs are missing"):
        decode_parities(data, parity, W)
    parity[2] = np.nan  # group 2: one missing, its parity missing too
    data[2, 0] = np.nan
    decoded, ok = decode_parities(data, parity, W, on_missing="nan")
    assert ok.tolist() == [True, False, False, True]
    assert np.isnan(decoded[1, :2]).all() and np.isnan(decoded[2, 0]).all()
    np.testing.assert_allclose(decoded[[0, 3]], f(X)[[0, 3]])
    np.testing.assert_allclose(decoded[2, 1:], f(X)[2, 1:])  # arrived rows kept


def test_concat_encoder_tiles_downsampled_images():
    images = np.arange(2 * 4 * 16, dtype=float).reshape(2, 4, 16)  # 4 images of 4 x 4
    W = parity_weights(4, 1)
    P = encode_parities(images, W, "concat", image_shape=(4, 4))[:, 0].reshape(2, 4, 4)
    pooled = images.reshape(2, 4, 2, 2, 2, 2).mean(axis=(3, 5))  # 2 x 2 average pooling
    np.testing.assert_array_equal(P[:, :2, :2], pooled[:, 0])
    np.testing.assert_array_equal(P[:, :2, 2:], pooled[:, 1])
    np.testing.assert_array_equal(P[:, 2:, :2], pooled[:, 2])
    np.testing.assert_array_equal(P[:, 2:, 2:], pooled[:, 3])
    two = encode_parities(images[:, :2], parity_weights(2, 1), "concat", (1, 4, 4))
    two = two[:, 0].reshape(2, 4, 4)
    halves = images[:, :2].reshape(2, 2, 4, 2, 2).mean(axis=4)  # width halved
    np.testing.assert_array_equal(two[..., :2], halves[:, 0])
    np.testing.assert_array_equal(two[..., 2:], halves[:, 1])
    with pytest.raises(ValueError, match=r"k = 2 or 4 images.*got k=3"):
        encode_parities(images[:, :3], parity_weights(3, 1), "concat", (4, 4))
    with pytest.raises(ValueError, match=r"image_shape=\(3, 5\)"):
        encode_parities(images[:, :2, :15], parity_weights(2, 1), "concat", (3, 5))


def test_parity_model_learns_the_sum_of_a_nonlinear_f():
    # A toy f (a fixed random tanh layer); the parity model must beat the best
    # constant by far on held-out groups, and reconstruct missing outputs.
    rng = np.random.default_rng(0)
    V = rng.normal(size=(4, 3))
    f = lambda X: np.tanh(X @ V)  # noqa: E731
    X = rng.normal(size=(1024, 4)).astype(np.float32)
    pm = ParityModel(f, k=2, module="mlp", hidden_sizes=(64,), max_epochs=40, lr=3e-3)
    pm.set_params(random_state=0).fit(X[:768])
    groups = X[768:].reshape(-1, 2, 4)
    target = f(groups).sum(axis=1)
    F = pm.parity_outputs(pm.encode(groups))[:, 0]
    relative = np.mean((F - target) ** 2) / np.var(target, axis=0).sum()
    assert relative < 0.05
    assert pm.loss_curve_[-1] < 0.25 * pm.loss_curve_[0]
    assert pm.training_time_ > 0 and pm.n_epochs_ == 40 and pm.weights_.shape == (1, 2)


def test_parity_model_reconstructs_two_missing_with_two_parities():
    f, _, _ = _affine(3, d=3, c=2)
    X = np.random.default_rng(0).normal(size=(512, 3)).astype(np.float32)
    pm = ParityModel(f, k=3, r=2, module=torch.nn.Linear(3, 2), max_epochs=60, lr=0.05)
    pm.set_params(random_state=0).fit(X)
    groups = X[:30].reshape(10, 3, 3)
    Y = f(groups)
    data = Y.copy()
    data[:, [0, 2]] = np.nan
    decoded, ok = pm.decode(data, pm.parity_outputs(pm.encode(groups)))
    assert ok.all()
    np.testing.assert_allclose(decoded, Y, atol=0.05)


def test_parity_model_parameter_errors_name_parameter_and_value():
    X = np.zeros((8, 3), dtype=np.float32)
    with pytest.raises(InvalidParameterError, match="'k' parameter"):
        ParityModel(lambda X: X, k=0).fit(X)
    with pytest.raises(InvalidParameterError, match="'encoder' parameter"):
        ParityModel(lambda X: X, encoder="xor").fit(X)
    with pytest.raises(ValueError, match="got deployed=None"):
        ParityModel().fit(X)
    with pytest.raises(ValueError, match="module='conv'"):
        ParityModel(lambda X: X, module="conv", max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="X has 8 rows; fit needs at least k=9"):
        ParityModel(lambda X: X, k=9).fit(X)
    with pytest.raises(ValueError, match="r must be an int >= 1; got r=0"):
        parity_weights(2, 0)
