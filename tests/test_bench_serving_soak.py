"""The memory soak's measurements (benchmarks/bench_serving_soak.py)."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
_omp = os.environ.get("OMP_NUM_THREADS")
soak = pytest.importorskip("bench_serving_soak")
if _omp is None:  # the benchmark sets it for its worker processes, not for the tests
    os.environ.pop("OMP_NUM_THREADS", None)
psutil = pytest.importorskip("psutil")


def _samples(values):
    # one sample every 30 s, 1000 requests a second
    return [
        {"seconds": 30.0 * i, "requests": 30_000 * i, "client_mib": v, "python_blocks": v}
        for i, v in enumerate(values)
    ]


def test_growth_after_minute_1_and_over_the_second_half():
    # minute 1 is sample 2 (60 s), half of 150 s is sample 3 (90 s, the first at or after 75 s)
    samples = _samples([0.0, 5.0, 10.0, 10.5, 11.0, 12.0])
    out = soak.growth(samples, "client_mib")
    assert out["after_minute_1"]["mib"] == pytest.approx(2.0)
    # 2 MiB over 90,000 requests
    assert out["after_minute_1"]["kib_per_1000_requests"] == pytest.approx(2048 / 90)
    assert out["second_half"]["mib"] == pytest.approx(1.5)
    assert out["second_half"]["kib_per_1000_requests"] == pytest.approx(1.5 * 1024 / 60)
    blocks = soak.growth(samples, "python_blocks", unit="blocks")
    assert blocks["second_half"] == {"blocks": 1.5, "blocks_per_1000_requests": 1.5 / 60}


def test_memory_regions_add_up_to_the_resident_memory():
    me = psutil.Process()
    regions = soak.memory_regions(me)
    mapped = sum(regions[k] for k in ("heap_mib", "anon_mib", "file_mib", "other_mib"))
    assert mapped == pytest.approx(me.memory_info().rss / 2**20, rel=0.05)


def test_a_large_array_is_anonymous_memory():
    me = psutil.Process()
    before = soak.memory_regions(me)["anon_mib"]
    block = np.ones(48 * 2**20 // 8)  # 48 MiB, above any mmap threshold: its own mapping
    after = soak.memory_regions(me)["anon_mib"]
    assert 44 <= after - before <= 52
    del block


def test_mallinfo_counts_the_main_arenas_blocks_in_use():
    regions = soak.memory_regions(psutil.Process())
    if "malloc_main_in_use_mib" not in regions:
        pytest.skip("not glibc >= 2.33")
    # small blocks from the main thread come from the main arena
    held = [bytearray(2048) for _ in range(10_000)]  # about 20 MiB
    grown = soak.memory_regions(psutil.Process())["malloc_main_in_use_mib"]
    assert 18 <= grown - regions["malloc_main_in_use_mib"] <= 24
    del held
