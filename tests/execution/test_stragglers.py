"""Straggler models: draws follow the model, are seeded, and bad values are named."""

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_coded.execution import (
    FixedStragglers,
    LatencyStragglers,
    RandomStragglers,
    check_stragglers,
)

MODELS = [
    FixedStragglers(2),
    RandomStragglers(0.3),
    LatencyStragglers(0.01, 0.02, slow_prob=0.1, slow_scale=0.5, n_stragglers=1, deadline=0.05),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_draws_are_reproducible_with_a_seed(model):
    first = model.draw_missing(8, 50, random_state=3)
    assert first.shape == (8, 50) and first.dtype == bool
    np.testing.assert_array_equal(first, model.draw_missing(8, 50, random_state=3))
    assert not np.array_equal(first, model.draw_missing(8, 50, random_state=4))
    plan = model.draw_plan(8, random_state=3)
    np.testing.assert_array_equal(plan.delays, model.draw_plan(8, random_state=3).delays)


def test_fixed_stragglers_miss_exactly_s_per_batch_uniformly():
    missing = FixedStragglers(3).draw_missing(10, 4000, random_state=0)
    np.testing.assert_array_equal(missing.sum(axis=0), 3)
    # Each worker misses with probability S/N = 0.3; over 4000 batches its count
    # has standard deviation sqrt(4000 * 0.3 * 0.7) = 29: allow 5 of them.
    np.testing.assert_allclose(missing.sum(axis=1), 1200, atol=5 * 29)


def test_fixed_stragglers_plan_waits_for_the_first_n_minus_s():
    plan = FixedStragglers(2).draw_plan(7, random_state=0)
    np.testing.assert_array_equal(plan.delays, 0.0)
    assert plan.n_wait == 5 and plan.deadline is None


@pytest.mark.parametrize("p", [0.0, 0.05, 0.4])
def test_random_stragglers_miss_p_on_average(p):
    missing = RandomStragglers(p).draw_missing(20, 5000, random_state=1)
    # The mean of 100000 Bernoulli(p) has standard deviation sqrt(p (1 - p) / 1e5).
    assert abs(missing.mean() - p) <= 5 * np.sqrt(p * (1 - p) / 1e5)


def test_random_stragglers_plan_sends_no_task_to_the_drawn_workers():
    plan = RandomStragglers(0.5).draw_plan(1000, random_state=2)
    dead = np.isinf(plan.delays)
    assert 400 < dead.sum() < 600  # 5 standard deviations (sqrt(250) = 16) around 500
    np.testing.assert_array_equal(plan.delays[~dead], 0.0)
    assert plan.n_wait == 1000 - dead.sum()


def test_latency_follows_the_shifted_exponential_with_its_tail():
    model = LatencyStragglers(0.1, 0.02, slow_prob=0.2, slow_scale=0.5)
    latencies = model.draw_latencies(200_000, random_state=0)
    assert latencies.min() >= 0.1
    # E[T] = shift + scale + slow_prob * slow_scale = 0.22; the standard error of
    # the mean of 2e5 draws is below 0.001.
    assert abs(latencies.mean() - 0.22) < 0.005
    # Tail: P(T > 1) = 0.2 * P(Exp(0.02) + Exp(0.5) > 0.9), close to 0.2 * exp(-1.8).
    assert abs((latencies > 1.0).mean() - 0.2 * np.exp(-0.9 / 0.5) * 0.5 / 0.48) < 0.005


def test_latency_deadline_misses_with_the_exponential_tail_probability():
    missing = LatencyStragglers(0.05, 0.1, deadline=0.15).draw_missing(100, 2000, random_state=0)
    # P(shift + Exp(scale) > deadline) = exp(-(deadline - shift) / scale) = exp(-1).
    assert abs(missing.mean() - np.exp(-1)) < 0.01


def test_latency_n_stragglers_drops_the_slowest_of_each_batch():
    model = LatencyStragglers(0.0, 1.0, n_stragglers=2)
    missing = model.draw_missing(6, 300, random_state=5)
    np.testing.assert_array_equal(missing.sum(axis=0), 2)
    latencies = model.draw_latencies((6, 300), random_state=5)
    slowest = np.sort(latencies, axis=0)[-2]
    np.testing.assert_array_equal(missing, latencies >= slowest)
    plan = model.draw_plan(6, random_state=5)
    assert plan.n_wait == 4
    np.testing.assert_array_equal(plan.delays, model.draw_latencies(6, random_state=5))


def test_check_stragglers_converts_shorthands():
    assert check_stragglers(None, 5).get_params() == {"n_stragglers": 0}
    assert check_stragglers(2, 5).get_params() == {"n_stragglers": 2}
    assert check_stragglers(np.int64(1), 5).n_stragglers == 1
    assert check_stragglers(0.25, 5).get_params() == {"p": 0.25}
    model = LatencyStragglers(deadline=1.0)
    assert check_stragglers(model, 5) is model


def test_straggler_models_clone_like_estimators():
    model = LatencyStragglers(0.1, n_stragglers=2)
    assert clone(model).get_params() == model.get_params()
    assert repr(model) == "LatencyStragglers(n_stragglers=2, shift=0.1)"


@pytest.mark.parametrize(
    "stragglers, match",
    [
        (5, r"stragglers=FixedStragglers\(n_stragglers=5\) is invalid: n_stragglers=5 leaves"),
        (4, r"leaves fewer than min_results=2 of the 5 workers; at most 3 can straggle"),
        (-1, r"n_stragglers must be an int >= 0, got -1"),
        (1.5, r"stragglers=RandomStragglers\(p=1.5\) is invalid: p must be a probability"),
        (float("nan"), r"p must be a probability in \[0, 1\), got nan"),
        (FixedStragglers(1.0), r"n_stragglers must be an int >= 0, got 1.0"),
        (LatencyStragglers(scale=-1.0), r"scale must be a finite float >= 0, got -1.0"),
        (LatencyStragglers(slow_prob=2.0), r"slow_prob must be in \[0, 1\], got 2.0"),
        (LatencyStragglers(deadline=0), r"deadline must be None or a float > 0, got 0"),
        (LatencyStragglers(n_stragglers=9), r"stragglers=LatencyStragglers\(n_stragglers=9\)"),
    ],
)
def test_check_stragglers_names_parameter_and_value(stragglers, match):
    with pytest.raises(ValueError, match=match):
        check_stragglers(stragglers, 5, min_results=2)


@pytest.mark.parametrize("stragglers", [True, "2", [1]])
def test_check_stragglers_rejects_other_types(stragglers):
    with pytest.raises(TypeError, match=r"stragglers must be None, an int .* got"):
        check_stragglers(stragglers, 5)
