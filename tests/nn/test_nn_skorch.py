"""Tests of coded-smoothing training for skorch nets (make_coded_net)."""

import copy
import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch import NeuralNetClassifier, NeuralNetRegressor
from torch import nn

from sklearn_coded.nn import CodedSmoothing, coded_net_class, make_coded_net


class MLP(nn.Module):
    def __init__(self, n_in=5, n_hidden=16, n_out=3):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU())
        self.out = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return self.out(self.hidden(x))


def _data(n=96, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X, y


def _net(module=MLP, **kwargs):
    params = dict(
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        lr=0.1,
        max_epochs=3,
        batch_size=32,
        train_split=None,
        verbose=0,
    )
    params.update(kwargs)
    return NeuralNetClassifier(module, **params)


def _coded(net, **kwargs):
    # fixed points (jitter=False): the tests compare against the fixed operators
    params = dict(
        n_coded=48, batch_size=32, mu=0.5, coded_loss="task", jitter=False, random_state=0
    )
    params.update(kwargs)
    return make_coded_net(net, **params)


def _weights(net):
    return {name: p.detach().clone() for name, p in net.module_.named_parameters()}


def test_mu_zero_trains_exactly_like_the_plain_net():
    X, y = _data(n=100)  # 32, 32, 32, 4: also a short last batch
    plain = _net(iterator_train__shuffle=True)
    torch.manual_seed(7)
    plain.fit(X, y)
    coded = _coded(_net(iterator_train__shuffle=True), mu=0.0, random_state=7)
    coded.fit(X, y)
    for name, weight in _weights(plain).items():
        assert torch.equal(weight, _weights(coded)[name]), name


def test_mu_one_task_loss_on_linear_module_is_training_on_smoothed_inputs():
    # With f linear, D f(E x) = (D E x) W' + b (D reproduces constants), so with
    # mu = 1 and coded_loss="task" each step is the plain step on the batch D E X.
    X, y = _data(n=64)
    linear = dict(module=nn.Linear, module__in_features=5, module__out_features=3)
    coded = _coded(_net(**linear), mu=1.0, n_coded=40).fit(X, y)
    coder = CodedSmoothing(32, 40, dtype=torch.float64)
    E, D = coder.numpy_matrices(32)
    smoothed = np.concatenate([D @ E @ X[:32], D @ E @ X[32:]]).astype(np.float32)
    plain = _net(**linear)
    torch.manual_seed(0)
    plain.fit(smoothed, y)
    for name, weight in _weights(plain).items():
        torch.testing.assert_close(_weights(coded)[name], weight, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("coded_loss", ["task", "consistency"])
@pytest.mark.parametrize("block", [None, "hidden"])
def test_loss_is_the_formula_on_a_hand_computed_batch(coded_loss, block):
    X, y = _data(n=32)
    mu = 0.3
    net = _coded(_net(), coded_loss=coded_loss, mu=mu, block=block).initialize()
    net.module_.double()
    Xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(y)
    step = net.train_step_single((Xt, yt))
    module = net.module_
    plain = module(Xt)
    coder = CodedSmoothing(32, 48, dtype=torch.float64)
    decoded = coder(Xt, module) if block is None else module.out(coder(Xt, module.hidden))
    cross_entropy = nn.functional.cross_entropy
    if coded_loss == "task":
        coded_term = cross_entropy(decoded, yt)
    elif block is None:
        coded_term = ((decoded - plain) ** 2).mean()
    else:  # consistency at the block's output (docs/method.rst 5): D f(E h) against f(h)
        coded_term = ((coder(Xt, module.hidden) - module.hidden(Xt)) ** 2).mean()
    expected = (1 - mu) * cross_entropy(plain, yt) + mu * coded_term
    torch.testing.assert_close(step["loss"], expected)
    torch.testing.assert_close(step["y_pred"], plain)
    assert all(p.grad is not None for p in module.parameters())


def test_joint_and_separate_forward_give_the_same_loss_without_batchnorm():
    X, y = _data(n=32)
    batch = (torch.tensor(X), torch.tensor(y))
    joint = _coded(_net(), joint_forward=True).initialize()
    separate = _coded(_net(), joint_forward=False).initialize()
    separate.module_.load_state_dict(joint.module_.state_dict())
    torch.testing.assert_close(
        joint.train_step_single(batch)["loss"], separate.train_step_single(batch)["loss"]
    )


def test_short_last_batch_and_coder_on_device():
    X, y = _data(n=70)  # batches of 32, 32, 6
    net = _coded(_net(), n_coded=64).fit(X, y)
    assert net.coder_.encoder.shape == (64, 32)
    assert net.coder_.encoder_6.shape == (12, 6)  # ceil(6 * 64 / 32)
    assert net.coder_.encoder.device == torch.device(net.device)
    assert np.isfinite(net.history[-1, "train_loss"])
    assert net.history[-1, "batches", -1, "train_loss_coded"] >= 0


def test_converts_dtypes_and_seeds_from_random_state():
    X, y = _data()
    first = _coded(_net()).fit(X.astype(np.float64), y.astype(np.int32))
    second = _coded(_net()).fit(X, y)
    for name, weight in _weights(first).items():
        assert torch.equal(weight, _weights(second)[name])
    assert first.predict(X.astype(np.float64)).dtype == np.int64
    regressor = NeuralNetRegressor(
        MLP, module__n_out=1, max_epochs=2, batch_size=32, train_split=None, verbose=0
    )
    coded = make_coded_net(regressor, n_coded=40, batch_size=32, mu=0.5, coded_loss="task")
    coded.fit(X.astype(np.float64), X[:, :1].astype(np.float64))
    assert type(coded).__name__ == "CodedNeuralNetRegressor"


def test_pickle_clone_and_deepcopy_round_trips():
    X, y = _data()
    net = _coded(_net(), smoothing=(0.0, 1e-3), block="hidden").fit(X, y)
    proba = net.predict_proba(X)
    for copy_ in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert type(copy_) is type(net)
        np.testing.assert_array_equal(copy_.predict_proba(X), proba)
        assert copy_.coder_.smoothing == (0.0, 1e-3)
    cloned = clone(net)
    assert type(cloned) is type(net) is coded_net_class(NeuralNetClassifier)
    assert not hasattr(cloned, "module_")
    params = net.get_params(deep=False)
    assert {k: cloned.get_params(deep=False)[k] for k in ("mu", "n_coded", "block")} == {
        "mu": 0.5,
        "n_coded": 48,
        "block": "hidden",
    }
    np.testing.assert_array_equal(cloned.fit(X, y).predict_proba(X), proba)
    assert params["random_state"] == 0
    unfitted = pickle.loads(pickle.dumps(_coded(_net())))
    assert unfitted.mu == 0.5


def test_grid_search_over_mu_and_n_coded():
    X, y = _data(n=128)
    search = GridSearchCV(_coded(_net(max_epochs=2)), {"mu": [0.0, 0.5], "n_coded": [40, 48]}, cv=2)
    search.fit(X, y)
    assert set(search.best_params_) == {"mu", "n_coded"}
    assert search.best_estimator_.coder_.n_coded == search.best_params_["n_coded"]


def test_same_family_and_parameters_as_the_user_net():
    net = _net(
        optimizer=torch.optim.Adam, lr=0.01, module__n_hidden=8, iterator_train__batch_size=8
    )
    coded = _coded(net, progress_bar=True)
    assert isinstance(coded, NeuralNetClassifier)
    assert coded.optimizer is torch.optim.Adam and coded.lr == 0.01
    assert coded.module__n_hidden == 8
    assert coded.batch_size == 32 and coded.iterator_train__batch_size == 32
    assert net.batch_size == 32 and net.iterator_train__batch_size == 8  # untouched
    coded.initialize()
    assert "progress_bar" in dict(coded.callbacks_)
    assert coded.coder_.n_samples == 32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mu": 1.5}, "mu"),
        ({"n_coded": 1}, "n_coded"),
        ({"coded_loss": "kl"}, "coded_loss"),
        ({"scheme": "fourier"}, "scheme"),
        ({"smoothing": -1.0}, "smoothing"),
        ({"batch_size": 1}, "batch_size"),
        ({"joint_forward": "yes"}, "joint_forward"),
    ],
)
def test_invalid_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _coded(_net(), **kwargs)


def test_misuse_is_reported():
    with pytest.raises(TypeError, match="skorch NeuralNet"):
        make_coded_net(object(), n_coded=4, batch_size=4, mu=0.5)
    with pytest.raises(TypeError, match="unexpected"):
        _coded(_net(), blok="hidden")
    X, y = _data(n=32)
    with pytest.raises(AttributeError, match="nothing"):
        _coded(_net(), block="nothing").fit(X, y)
    with pytest.raises(ValueError, match="batch_size=-1"):
        _coded(_net()).set_params(iterator_train__batch_size=-1).fit(X, y)
    with pytest.raises(ValueError, match="passes every row through exactly"):
        _coded(_net(), n_coded=32).fit(X, y)
    softmax = nn.Sequential(MLP(), nn.Softmax(dim=-1))
    with pytest.raises(ValueError, match="logits"):
        _coded(_net(module=softmax, criterion=nn.NLLLoss)).fit(X, y)


@pytest.mark.parametrize(
    ("points", "n_coded", "rows"),
    [("uniform", 64, [0, 31]), ("uniform", 63, "all"), ("chebyshev", 96, "all")],
)
def test_fixed_layouts_that_decode_rows_exactly_are_refused(points, n_coded, rows):
    # uniform: the end points are shared; (N - 1) / (K - 1) = 2 shares all of them.
    # Chebyshev: N / K = 3 is odd, so every data angle is a coded angle.
    X, y = _data(n=64)
    message = "every row" if rows == "all" else f"rows {rows}"
    with pytest.raises(ValueError, match=re.escape(f"passes {message} through exactly")):
        _coded(_net(), points=points, n_coded=n_coded).fit(X, y)
    # the same layouts with fresh coded points per batch train, and mu = 0 ignores them
    _coded(_net(), points=points, n_coded=n_coded, jitter=True).fit(X, y)
    _coded(_net(), points=points, n_coded=n_coded, mu=0.0).fit(X, y)


def test_short_last_batch_with_exact_rows_is_refused():
    # Chebyshev points of K and N share points when N/g and K/g are both odd
    # (g = gcd). K = 32, N = 72 (9/4) shares none; the last batch of 3 rows gets
    # ceil(3 * 72 / 32) = 7 coded rows, and 7/1, 3/1 are odd: all exact.
    X, y = _data(n=35)
    with pytest.raises(ValueError, match="K=3 rows and N=7 coded rows"):
        _coded(_net(), n_coded=72).fit(X, y)


def test_decoding_error_is_logged_and_shrinks_as_n_grows():
    X, y = _data(n=128)
    errors = {}
    for n_coded in (8, 128):
        net = _coded(_net(max_epochs=2), n_coded=n_coded, block="hidden").fit(X, y)
        errors[n_coded] = np.mean(net.history[:, "batches", :, "train_decoding_error"])
    assert 0 < errors[128] < errors[8] / 10


def test_decoding_error_is_the_rms_of_block_outputs():
    X, y = _data(n=32)
    net = _coded(_net(max_epochs=1), block="hidden").fit(X, y)
    logged = net.history[-1, "batches", -1, "train_decoding_error"]
    # replay the epoch's single batch from the initial weights, in float64
    replay = _coded(_net(max_epochs=1), block="hidden").initialize()
    torch.manual_seed(0)
    replay.initialize()
    Xt = torch.tensor(X, dtype=torch.float64)
    module = replay.module_.double()
    coder = CodedSmoothing(32, 48, dtype=torch.float64)
    expected = torch.sqrt(((coder(Xt, module.hidden) - module.hidden(Xt)) ** 2).mean())
    assert logged == pytest.approx(expected.item(), rel=1e-4)


def test_jittered_points_are_fresh_per_batch_and_seeded():
    X, y = _data(n=96)
    nets = [_coded(_net(), jitter=True, n_coded=96).fit(X, y) for _ in range(2)]
    for name, weight in _weights(nets[0]).items():
        assert torch.equal(weight, _weights(nets[1])[name])  # seeded by random_state
    errors = np.array(nets[0].history[:, "batches", :, "train_decoding_error"]).ravel()
    assert len(np.unique(errors)) == len(errors)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_cuda_with_the_matrices_on_the_device():
    X, y = _data(n=256)
    net = _coded(_net(device="cuda", max_epochs=5), n_coded=64).fit(X, y)
    assert net.coder_.encoder.device.type == "cuda"
    assert next(net.module_.parameters()).device.type == "cuda"
    assert net.score(X, y) > 0.5
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(restored.predict_proba(X), net.predict_proba(X), rtol=1e-5)
