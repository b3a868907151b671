"""Straggler models users meet: racks that fail together, heavy tails, targeted workers."""

import numpy as np
import pytest
from scipy import stats

from sklearn_coded.coding import replica_rows
from sklearn_coded.execution import (
    GroupStragglers,
    LatencyStragglers,
    TargetedStragglers,
    check_stragglers,
)


def test_groups_fail_as_one_and_p_of_the_workers_on_average():
    model = GroupStragglers(group_size=3, p=0.2, layout="contiguous")
    missing = model.draw_missing(10, 4000, random_state=0)  # groups 0-2, 3-5, 6-8, 9
    for first, last in [(0, 3), (3, 6), (6, 9)]:
        assert (missing[first:last] == missing[first]).all()
    # the groups' outages are independent Bernoulli(0.2): a binomial test on 16000 draws
    n_down = int(missing[[0, 3, 6, 9]].sum())
    assert stats.binomtest(n_down, 16000, 0.2).pvalue > 1e-3
    assert abs(np.corrcoef(missing[0], missing[3])[0, 1]) < 0.05


def test_a_random_layout_spreads_a_rack_over_the_code():
    missing = GroupStragglers(group_size=4, p=0.25).draw_missing(16, 3000, random_state=1)
    counts = missing.sum(axis=0)
    assert set(np.unique(counts)) <= {0, 4, 8, 12, 16}  # whole racks of 4 coded rows
    # ... but not adjacent ones: among columns with one rack down, a contiguous block
    # of 4 of the 16 points has probability 13 / C(16, 4) = 0.7%
    one = missing[:, counts == 4]
    spans = np.array([np.ptp(np.flatnonzero(column)) for column in one.T])
    assert (spans == 3).mean() < 0.03 and one.shape[1] > 500
    # every coded row is as likely to be down: p
    assert np.abs(missing.mean(axis=1) - 0.25).max() < 0.05


def test_pareto_tail_matches_the_lomax_survival_function():
    model = LatencyStragglers(shift=0.0, scale=1e-9, slow_prob=1.0, slow_scale=0.02, tail="pareto")
    late = model.draw_latencies(20000, random_state=2)
    a = 1.5  # Lomax(c = a, scale = slow_scale (a - 1)) of scipy: the same law
    assert stats.kstest(late, stats.lomax(c=a, scale=0.02 * (a - 1)).cdf).pvalue > 1e-3
    # with a deadline the misses are the tail's probability, far above the exponential's
    model.set_params(deadline=0.2)
    missing = model.draw_missing(20000, 1, random_state=3)
    assert abs(missing.mean() - (1 + 0.2 / 0.01) ** -a) < 0.005  # 0.0104; exp(-10) = 5e-5


def test_a_block_adversary_takes_s_adjacent_coded_points():
    missing = TargetedStragglers(5).draw_missing(20, 200, random_state=4)
    assert (missing.sum(axis=0) == 5).all()
    first = missing.argmax(axis=0)
    for b in range(200):
        assert missing[first[b] : first[b] + 5, b].all()
    assert len(set(first.tolist())) > 10  # the block's start is drawn per batch


@pytest.mark.parametrize(("K", "N", "S", "lost"), [(4, 8, 4, 2), (4, 8, 5, 2), (4, 10, 5, 2)])
def test_a_replica_adversary_loses_every_replica_of_rows(K, N, S, lost):
    model = TargetedStragglers(S, target="replicas", n_samples=K)
    missing = model.draw_missing(N, 50, random_state=5)
    assert (missing.sum(axis=0) == S).all()
    rows = replica_rows(K, N)
    for b in range(50):
        alive = np.bincount(rows[~missing[:, b]], minlength=K)
        assert (alive == 0).sum() == lost  # (4, 10, 5): rows of 2 replicas go first


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (GroupStragglers(0), "group_size must be an int >= 1, got 0"),
        (GroupStragglers(2, layout="racks"), "layout must be"),
        (TargetedStragglers(2, target="replicas"), "needs n_samples=K"),
        (TargetedStragglers(2, start=9), r"start must be None or an int in \[0, N - S = 6\]"),
        (LatencyStragglers(tail="pareto", tail_index=1.0), "tail_index must be a float > 1"),
    ],
)
def test_bad_values_are_named(model, match):
    with pytest.raises(ValueError, match=match):
        check_stragglers(model, 8)
