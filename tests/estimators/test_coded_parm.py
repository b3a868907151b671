"""``scheme="parm"``: learned parity models inside the coded estimators (docs/method.rst 11)."""

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

torch = pytest.importorskip("torch")

from sklearn_coded.coding import ParityModel  # noqa: E402
from sklearn_coded.estimators import CodedClassifier, CodedRegressor  # noqa: E402
from sklearn_coded.estimators._diagnostics import UncertifiedBatchWarning  # noqa: E402
from sklearn_coded.execution import InsufficientResultsError, RandomStragglers  # noqa: E402

torch.set_num_threads(1)


def _linear_parity(n_features, n_outputs=1, **params):
    # A linear parity network learns the closed form A P + k b of an affine f.
    params = {"max_epochs": 60, "lr": 0.05, **params}
    return ParityModel(module=torch.nn.Linear(n_features, n_outputs), **params)


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=400, n_features=4, noise=1.0, random_state=0)
    return X / X.std(axis=0), y / y.std()


def test_affine_regressor_reconstructs_every_missing_row(regression):
    # S = 1 of k + 1 = 4 workers per group: a data worker is missing in 3 of 4
    # groups and its row is f_P(P) - sum of the others, (11.3): for Ridge (affine)
    # and a linear parity network, the plain prediction up to training error.
    X, y = regression
    reg = CodedRegressor(
        Ridge(),
        scheme="parm",
        batch_size=3,
        n_coded=4,
        stragglers=1,
        random_state=0,
        parity_model=_linear_parity(4),
    ).fit(X, y)
    plain = reg.estimator_.predict(X)
    coded = reg.predict(X)
    assert reg.diagnostics_.last.results_used.tolist() == [3] * 134
    np.testing.assert_allclose(coded, plain, atol=0.02 * np.ptp(plain))
    assert reg.parity_model_.k == 3 and reg.parity_model_.r == 1


def test_without_stragglers_predictions_are_the_plain_model(regression):
    X, y = regression
    reg = CodedRegressor(
        Ridge(), scheme="parm", batch_size=4, parity_model=_linear_parity(4, max_epochs=2)
    ).fit(X, y)
    assert reg.parity_model_.r == 1  # n_coded=None: one parity worker
    np.testing.assert_array_equal(reg.predict(X[:10]), reg.estimator_.predict(X[:10]))


def test_more_missing_than_parities_raises_or_returns_nan(regression):
    X, y = regression
    params = dict(scheme="parm", batch_size=2, n_coded=3, random_state=0)
    reg = CodedRegressor(Ridge(), **params, parity_model=_linear_parity(4, max_epochs=2))
    reg.set_params(stragglers=RandomStragglers(0.5)).fit(X, y)
    with pytest.raises(InsufficientResultsError, match="min_results=2"):
        reg.predict(X)
    reg.set_params(on_uncertified="nan")
    with pytest.warns(UncertifiedBatchWarning, match="more data outputs missing"):
        out = reg.predict(X)
    last = reg.diagnostics_.last
    refused = np.flatnonzero(last.results_used < 2)
    assert refused.size > 0 and np.array_equal(last.uncertified, refused)
    rows = np.isnan(out).reshape(-1, 2)
    assert np.array_equal(np.flatnonzero(rows.all(axis=1)), refused)  # whole groups, no more
    assert not rows[np.setdiff1d(np.arange(200), refused)].any()
    with pytest.raises(ValueError, match="stragglers"):  # a fixed S > r is refused up front
        reg.set_params(stragglers=2, on_uncertified="raise").predict(X)


def test_parm_in_a_pipeline_and_cross_validation():
    X, y = load_digits(return_X_y=True)
    X, y = X[:500], y[:500]
    clf = CodedClassifier(
        LogisticRegression(max_iter=300),
        scheme="parm",
        batch_size=2,
        n_coded=3,
        stragglers=1,
        random_state=0,
        parity_model=ParityModel(hidden_sizes=(64,), max_epochs=15, lr=3e-3),
    )
    scores = cross_val_score(make_pipeline(StandardScaler(), clf), X, y, cv=3)
    plain = cross_val_score(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)), X, y, cv=3
    )
    # half the rows are reconstructed by the parity model: a few points below the plain model
    assert scores.mean() > plain.mean() - 0.1
    assert scores.mean() > 0.8


def test_parm_on_a_thread_pool_matches_in_process(regression):
    X, y = regression
    reg = CodedRegressor(
        Ridge(),
        scheme="parm",
        batch_size=4,
        n_coded=5,
        stragglers=1,
        random_state=0,
        parity_model=_linear_parity(4),
    ).fit(X, y)
    plain = reg.estimator_.predict(X)
    with ThreadPoolExecutor(3) as pool:
        out = reg.set_params(executor=pool, timeout=30).predict(X)
    assert reg.diagnostics_.last.results_used.min() >= 4
    np.testing.assert_allclose(out, plain, atol=0.02 * np.ptp(plain))
    # process pools and dask worker processes receive the worker pickled
    rows = np.column_stack([X[:6], [0, 1, 0, 1, 0, 1]])
    copy = pickle.loads(pickle.dumps(reg._parm_worker))
    np.testing.assert_array_equal(copy.response(rows), reg._parm_worker.response(rows))


def test_parm_on_a_dask_cluster(regression):
    distributed = pytest.importorskip("distributed")
    X, y = regression
    reg = CodedRegressor(
        Ridge(),
        scheme="parm",
        batch_size=4,
        n_coded=5,
        stragglers=1,
        random_state=0,
        parity_model=_linear_parity(4),
    ).fit(X, y)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address="127.0.0.1:0",  # any free port (tests/execution/conftest.py)
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = reg.set_params(executor=client, timeout=60).predict(X[:40])
    plain = reg.estimator_.predict(X[:40])
    np.testing.assert_allclose(out, plain, atol=0.02 * np.ptp(plain))


def test_parm_parameter_errors_name_parameter_and_value(regression):
    X, y = regression
    with pytest.raises(ValueError, match="n_coded=4 and batch_size=4"):
        CodedRegressor(Ridge(), scheme="parm", batch_size=4, n_coded=4).fit(X, y)
    with pytest.raises(ValueError, match=r"mu=0.5 does not apply to scheme='parm'"):
        CodedRegressor(Ridge(), scheme="parm", mu=0.5).fit(X, y)
    with pytest.raises(ValueError, match="points='systematic' does not apply"):
        CodedRegressor(Ridge(), scheme="parm", points="systematic").fit(X, y)
    with pytest.raises(TypeError, match="parity_model='big'"):
        CodedRegressor(Ridge(), scheme="parm", parity_model="big").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'scheme' parameter"):
        CodedRegressor(Ridge(), scheme="parity").fit(X, y)
    reg = CodedRegressor(
        Ridge(), scheme="parm", batch_size=2, parity_model=_linear_parity(4, max_epochs=1)
    ).fit(X, y)
    with pytest.raises(ValueError, match=r"batch_size=3 and n_coded=4 differ .* k=2, r=1"):
        reg.set_params(batch_size=3, n_coded=4).predict(X)
