"""Tests of coded_smoothing_loss, the coded-smoothing loss for any torch loop."""

import copy
import itertools
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier
from torch import nn
from torch.nn import functional

from sklearn_coded.nn import CodedSmoothing, coded_smoothing_loss, make_coded_net
from sklearn_coded.nn._loss import _CODERS, cached_coder
from sklearn_coded.operators import coding_operator, coding_points


def _model(dtype=torch.float32):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def _batch(k=12, dtype=torch.float32):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(k, 4, generator=gen, dtype=dtype), torch.randint(0, 3, (k,), generator=gen)


def _operators(k, n, lam=0.0, order=2):
    """E and D from the operators layer (float64), the fixed Chebyshev layout."""
    alpha, beta = coding_points("chebyshev", k, n)
    return coding_operator("spline", alpha, beta, lam, order=order)[0], coding_operator(
        "spline", beta, alpha, lam, order=order
    )[0]


@pytest.mark.parametrize(("block", "order"), [(None, 2), ("1", 2), ("1", 3)])
def test_task_loss_is_the_formula_with_the_operators_layer(block, order):
    model, (x, y) = _model(torch.float64), _batch(dtype=torch.float64)
    E, D = (torch.tensor(m) for m in _operators(12, 17, 0.01, order))
    mu, ce = 0.3, nn.CrossEntropyLoss()
    out = coded_smoothing_loss(
        model,
        x,
        y,
        criterion=ce,
        mu=mu,
        n_coded=17,
        smoothing=0.01,
        order=order,
        jitter=False,
        block=block,
    )
    # block "1": the Tanh is coded, between the two Linear layers
    coded = D @ model(E @ x) if block is None else model[2](D @ torch.tanh(E @ model[0](x)))
    plain = model(x)
    torch.testing.assert_close(out.output, plain)
    torch.testing.assert_close(out.coded_output, coded)
    torch.testing.assert_close(out.main, ce(plain, y))
    torch.testing.assert_close(out.coded, ce(coded, y))
    torch.testing.assert_close(out.loss, (1 - mu) * ce(plain, y) + mu * ce(coded, y))
    assert out.loss.dtype == torch.float64


def test_consistency_without_criterion_is_mu_times_the_block_mse():
    model, (x, _) = _model(), _batch()
    E, D = (torch.tensor(m, dtype=torch.float32) for m in _operators(12, 20))
    out = coded_smoothing_loss(
        model, x, coded_loss="consistency", mu=0.25, n_coded=20, jitter=False, block="1"
    )
    h = model[0](x)
    mse = functional.mse_loss(D @ torch.tanh(E @ h), torch.tanh(h))
    assert out.main is None
    torch.testing.assert_close(out.coded, mse)
    torch.testing.assert_close(out.loss, 0.25 * mse)
    torch.testing.assert_close(out.decoding_error, mse.detach().sqrt())


def test_label_free_criterion_and_gradients_reach_the_model():
    model, (x, _) = _model(), _batch()
    critic = nn.Linear(3, 1)
    out = coded_smoothing_loss(model, x, criterion=lambda o: -critic(o).mean(), mu=1.0)
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    torch.testing.assert_close(out.loss, -critic(out.coded_output).mean())


def test_jitter_draws_fresh_points_per_call_and_is_seeded():
    model, (x, y) = _model(), _batch()
    ce = nn.CrossEntropyLoss()

    def loss(seed):
        torch.manual_seed(seed)
        return coded_smoothing_loss(model, x, y, criterion=ce, n_coded=16).coded.item()

    assert loss(0) == loss(0)
    assert loss(0) != loss(1)


def test_coders_are_cached_per_setting():
    _CODERS.clear()
    model, (x, y) = _model(), _batch()
    for _ in range(3):
        coded_smoothing_loss(model, x, y, criterion=nn.CrossEntropyLoss(), n_coded=16)
    coded_smoothing_loss(model, x[:8], y[:8], criterion=nn.CrossEntropyLoss(), n_coded=16)
    assert len(_CODERS) == 2  # K = 12 and K = 8
    coder = cached_coder(12, 16, scheme="spline", smoothing=0.0, points="chebyshev", jitter=True)
    assert coder is cached_coder(
        12, 16, scheme="spline", smoothing=0.0, points="chebyshev", jitter=True
    )
    alpha, beta = coding_points("chebyshev", 4, 6)
    explicit = cached_coder(
        4, 6, scheme="spline", smoothing=0.0, points=(alpha, beta), jitter=False
    )
    assert explicit is cached_coder(
        4, 6, scheme="spline", smoothing=0.0, points=(alpha.copy(), beta.copy()), jitter=False
    )


def test_skorch_mixin_loss_is_the_functional_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 4)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    net = NeuralNetClassifier(
        _model(), criterion=nn.CrossEntropyLoss, max_epochs=1, train_split=None, verbose=0
    )
    coded = make_coded_net(
        net, n_coded=40, batch_size=32, mu=0.4, coded_loss="task", block="1", random_state=0
    )
    coded.initialize()
    xb, yb = torch.from_numpy(X), torch.from_numpy(y).long()
    torch.manual_seed(5)
    step = coded.train_step_single((xb, yb))
    torch.manual_seed(5)
    out = coded_smoothing_loss(
        coded.module_,
        xb,
        yb,
        criterion=nn.CrossEntropyLoss(),
        mu=0.4,
        block="1",
        coder=coded.coder_,
    )
    torch.testing.assert_close(step["loss"], out.loss)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(mu=1.5), "mu must be"),
        (dict(coded_loss="hinge"), "coded_loss must be"),
        (dict(criterion=None), "needs a criterion"),
        (dict(criterion="ce"), "criterion must be callable"),
        (dict(joint_forward=1), "joint_forward must be"),
        (dict(block="nope"), "nope"),
        (dict(coder="coder"), "coder must be"),
        (dict(n_coded=1), "n_coded must be"),
    ],
)
def test_invalid_arguments_are_named(kwargs, match):
    model, (x, y) = _model(), _batch()
    params = dict(criterion=nn.CrossEntropyLoss())
    params.update(kwargs)
    with pytest.raises((ValueError, AttributeError), match=match):
        coded_smoothing_loss(model, x, y, **params)
    with pytest.raises(ValueError, match="x must be a tensor with >= 2 rows"):
        coded_smoothing_loss(model, x[:1], y[:1], criterion=nn.CrossEntropyLoss())


def test_uses_a_given_coder_on_the_batch_device_and_dtype():
    model, (x, y) = _model(torch.float64), _batch(dtype=torch.float64)
    coder = CodedSmoothing(12, 18, jitter=False)  # float32 buffers
    out = coded_smoothing_loss(model, x, y, criterion=nn.CrossEntropyLoss(), coder=coder)
    assert coder.encoder.dtype == torch.float64 and out.coded_output.dtype == torch.float64


def test_user_guide_loop_runs_and_trains():
    text = (Path(__file__).parents[2] / "docs" / "user_guide.rst").read_text()
    section = text.split("In your own training loop")[1].split(".. code-block:: python\n")[1]
    lines = itertools.takewhile(lambda line: not line or line[0] == " ", section.splitlines())
    code = textwrap.dedent("\n".join(lines))
    namespace = {}
    exec(code, namespace)  # the documented example, run as printed
    out, model = namespace["out"], namespace["model"]
    assert out.output.shape == (32, 3) and out.decoding_error > 0
    with torch.no_grad():
        before = nn.functional.cross_entropy(_model_like(model)(namespace["X"]), namespace["y"])
        after = nn.functional.cross_entropy(model(namespace["X"]), namespace["y"])
    assert after < before


def _model_like(model):
    """The example's model before training (same seed, same draws)."""
    torch.manual_seed(0)
    torch.randn(256, 4), torch.randint(0, 3, (256,))
    return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))


@pytest.mark.parametrize("coded_loss", ["task", "consistency"])
def test_additive_weighting_keeps_the_main_loss_whole(coded_loss):
    # weighting="additive": L = L_main + mu L_coded; "convex": (1 - mu) L_main + mu L_coded,
    # both from the same terms (the fixed layout gives the same coder twice).
    model, (x, y) = _model(torch.float64), _batch(dtype=torch.float64)
    params = dict(criterion=nn.CrossEntropyLoss(), mu=0.3, n_coded=17, jitter=False)
    add = coded_smoothing_loss(model, x, y, coded_loss=coded_loss, weighting="additive", **params)
    convex = coded_smoothing_loss(model, x, y, coded_loss=coded_loss, **params)
    torch.testing.assert_close(add.main, convex.main)
    torch.testing.assert_close(add.loss, add.main + 0.3 * add.coded)
    torch.testing.assert_close(convex.loss, 0.7 * add.main + 0.3 * add.coded)
    with pytest.raises(ValueError, match=r"weighting must be one of .* got 'sum'"):
        coded_smoothing_loss(model, x, y, weighting="sum", **params)


def test_skorch_net_trains_on_the_additive_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 4)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    net = NeuralNetClassifier(
        _model(), criterion=nn.CrossEntropyLoss, max_epochs=1, train_split=None, verbose=0
    )
    coded = make_coded_net(
        net, n_coded=40, batch_size=32, mu=0.4, weighting="additive", random_state=0
    )
    coded.initialize()
    xb, yb = torch.from_numpy(X), torch.from_numpy(y).long()
    torch.manual_seed(5)
    step = coded.train_step_single((xb, yb))
    torch.manual_seed(5)
    out = coded_smoothing_loss(
        coded.module_, xb, yb, criterion=nn.CrossEntropyLoss(), mu=0.4,
        coded_loss="consistency", coder=coded.coder_,
    )  # fmt: skip
    torch.testing.assert_close(step["loss"], out.main + 0.4 * out.coded)
    with pytest.raises(ValueError, match="weighting must be one of"):
        make_coded_net(net, n_coded=40, batch_size=32, mu=0.4, weighting="convex-ish")


def test_bn_stats_plain_leaves_the_running_statistics_to_the_plain_pass():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    x, y = _batch(k=16)
    oracle = copy.deepcopy(model)
    oracle(x)  # one plain training-mode pass: ERM's update of the statistics
    params = dict(criterion=nn.CrossEntropyLoss(), mu=0.5, n_coded=8)
    plain = copy.deepcopy(model)
    out = coded_smoothing_loss(plain, x, y, bn_stats="plain", **params)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(plain[1], name), getattr(oracle[1], name))
    out.loss.backward()  # the coded pass still trains through the batch statistics
    assert plain[0].weight.grad.abs().sum() > 0
    both = copy.deepcopy(model)
    coded_smoothing_loss(both, x, y, **params)  # default: the coded pass updates them too
    assert int(both[1].num_batches_tracked) == 2
    assert not torch.allclose(both[1].running_mean, oracle[1].running_mean)
    with pytest.raises(ValueError, match="bn_stats='plain' needs two passes"):
        coded_smoothing_loss(model, x, y, bn_stats="plain", joint_forward=True, **params)
    with pytest.raises(ValueError, match="bn_stats must be one of"):
        make_coded_net(
            NeuralNetClassifier(model, criterion=nn.CrossEntropyLoss),
            n_coded=8, batch_size=16, mu=0.5, bn_stats="coded",
        )  # fmt: skip


def test_skorch_net_passes_bn_stats_to_its_training_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    x, y = _batch(k=16)
    net = NeuralNetClassifier(model, criterion=nn.CrossEntropyLoss, train_split=None, verbose=0)
    counts = {}
    for bn_stats in ("plain", "both"):
        coded = make_coded_net(net, n_coded=8, batch_size=16, mu=0.5, bn_stats=bn_stats)
        coded.initialize()
        coded.train_step_single((x, y))
        counts[bn_stats] = int(coded.module_[1].num_batches_tracked)
    assert counts == {"plain": 1, "both": 2}
