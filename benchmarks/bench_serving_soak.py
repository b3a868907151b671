"""Memory soak of coded serving on a dask cluster started from the command line.

``dask scheduler`` and 4 ``dask worker`` processes (1 thread each) are started
as a user would; 8 client threads send 64-row requests back to back for
``--minutes`` (10 by default) to ``CodedClassifier(K=16, N=32, S=8,
executor=client)`` behind a :class:`CoalescingPredictor`, on the MLP of
bench_serving.py. Every ``--every`` seconds the resident memory (RSS) of this
process (the client) and of the scheduler process is sampled, with the requests
served so far. Target: client and scheduler memory flat over the soak (here:
the growth from the end of the first minute to the end, per served request,
and in MiB). Also sampled: pymalloc's blocks in use, the pages the codec's
bounded store of kept decoders has written, the client's resident memory by
kind of mapping and glibc's ``mallinfo2``, and what the scheduler keeps
(spans, task groups, log records); at the end, the live Python objects by type
(and at half time with ``--census``), every cache's entries, bytes, hits and
misses, and the client before and after ``malloc_trim(0)``. ``--log-length``
bounds dask's own logs in every process (client, scheduler and workers).
Writes benchmarks/results/serving_soak.json and .png (``serving_soak_log<L>.*``
with ``--log-length L``, the dask client's message log; ``_arena<A>`` and
``_mmap<T>k`` with ``MALLOC_ARENA_MAX`` and ``MALLOC_MMAP_THRESHOLD_`` set;
``_<M>min`` above 10 minutes, ``.quick`` below; ``_traced<M>min`` with
``--trace``, ``_census`` with ``--census``, ``_trim`` with ``--malloc-trim``).

A census lists every live object (337,000 pointers here) and frees the list,
which a server never does, so the census at half time is opt-in (with and
without it, the soak's one step came at the same request count).

    python benchmarks/bench_serving_soak.py --log-length 100   # 10 minutes
    python benchmarks/bench_serving_soak.py --minutes 1        # smoke run
    MALLOC_ARENA_MAX=2 python benchmarks/bench_serving_soak.py --log-length 100
    MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=131072 \
        python benchmarks/bench_serving_soak.py --log-length 100
    MALLOC_ARENA_MAX=2 python benchmarks/bench_serving_soak.py --log-length 100 \
        --minutes 6 --trace                                      # what Python keeps
    MALLOC_ARENA_MAX=2 python benchmarks/bench_serving_soak.py --log-length 100 \
        --malloc-trim                                # glibc's free blocks given back
"""

import argparse
import collections
import ctypes
import gc
import json
import os
import platform
import sys
import threading
import time
import tracemalloc

import dask
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import psutil
from bench_serving import N_WORKERS, RESULTS, Coded, K, N, SlowWorker, make_data, train_mlp
from serving_models import cli_cluster
from threadpoolctl import threadpool_limits

CLIENTS, ROWS = 8, 64


def _caches():
    """{name: ByteLRU} of the package's operator caches and float32 copies."""
    from sklearn_coded.coding import _base
    from sklearn_coded.operators import _rational, _spline

    caches = {name: getattr(module, name).cache for module in (_spline, _rational)
              for name in dir(module) if hasattr(getattr(module, name), "cache")}  # fmt: skip
    caches["float32 copies"] = _base._float32_copies
    return caches


def _codec(coded):
    from sklearn_coded.estimators import _predict

    state = _predict._SERVING.get(coded.clf)
    return None if state is None else state[2]


def cache_mib(coded):
    """MiB held by the bounded operator caches, the float32 copies and the codec's decoders.

    A decoder is kept from its survivor set's second sight on (the interleaved
    assignment is drawn afresh per request, so most sets never come back).
    """
    codec = _codec(coded)
    kept = 0 if codec is None else sum(stack.nbytes for _, stack in codec._slots.values())
    kept += 0 if codec is None else codec._seen.nbytes
    return (sum(cache.nbytes for cache in _caches().values()) + kept) / 2**20


def kept_decoders_mib(coded):
    """MiB of the codec's store of kept decoders written so far.

    The store is reserved at its bound at once and committed page by page as
    sets are admitted, so the resident memory it adds grows with the sets kept
    up to that bound (16 MiB).
    """
    codec = _codec(coded)
    if codec is None:
        return 0.0
    return sum(len(slots) * stack[0].nbytes for slots, stack in codec._slots.values()) / 2**20


def cache_stats(coded):
    """Entries, MiB, hits and misses of every cache (the codec's: per batch)."""
    stats = {
        name: {"entries": len(c), "mib": c.nbytes / 2**20, "hits": c.hits, "misses": c.misses}
        for name, c in _caches().items()
    }
    codec = _codec(coded)
    if codec is not None:
        stats["codec decoders"] = {
            "entries": sum(len(slots) for slots, _ in codec._slots.values()),
            "mib": sum(stack.nbytes for _, stack in codec._slots.values()) / 2**20,
            "hits": codec.hits,
            "misses": codec.misses,
        }
        # sets seen once, with the decoders built then (admitted at a second sight)
        stats["codec first sightings"] = {
            "entries": len(codec._seen),
            "mib": codec._seen.nbytes / 2**20,
        }
    return stats


def scheduler_state(dask_scheduler):
    """What the scheduler keeps per request if anything: spans, task groups, logs, tasks."""
    spans = dask_scheduler.extensions["spans"].spans
    return {
        "spans": len(spans),
        "span_task_groups": sum(len(span.groups) for span in spans.values()),
        "task_groups": len(dask_scheduler.task_groups),
        "tasks": len(dask_scheduler.tasks),
        "log_records": len(dask_scheduler._deque_handler.deque),
    }


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (glibc >= 2.33)."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


def _glibc():
    """The C library when it is glibc (``mallinfo2``, ``malloc_trim``), else None."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


GLIBC = _glibc()


def memory_regions(process):
    """MiB resident by kind of mapping, and glibc's main arena in use and free.

    ``heap_mib``: the main arena (brk heap); ``anon_mib``: anonymous mappings
    (the other malloc arenas, blocks above the mmap threshold, pymalloc's
    arenas, the codec's store); ``file_mib``: mapped files. ``malloc_*`` reads
    ``mallinfo2()``, which covers the main arena only: what a step there is,
    blocks in use or free blocks glibc keeps.
    """
    regions = collections.Counter()
    for mapping in process.memory_maps(grouped=False):
        path = mapping.path
        kind = {"[heap]": "heap", "[anon]": "anon", "": "anon"}.get(path, "file")
        if kind == "file" and path.startswith("["):  # [stack], [vdso] and the like
            kind = "other"
        regions[kind + "_mib"] += mapping.rss / 2**20
    if hasattr(GLIBC, "mallinfo2"):  # glibc >= 2.33
        GLIBC.mallinfo2.restype = _MallInfo2
        info = GLIBC.mallinfo2()
        regions["malloc_main_in_use_mib"] = info.uordblks / 2**20
        regions["malloc_main_free_mib"] = info.fordblks / 2**20
        regions["malloc_mapped_mib"] = info.hblkhd / 2**20  # blocks above the threshold
    return dict(regions)


def census():
    """Live Python objects by type name (what a leak of Python objects would grow)."""
    gc.collect()
    return collections.Counter(type(obj).__name__ for obj in gc.get_objects())


def census_growth(before, after, top=12):
    """The types whose live count grew most between two censuses."""
    grown = {name: after[name] - before.get(name, 0) for name in after}
    return dict(sorted(grown.items(), key=lambda item: -item[1])[:top])


def soak(minutes, every, trace=False, census_at_half=False, trim=False):
    X, y = make_data(6000, seed=1)
    mlp = train_mlp(X[:2000], y[:2000])
    X_serve = X[2000:]
    me = psutil.Process()
    samples, served, errors = [], [0], []
    with cli_cluster(N_WORKERS) as (client, scheduler_process):
        scheduler = psutil.Process(scheduler_process.pid)
        coded = Coded(client, SlowWorker(mlp, None), X, y, coalesce=True)
        stop = time.monotonic() + 60 * minutes
        lock = threading.Lock()

        def serve(c):
            rng = np.random.default_rng(c)
            while time.monotonic() < stop:
                start = int(rng.integers(0, len(X_serve) - ROWS))
                try:
                    coded(X_serve[start : start + ROWS])
                except Exception as error:  # counted, not hidden
                    errors.append(repr(error))
                    continue
                with lock:
                    served[0] += 1

        threads = [threading.Thread(target=serve, args=(c,)) for c in range(CLIENTS)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        censuses = {}
        while time.monotonic() < stop:
            elapsed = time.monotonic() - began
            if trace and not tracemalloc.is_tracing() and elapsed >= 60:
                tracemalloc.start(8)  # Python allocations from here on (slows serving)
            if "half" not in censuses and elapsed >= 30 * minutes:
                censuses["half"] = (served[0], census() if census_at_half else None)
                if trace:
                    censuses["half_snapshot"] = (served[0], tracemalloc.take_snapshot())
            samples.append(
                {
                    "seconds": time.monotonic() - began,
                    "requests": served[0],
                    "client_mib": me.memory_info().rss / 2**20,
                    "scheduler_mib": scheduler.memory_info().rss / 2**20,
                    "cache_mib": cache_mib(coded),
                    "kept_decoders_mib": kept_decoders_mib(coded),
                    "traced_mib": tracemalloc.get_traced_memory()[0] / 2**20,
                    # pymalloc's blocks in use: Python objects of every kind, those the
                    # census cannot see (str, bytes, int, untracked dicts) included
                    "python_blocks": sys.getallocatedblocks(),
                    "dask_message_log": len(client.scheduler_comm.recent_message_log),
                    # connections the client keeps to the workers (dask's pool opens
                    # one more whenever every open one to a worker is busy)
                    "open_comms": client.rpc.open,
                    "client_threads": me.num_threads(),
                    "client_regions": memory_regions(me),
                    "scheduler_state": client.run_on_scheduler(scheduler_state),
                }
            )
            print(samples[-1], flush=True)
            time.sleep(min(every, max(stop - time.monotonic(), 0)))
            if trim:  # what a server can do: give glibc's free blocks back now and then
                GLIBC.malloc_trim(0)
        for thread in threads:
            thread.join()
        # Free blocks glibc keeps are given back by malloc_trim; blocks in use are not.
        censuses["trimmed"] = {
            "client_mib_before": me.memory_info().rss / 2**20,
            "released": GLIBC is not None and bool(GLIBC.malloc_trim(0)),
            "client_mib_after": me.memory_info().rss / 2**20,
            "client_regions_after": memory_regions(me),
        }
        censuses["end"] = (served[0], census())
        censuses["caches"] = cache_stats(coded)
        if trace:
            end = tracemalloc.take_snapshot()
            tracemalloc.stop()
            sites = end.statistics("lineno")[:8]
            censuses["sites"] = [(str(site.traceback[0]), site.size / 2**20) for site in sites]
            if "half_snapshot" in censuses:
                censuses["sites_grown"] = sites_grown(
                    *censuses.pop("half_snapshot"), served[0], end
                )
    return samples, served[0], errors, censuses


def sites_grown(requests_then, then, requests_now, now, top=10):
    """The allocation sites whose live blocks grew most between two snapshots.

    A leak of so many bytes per request shows as a site whose count of live
    blocks grows with the requests served (``blocks_per_request``).
    """
    requests = max(requests_now - requests_then, 1)
    diffs = sorted(
        (d for d in now.compare_to(then, "traceback") if d.count_diff > 0),
        key=lambda d: -d.size_diff,
    )[:top]
    return [
        {
            "site": [str(frame) for frame in d.traceback[-4:]],  # innermost 4 frames
            "kib": d.size_diff / 1024,
            "blocks": d.count_diff,
            "blocks_per_request": d.count_diff / requests,
            "bytes_per_request": d.size_diff / requests,
        }
        for d in diffs
    ]


def growth(samples, key, unit="mib"):
    """Gain after the first minute and over the second half, and per 1000 requests.

    ``unit="mib"`` reports MiB and KiB per 1000 requests; any other unit, the
    sampled value itself and its gain per 1000 requests.
    """
    out = {}
    last = samples[-1]
    for name, start in (("after_minute_1", 60), ("second_half", last["seconds"] / 2)):
        warm = next((s for s in samples if s["seconds"] >= start), samples[0])
        gain = last.get(key, np.nan) - warm.get(key, np.nan)
        per_1000 = 1000 * gain / max(last["requests"] - warm["requests"], 1)
        out[name] = (
            {"mib": gain, "kib_per_1000_requests": 1024 * per_1000}
            if unit == "mib"
            else {unit: gain, f"{unit}_per_1000_requests": per_1000}
        )
    return out


def plot(result, path):
    """MiB gained since minute 1 by the client, its parts and the scheduler, over time."""
    samples = [s for s in result["samples"] if s["seconds"] >= 60] or result["samples"]
    t = np.array([s["seconds"] / 60 for s in samples])

    def since_minute_1(key, sub=None):
        values = np.array([s[key] if sub is None else s[key].get(sub, np.nan)
                           for s in samples])  # fmt: skip
        return values - values[0]

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(t, since_minute_1("client_mib"), label="client (this process), resident")
    ax.plot(
        t,
        since_minute_1("client_less_kept_decoders_mib"),
        label="client less the pages the codec's store has written",
    )
    ax.plot(t, since_minute_1("kept_decoders_mib"), label="the codec's store (bounded, 16 MiB)")
    if "client_regions" in samples[0]:
        ax.plot(
            t,
            since_minute_1("client_regions", "malloc_main_free_mib"),
            "--",
            label="client: free bytes in glibc's main arena (resident unless trimmed)",
        )
    ax.plot(t, since_minute_1("scheduler_mib"), label="dask scheduler, resident")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("minutes")
    ax.set_ylabel("MiB gained since minute 1")
    ax.set_title(
        f"coded serving soak: {result['requests']} requests of {ROWS} rows, {CLIENTS} clients"
    )
    ax.legend(loc="upper left", fontsize="small")
    comms = ax.twinx()
    comms.plot(t, [s.get("open_comms", np.nan) for s in samples], "k:", label="open connections")
    comms.set_ylabel("client's open connections to the workers (dotted)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--log-length",
        type=int,
        default=dask.config.get("distributed.admin.low-level-log-length"),
        help="messages (coded rows included) and log records each dask process keeps",
    )
    parser.add_argument(
        "--trace", action="store_true", help="tracemalloc from minute 1 (slows serving)"
    )
    parser.add_argument(
        "--census",
        action="store_true",
        help="count the live Python objects by type at half time too (a list of every "
        "object, made and freed: not what a server does)",
    )
    parser.add_argument(
        "--malloc-trim",
        action="store_true",
        help="call glibc's malloc_trim(0) after every sample (every --every seconds)",
    )
    args = parser.parse_args(argv)
    if args.malloc_trim and GLIBC is None:
        parser.error("--malloc-trim needs glibc (malloc_trim); this C library is not glibc")
    # dask's own logs are bounded but long by default (1000 messages per comm,
    # 10000 log records): the same shorter bound in every process
    config = {
        "distributed.admin.low-level-log-length": args.log_length,
        "distributed.admin.log-length": args.log_length,
    }
    for key, value in config.items():  # the scheduler and workers read it at start
        os.environ["DASK_" + key.upper().replace(".", "__").replace("-", "_")] = str(value)
    with threadpool_limits(limits=1), dask.config.set(config):
        samples, served, errors, censuses = soak(
            args.minutes, args.every, args.trace, args.census, args.malloc_trim
        )
    for sample in samples:  # what is left once the bounded store's pages are taken out
        sample["client_less_kept_decoders_mib"] = sample["client_mib"] - sample["kept_decoders_mib"]
    # the census's list of every object is this many pointers, 8 bytes each
    objects = {"live_python_objects_at_end": sum(censuses["end"][1].values())}
    if censuses["half"][1] is not None:  # live Python objects gained over the second half
        (n_half, half), (n_end, end) = censuses["half"], censuses["end"]
        objects = {"requests": n_end - n_half, "grown": census_growth(half, end)}
    objects["largest_live_allocations_mib"] = censuses.get("sites", [])
    objects["allocations_grown_second_half"] = censuses.get("sites_grown", [])
    result = {
        "machine": platform.platform(),
        "settings": {
            "K": K,
            "N": N,
            "workers": N_WORKERS,
            "clients": CLIENTS,
            "rows": ROWS,
            "dask_low_level_log_length": args.log_length,
            "dask_log_length": args.log_length,
            "dask_logs_bounded_in": "client, scheduler and workers",
            "traced": args.trace,
            "census_at_half": args.census,
            "malloc_trim_every_sample": args.malloc_trim,
            # glibc's malloc arenas (one per thread by default, up to 8 per core): the
            # client's resident memory grew in steps with the default, flat with 2
            "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
            # set, they stop glibc from raising them after each large free (which
            # keeps freed buffers of up to that size resident in the arenas)
            "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
            "malloc_trim_threshold": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        },
        "minutes": args.minutes,
        "requests": served,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "client_growth": growth(samples, "client_mib"),
        "scheduler_growth": growth(samples, "scheduler_mib"),
        "cache_growth": growth(samples, "cache_mib"),
        "kept_decoders_growth": growth(samples, "kept_decoders_mib"),
        "client_less_kept_decoders_growth": growth(samples, "client_less_kept_decoders_mib"),
        "traced_growth": growth(samples, "traced_mib"),
        "python_blocks_growth": growth(samples, "python_blocks", unit="blocks"),
        "objects_second_half": objects,
        "caches_at_end": censuses["caches"],
        # after the load: the client once glibc is asked to give back its free blocks
        "client_after_malloc_trim": censuses["trimmed"],
        "samples": samples,
    }
    stem = "serving_soak"
    if args.log_length != dask.config.get("distributed.admin.low-level-log-length"):
        stem += f"_log{args.log_length}"
    if os.environ.get("MALLOC_ARENA_MAX"):
        stem += f"_arena{os.environ['MALLOC_ARENA_MAX']}"
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):  # fixed: glibc no longer raises it
        stem += f"_mmap{int(os.environ['MALLOC_MMAP_THRESHOLD_']) // 1024}k"
    if args.census:
        stem += "_census"
    if args.malloc_trim:
        stem += "_trim"
    if args.trace:  # tracemalloc slows serving about 15x: a diagnostic, not a soak
        stem += f"_traced{args.minutes:g}min"
    elif args.minutes != 10:
        stem += f"_{args.minutes:g}min" if args.minutes > 10 else ".quick"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=1))
    plot(result, RESULTS / f"{stem}.png")
    print("caches at the end:", result["caches_at_end"])
    print(
        f"{served} requests, {len(errors)} errors; client {result['client_growth']},"
        f" scheduler {result['scheduler_growth']}"
    )


if __name__ == "__main__":
    main()
