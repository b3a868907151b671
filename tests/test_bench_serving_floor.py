"""The serving benchmark's reachability floor (benchmarks/bench_serving.py, ``attainable``)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
_omp = os.environ.get("OMP_NUM_THREADS")
serving = pytest.importorskip("bench_serving")
if _omp is None:  # the benchmark sets it for its worker processes, not for the tests
    os.environ.pop("OMP_NUM_THREADS", None)


def _cell(scheme, rows_per_s, p99_ms):
    return {"scheme": scheme, "throughput_rows_s": rows_per_s, "p99_ms": p99_ms}


def test_the_floor_is_littles_law_at_the_codes_least_compute():
    # 8 clients of 1024 rows; the plain model's best: 32768 rows/s, so its mean
    # latency is 8 * 1024 / 32768 = 0.25 s; a code needs (N - S)/K = (32 - 8)/16 =
    # 1.5x the work: its mean latency is at least 1.5 * 0.25 s = 375 ms
    calm = {
        "uncoded": _cell("uncoded", 16384.0, 900.0),  # mean 0.5 s, p99 / mean 1.8
        "uncoded actors": _cell("uncoded actors", 32768.0, 300.0),  # mean 0.25 s, 1.2
    }
    slow = {"uncoded": _cell("uncoded", 30000.0, 800.0)}
    floor = serving.attainable(slow, calm, clients=8, rows=1024)
    assert (serving.N - serving.S_DASK) / serving.K == 1.5
    assert floor["mean_floor_ms"] == pytest.approx(375.0)
    assert floor["plain_p99_over_mean"] == pytest.approx(1.2)  # the smallest spread
    assert floor["p99_floor_ms"] == pytest.approx(450.0)
    assert floor["target_p99_ms"] == pytest.approx(400.0)  # half the uncoded p99
    assert floor["target_below_p99_floor"] and not floor["target_below_mean_floor"]


def test_a_light_cell_leaves_the_target_within_reach():
    calm = {"uncoded actors": _cell("uncoded actors", 64000.0, 20.0)}  # mean 8 ms
    slow = {"uncoded": _cell("uncoded", 9000.0, 200.0)}
    floor = serving.attainable(slow, calm, clients=8, rows=64)
    assert floor["mean_floor_ms"] == pytest.approx(12.0)
    assert not floor["target_below_mean_floor"] and not floor["target_below_p99_floor"]


def test_no_plain_cell_gives_no_floor():
    assert serving.attainable({"uncoded": _cell("uncoded", 1.0, 1.0)}, {}, 8, 64) == {}
