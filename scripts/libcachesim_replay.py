"""Replays oracleGeneral traces through libCacheSim's C core (the `libcachesim` Python
binding's `process_trace`: it reads the file and simulates in C, no Python per request).

Input on stdin: a JSON list of jobs {"trace": PATH, "capacity": BYTES, "policy": NAME} with
NAME one of lru, fifo, sieve, s3fifo. Output: one JSON object per job, per line, in order:
requests, miss_ratio, byte_miss_ratio, seconds (wall clock around process_trace),
cache_name, version. Run by cdn_sim::libcachesim (crates/cdn-sim/src/libcachesim.rs).
"""
import json
import sys
import time

import libcachesim as lcs


def make_cache(policy, capacity):
    # Byte capacities; object metadata not counted (consider_obj_metadata=False, the default).
    if policy == "lru":
        return lcs.LRU(cache_size=capacity)
    if policy == "fifo":
        return lcs.FIFO(cache_size=capacity)
    if policy == "sieve":
        return lcs.Sieve(cache_size=capacity)
    if policy == "s3fifo":
        # The defaults, spelled out: they are what the cross-check compares against.
        return lcs.S3FIFO(
            cache_size=capacity,
            small_size_ratio=0.1,
            ghost_size_ratio=0.9,
            move_to_main_threshold=2,
        )
    raise SystemExit(f"unknown policy {policy!r}; allowed: lru, fifo, sieve, s3fifo")


def main():
    version = getattr(lcs, "__version__", "unknown")
    for job in json.load(sys.stdin):
        reader = lcs.TraceReader(job["trace"], lcs.TraceType.ORACLE_GENERAL_TRACE)
        cache = make_cache(job["policy"], int(job["capacity"]))
        start = time.perf_counter()
        miss_ratio, byte_miss_ratio = cache.process_trace(reader)
        seconds = time.perf_counter() - start
        print(
            json.dumps(
                {
                    "requests": reader.get_num_of_req(),
                    "miss_ratio": miss_ratio,
                    "byte_miss_ratio": byte_miss_ratio,
                    "seconds": seconds,
                    "cache_name": cache.cache_name,
                    "version": version,
                }
            ),
            flush=True,
        )


main()
