"""Tests of the torch coding operators and coded forward passes (sklearn_coded.nn)."""

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_coded.nn import (
    CodedSmoothing,
    RandomizedCodedModule,
    coded_block,
    coded_forward,
)
from sklearn_coded.nn._coding import JITTER_POOL
from sklearn_coded.operators import coding_operator, coding_points, flush_tiny


@pytest.mark.parametrize(
    ("scheme", "smoothing", "points"),
    [("spline", 0.0, "chebyshev"), ("spline", (1e-3, 1e-2), "uniform"), ("berrut", 0.0, "bacc")],
)
def test_buffers_equal_numpy_operators(scheme, smoothing, points):
    coder = CodedSmoothing(
        6, 9, scheme=scheme, smoothing=smoothing, points=points, dtype=torch.float64
    )
    lam_enc, lam_dec = smoothing if isinstance(smoothing, tuple) else (smoothing, smoothing)
    alpha, beta = coding_points(points, 6, 9)
    E, _ = coding_operator(scheme, alpha, beta, lam_enc)
    D, _ = coding_operator(scheme, beta, alpha, lam_dec)
    # float64 buffers differ from the operators only by entries below eps * max|M|.
    np.testing.assert_allclose(coder.encoder.numpy(), E, rtol=0, atol=1e-15)
    np.testing.assert_allclose(coder.decoder.numpy(), D, rtol=0, atol=1e-15)
    assert not coder.encoder.requires_grad
    assert coder.state_dict() == {}  # derived from the parameters, not saved


def test_float32_buffers_have_no_subnormals_and_round_the_operator():
    coder = CodedSmoothing(128, 192)  # far entries of E reach 1e-74 in float64
    E, D = coder.numpy_matrices(128)
    assert np.abs(E[E != 0]).min() < np.finfo(np.float32).tiny
    for buffer, exact in ((coder.encoder, E), (coder.decoder, D)):
        assert buffer.dtype == torch.float32
        magnitude = buffer.abs()
        assert not torch.any((magnitude > 0) & (magnitude < torch.finfo(torch.float32).tiny))
        # flushing changes an entry by less than eps(float32) * max|M|
        bound = np.finfo(np.float32).eps * np.abs(exact).max()
        assert np.abs(buffer.numpy().astype(np.float64) - exact).max() <= bound


def test_flush_tiny_threshold():
    M = np.array([[2.0, 2e-7], [-3e-7, 1.0]])
    np.testing.assert_array_equal(
        flush_tiny(M, torch.finfo(torch.float32).eps), [[2.0, 0.0], [-3e-7, 1.0]]
    )
    np.testing.assert_array_equal(flush_tiny(M, torch.finfo(torch.float64).eps), M)


def test_forward_is_decode_block_encode_with_trailing_dims():
    coder = CodedSmoothing(5, 8, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(5, 2, 3, 4, generator=generator, dtype=torch.float64)
    out = coder(h, torch.tanh)
    E, D = (torch.tensor(m) for m in coder.numpy_matrices(5))
    expected = (D @ torch.tanh(E @ h.reshape(5, -1))).reshape(5, 2, 3, 4)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    assert coder.encode(h).shape == (8, 2, 3, 4)


def test_lines_in_alpha_pass_an_affine_block_exactly():
    coder = CodedSmoothing(7, 11, dtype=torch.float64)
    alpha, _ = coder.coding_points(7)
    h = torch.tensor(np.stack([alpha, 2 - alpha], axis=1))
    linear = nn.Linear(2, 3).double()
    torch.testing.assert_close(coder(h, linear), linear(h), rtol=1e-12, atol=1e-12)


def test_gradients_of_linear_block_match_closed_form():
    # z = D (E h W' + 1 b') = (D E h) W' + b' since D reproduces constants, so
    # for the scalar sum(G * z): dW = G' (D E h), db = G' 1, dh = (D E)' G W.
    generator = torch.Generator().manual_seed(1)
    coder = CodedSmoothing(6, 10, dtype=torch.float64)
    linear = nn.Linear(4, 3).double()
    h = torch.randn(6, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    G = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    (coder(h, linear) * G).sum().backward()
    E, D = (torch.tensor(m) for m in coder.numpy_matrices(6))
    torch.testing.assert_close(linear.weight.grad, G.T @ (D @ E @ h.detach()))
    torch.testing.assert_close(linear.bias.grad, G.sum(0))
    torch.testing.assert_close(h.grad, (D @ E).T @ G @ linear.weight.detach())


def test_gradients_of_nonlinear_block_match_finite_differences():
    coder = CodedSmoothing(4, 6, smoothing=1e-3, dtype=torch.float64)
    generator = torch.Generator().manual_seed(2)
    h = torch.randn(4, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    W = torch.randn(3, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h, W: coder(h, lambda x: torch.tanh(x @ W)), (h, W))


def test_smaller_batch_gets_its_own_cached_operators():
    coder = CodedSmoothing(8, 12, dtype=torch.float64)
    assert coder.coded_size(8) == 12
    assert coder.coded_size(5) == 8  # ceil(5 * 12 / 8): the ratio N/K is kept
    assert coder.coded_size(1) == 1
    h = torch.randn(5, 2, dtype=torch.float64)
    out = coder(h, torch.sin)
    alpha, beta = coding_points("chebyshev", 5, 8)
    E, _ = coding_operator("spline", alpha, beta)
    D, _ = coding_operator("spline", beta, alpha)
    expected = torch.tensor(D) @ torch.sin(torch.tensor(E) @ h)
    torch.testing.assert_close(out, expected)
    assert coder.encoder_5.shape == (8, 5) and coder.decoder_5.shape == (5, 8)
    assert coder.encoder.shape == (12, 8)  # the full-batch pair is untouched
    torch.testing.assert_close(coder(h[:1], torch.sin), torch.sin(h[:1]))


def test_explicit_points_need_full_batches():
    points = (np.linspace(-0.9, 0.9, 4), np.linspace(-1, 1, 6))
    coder = CodedSmoothing(4, 6, points=points)
    assert coder(torch.randn(4, 2), torch.relu).shape == (4, 2)
    with pytest.raises(ValueError, match="drop_last"):
        coder(torch.randn(3, 2), torch.relu)
    families = CodedSmoothing(4, 4, points=("chebyshev", "uniform"))
    assert families(torch.randn(2, 2), torch.relu).shape == (2, 2)


def test_dtype_and_device_follow_the_batch():
    coder = CodedSmoothing(6, 9)
    assert coder.encoder.dtype == torch.float32
    h64 = torch.randn(6, 2, dtype=torch.float64)
    coder(h64, torch.relu)
    assert coder.encoder.dtype == torch.float64
    # rebuilt from the float64 operator, not upcast from float32
    E, _ = coder.numpy_matrices(6)
    np.testing.assert_allclose(coder.encoder.numpy(), E, rtol=0, atol=1e-15)
    coder.float()
    assert coder.decoder.dtype == torch.float32
    coder.to(torch.device("meta"))
    assert coder.encoder.device.type == "meta"
    coder(torch.randn(6, 2), torch.relu)  # a CPU batch brings the matrices back
    assert coder.encoder.device.type == "cpu"
    with pytest.raises(TypeError, match="floating"):
        coder.encode(torch.ones(6, 2, dtype=torch.int64))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 0, "n_coded": 4}, "n_samples"),
        ({"n_samples": 4, "n_coded": 1}, "n_coded"),
        ({"n_samples": 4, "n_coded": 4, "scheme": "fourier"}, "scheme"),
        ({"n_samples": 4, "n_coded": 4, "smoothing": -1.0}, "smoothing"),
        ({"n_samples": 4, "n_coded": 4, "smoothing": "gcv"}, "smoothing"),
        ({"n_samples": 4, "n_coded": 4, "jitter": 1}, "jitter"),
        (
            {"n_samples": 4, "n_coded": 2, "jitter": True, "points": ("uniform", [0.0, 1.0])},
            "jitter",
        ),
    ],
)
def test_invalid_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CodedSmoothing(**kwargs)


def _mlp():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 2))


@pytest.mark.parametrize("block", [None, "", "2", "3"])
def test_coded_forward_replaces_the_block(block):
    model = _mlp().double()
    coder = CodedSmoothing(8, 12, dtype=torch.float64)
    x = torch.randn(8, 3, dtype=torch.float64)
    plain, coded = coded_forward(model, x, coder, block=block)
    torch.testing.assert_close(plain, model(x))
    if block:
        i = int(block)
        expected = model[i + 1 :](coder(model[:i](x), model[i]))
    else:
        expected = coder(x, model)
    torch.testing.assert_close(coded, expected)
    plain_2, coded_2 = coded_forward(model, x, coder, block=block, joint=False)
    torch.testing.assert_close(plain_2, plain)
    torch.testing.assert_close(coded_2, coded)
    assert not model[2]._forward_hooks and not model[2]._forward_pre_hooks  # removed


def test_coded_block_rejects_reentrant_blocks_and_tuple_outputs():
    x = torch.randn(4, 2)

    class Recursive(nn.Module):
        def forward(self, x, depth=0):
            return x if depth else self(x, 1)

    with (
        pytest.raises(RuntimeError, match="called again"),
        coded_block(Recursive(), None, CodedSmoothing(4, 4)) as model,
    ):
        model(x)

    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    with (
        pytest.raises(TypeError, match="tensor"),
        coded_block(Pair(), None, CodedSmoothing(4, 4)) as model,
    ):
        model(x)


def test_randomized_coded_module_is_permuted_coding():
    model = _mlp()
    coder = CodedSmoothing(4, 6)
    rci = RandomizedCodedModule(model, coder, generator=torch.Generator().manual_seed(5))
    x = torch.randn(8, 3, requires_grad=True)
    out = rci(x)
    permutation = torch.randperm(8, generator=torch.Generator().manual_seed(5))
    decoded = torch.cat([coder(x[permutation][:4], model), coder(x[permutation][4:], model)])
    torch.testing.assert_close(out, decoded[torch.argsort(permutation)])
    out.sum().backward()  # differentiable for white-box attacks
    assert x.grad is not None and torch.all(torch.isfinite(x.grad))
    assert not torch.equal(rci(x), out)  # a new draw per call


def test_order_reaches_the_torch_buffers():
    coder = CodedSmoothing(6, 11, smoothing=(0.0, 1e-4), order=3, dtype=torch.float64)
    alpha, beta = coding_points("chebyshev", 6, 11)
    np.testing.assert_array_equal(
        coder.encoder.numpy(), coding_operator("spline", alpha, beta, 0.0, order=3)[0]
    )
    np.testing.assert_array_equal(
        coder.decoder.numpy(), coding_operator("spline", beta, alpha, 1e-4, order=3)[0]
    )
    h = torch.tensor(np.stack([alpha**2, 1 - alpha], axis=1))
    torch.testing.assert_close(coder(h, nn.Identity()), h)  # quadratics pass order 3
    with pytest.raises(ValueError, match="order must be 2"):
        CodedSmoothing(4, 8, scheme="berrut", order=3)


@pytest.mark.parametrize(
    ("n_samples", "n_coded", "points", "expected"),
    [
        (8, 16, "uniform", [0, 7]),  # shared end points
        (8, 15, "uniform", list(range(8))),  # (N - 1) / (K - 1) = 2: all shared
        (8, 24, "chebyshev", list(range(8))),  # N / K = 3 odd: all shared
        (8, 16, "chebyshev", []),  # N / K = 2: none
        (8, 20, ("chebyshev", "chebyshev2"), []),
        (8, 12, "bacc", []),
    ],
)
def test_exact_rows_are_the_rows_decoded_exactly_for_every_block(
    n_samples, n_coded, points, expected
):
    # Oracle: a row is exact when D f(E h) equals f(h) on it for a nonlinear f.
    coder = CodedSmoothing(n_samples, n_coded, points=points, dtype=torch.float64)
    rows = coder.exact_rows(n_samples)
    np.testing.assert_array_equal(rows, expected)
    h = torch.randn(n_samples, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gap = (coder(h, lambda x: torch.exp(2 * x)) - torch.exp(2 * h)).abs().amax(dim=1)
    others = np.setdiff1d(np.arange(n_samples), rows)
    assert torch.all(gap[rows] < 1e-12)
    assert torch.all(gap[others] > 1e-6)
    E, D = coder.numpy_matrices(n_samples)
    np.testing.assert_allclose((D @ E)[rows], np.eye(n_samples)[rows], atol=1e-12)


def test_jitter_draws_fresh_sorted_coded_points_in_training_mode_only():
    coder = CodedSmoothing(8, 12, jitter=True, dtype=torch.float64)
    h = torch.randn(8, 2, dtype=torch.float64)
    torch.manual_seed(0)
    first = coder.matrices(8, h)
    second = coder.matrices(8, h)
    torch.manual_seed(0)
    again = coder.matrices(8, h)
    assert not torch.equal(first[0], second[0])
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    for _ in range(20):
        alpha, beta = coder.jittered_points(8)
        np.testing.assert_array_equal(alpha, coder.coding_points(8)[0])
        assert np.all(np.diff(beta) > 0) and beta[0] > -1 and beta[-1] < 1
        # each angle lies in its own cell [(j - 1) pi / N, j pi / N]
        theta = np.arccos(-beta)
        j = np.arange(1, 13)
        assert np.all((theta >= (j - 1) * np.pi / 12) & (theta <= j * np.pi / 12))
        assert coder.exact_rows(8, coder.numpy_matrices(8, (alpha, beta))).size == 0
    # lines in alpha pass an affine block exactly, whatever the draw
    alpha = torch.tensor(coder.coding_points(8)[0])
    line = torch.stack([alpha, 2 - alpha], dim=1)
    torch.testing.assert_close(coder(line, lambda x: 3 * x - 1), 3 * line - 1)
    # the first JITTER_POOL draws are kept; later batches reuse one of them
    fresh = CodedSmoothing(8, 12, jitter=True, dtype=torch.float64)
    draws = {fresh.matrices(8, h)[0].numpy().tobytes() for _ in range(3 * JITTER_POOL)}
    assert len(draws) == JITTER_POOL
    coder.eval()
    np.testing.assert_array_equal(coder.matrices(8, h)[0], coder.encoder)
