"""run_workers in process (executor=None): one vectorised call, then the straggler mask."""

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _execution_models import MarkedLinear, marked_coded

from sklearn_coded.execution import (
    FixedStragglers,
    InsufficientResultsError,
    LatencyStragglers,
    RandomStragglers,
    run_workers,
)
from sklearn_coded.execution._backends import SUBMIT_ORDERS, submission_order


class CountingModel(MarkedLinear):
    """Counts calls and the rows of each."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def decision_function(self, X):
        self.calls.append(X.shape[0])
        return super().decision_function(X)


def test_in_process_equals_a_direct_call_in_one_call():
    coded = marked_coded(6, 5)
    model = CountingModel()
    results, returned = run_workers(model, "decision_function", coded)
    assert model.calls == [30]  # one vectorised call on all N * B rows
    assert returned.all() and results.shape == (6, 5, 3)
    np.testing.assert_array_equal(
        results, model.decision_function(coded.reshape(30, -1)).reshape(6, 5, 3)
    )


def test_one_dimensional_outputs_become_one_column():
    coded = marked_coded(4, 3)
    results, _ = run_workers(MarkedLinear(), "predict", coded)
    assert results.shape == (4, 3, 1)
    # The same product as one (12, 4) @ (4,) call; BLAS may round it differently.
    np.testing.assert_allclose(
        results[..., 0], coded @ MarkedLinear().weights[:, 0], rtol=1e-13, atol=1e-13
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtype_is_kept(dtype):
    results, _ = run_workers(MarkedLinear(), "decision_function", marked_coded(4, 2).astype(dtype))
    assert results.dtype == dtype


def test_integer_outputs_become_float64():
    class Rounding(MarkedLinear):
        def predict(self, X):
            return np.rint(super().predict(X)).astype(int)

    results, _ = run_workers(Rounding(), "predict", marked_coded(4, 2))
    assert results.dtype == np.float64


@pytest.mark.parametrize(
    "stragglers", [2, FixedStragglers(2), 0.3, LatencyStragglers(0.0, 1.0, deadline=1.0)]
)
def test_missing_rows_follow_the_model_and_the_seed(stragglers):
    coded = marked_coded(10, 40)
    model = MarkedLinear()
    results, returned = run_workers(
        model, "decision_function", coded, stragglers=stragglers, random_state=7
    )
    again = run_workers(model, "decision_function", coded, stragglers=stragglers, random_state=7)
    np.testing.assert_array_equal(returned, again[1])
    np.testing.assert_array_equal(results, again[0])  # NaN == NaN here
    other = run_workers(model, "decision_function", coded, stragglers=stragglers, random_state=8)
    assert not np.array_equal(returned, other[1])
    assert np.isnan(results[~returned]).all()
    np.testing.assert_allclose(
        results[returned], coded[returned] @ model.weights, rtol=1e-13, atol=1e-13
    )
    if isinstance(stragglers, int | FixedStragglers):
        np.testing.assert_array_equal(returned.sum(axis=0), 8)


def test_random_stragglers_miss_about_p():
    model, coded = MarkedLinear(), marked_coded(20, 500)
    _, returned = run_workers(
        model, "decision_function", coded, stragglers=RandomStragglers(0.2), random_state=0
    )
    # 10000 Bernoulli(0.2) draws: standard deviation of the mean 0.004.
    assert abs((~returned).mean() - 0.2) < 0.02


def test_nonfinite_rows_are_missing_workers():
    coded = marked_coded(5, 3)
    model = MarkedLinear(nonfinite_on={(1, 0): np.nan, (3, 2): np.inf})
    results, returned = run_workers(model, "decision_function", coded)
    expected = np.ones((5, 3), dtype=bool)
    expected[1, 0] = expected[3, 2] = False
    np.testing.assert_array_equal(returned, expected)
    assert np.isnan(results[~returned]).all()
    np.testing.assert_allclose(
        results[returned], coded[returned] @ model.weights, rtol=1e-13, atol=1e-13
    )


def test_too_few_results_raise_with_the_counts():
    model = MarkedLinear(nonfinite_on={(w, 1): np.nan for w in range(4)})
    with pytest.raises(InsufficientResultsError) as info:
        run_workers(model, "decision_function", marked_coded(5, 3), min_results=2)
    assert (info.value.n_returned, info.value.n_needed) == (1, 2)
    assert "Only 1 of 5 workers returned a finite result for batch 1 (of 3)" in str(info.value)
    assert "min_results=2" in str(info.value)


def test_an_exception_in_the_single_call_propagates():
    with pytest.raises(ValueError, match=r"worker \[2\] fails"):
        run_workers(MarkedLinear(raise_on={2}), "decision_function", marked_coded(4, 2))


def test_insufficient_results_error_pickles():
    error = pickle.loads(pickle.dumps(InsufficientResultsError(1, 3, "custom")))
    assert (error.n_returned, error.n_needed, str(error)) == (1, 3, "custom")
    assert isinstance(error, RuntimeError)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"coded": np.ones((4, 3))}, ValueError, r"coded must be .* got shape \(4, 3\)"),
        ({"coded": np.ones((4, 0, 3))}, ValueError, r"got shape \(4, 0, 3\)"),
        ({"coded": np.full((4, 2, 3), np.nan)}, ValueError, "coded contains NaN or inf"),
        ({"coded": np.full((4, 2, 3), "a")}, ValueError, "coded must hold real numbers"),
        (
            {"method": "transform"},
            ValueError,
            r"method='transform' is not a method of MarkedLinear",
        ),
        ({"method": len}, TypeError, r"method must be the name of a method"),
        (
            {"min_results": 0},
            ValueError,
            r"min_results must be an int in \[1, n_workers=4\]; got 0",
        ),
        ({"min_results": 5}, ValueError, r"got 5"),
        ({"stragglers": 3}, ValueError, r"stragglers=FixedStragglers\(n_stragglers=3\)"),
        ({"stragglers": "many"}, TypeError, r"stragglers must be .* got 'many'"),
        ({"timeout": -1}, ValueError, r"timeout must be None or a number of seconds > 0; got -1"),
        ({"chunk_size": 0}, ValueError, r"chunk_size must be an int >= 1; got 0"),
        ({"executor": "dask"}, TypeError, r"executor must be None, .* got 'dask'"),
        ({"enough": all}, ValueError, r"enough applies to real executors"),
    ],
)
def test_bad_input_is_named(kwargs, error, match):
    arguments = {"method": "decision_function", "coded": marked_coded(4, 2), **kwargs}
    with pytest.raises(error, match=match):
        run_workers(MarkedLinear(), arguments.pop("method"), arguments.pop("coded"), **arguments)


def test_bad_outputs_in_process_are_an_error():
    with pytest.raises(ValueError, match=r"MarkedLinear.decision_function on the 8 coded rows"):
        run_workers(
            MarkedLinear(short_on={0, 1, 2, 3}),
            "decision_function",
            marked_coded(4, 2)[:1].repeat(4, 0),
        )


def test_thread_pool_and_in_process_agree_without_stragglers():
    coded = marked_coded(6, 4)
    with ThreadPoolExecutor(3) as pool:
        threaded = run_workers(MarkedLinear(), "decision_function", coded, executor=pool)
    in_process = run_workers(MarkedLinear(), "decision_function", coded)
    np.testing.assert_array_equal(threaded[0], in_process[0])
    np.testing.assert_array_equal(threaded[1], in_process[1])


@pytest.mark.parametrize("n_workers", [1, 2, 3, 8, 9, 17, 64])
def test_submission_orders_are_permutations(n_workers):
    rng = np.random.RandomState(0)
    for kind in SUBMIT_ORDERS:
        order = submission_order(kind, n_workers, rng)
        np.testing.assert_array_equal(np.sort(order), np.arange(n_workers))
    np.testing.assert_array_equal(submission_order("index", n_workers, rng), range(n_workers))


def test_random_order_is_fresh_per_draw_and_seeded():
    first = submission_order("random", 16, np.random.RandomState(0))
    np.testing.assert_array_equal(first, submission_order("random", 16, np.random.RandomState(0)))
    assert not np.array_equal(first, submission_order("random", 16, np.random.RandomState(1)))


def test_spread_order_sends_the_ends_first_and_leaves_even_gaps():
    # Whatever the last S sent (the late ones), the first N - S cover the
    # interval with no gap wider than about 2 N / (N - S): bisection levels.
    n_workers = 64
    order = submission_order("spread", n_workers, np.random.RandomState(0))
    assert set(order[:2]) == {0, n_workers - 1}
    for n_late in (1, 6, 16, 31):
        kept = np.sort(order[: n_workers - n_late])
        assert np.diff(kept).max() <= 2 * n_workers / (n_workers - n_late) + 1


def test_bad_submit_order_is_named():
    with pytest.raises(ValueError, match=r"submit_order must be one of .* got 'fifo'"):
        run_workers(MarkedLinear(), "decision_function", marked_coded(4, 2), submit_order="fifo")
