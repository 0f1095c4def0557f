#!/usr/bin/env python3
"""The anchor of `cargo bench --bench sqlite`: Python diskcache 5.x on the same machine.

Cache.get / Cache.set of 100-byte values over 1,000 keys in a fresh temporary directory,
default settings (WAL, size_limit 1 GiB, eviction "least-recently-stored"), as the sqlite
bench measures app.cache() with the sqlite handler. Prints ns/op and ops/s for each.

    pip install diskcache && python3 benches/diskcache_anchor.py
"""
import tempfile
import time

import diskcache

KEYS = [f"user:{i}:profile" for i in range(1000)]
VALUE = b"v" * 100
ROUNDS = 20


def best(fn, n):
    """Best time per op over ROUNDS rounds of n ops (the least disturbed round)."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - start) / n)
    return min(times), sorted(times)[len(times) // 2]


def main():
    with tempfile.TemporaryDirectory() as directory:
        cache = diskcache.Cache(directory)
        for key in KEYS:
            cache.set(key, VALUE)

        def sets():
            for key in KEYS:
                cache.set(key, VALUE)

        def gets():
            for key in KEYS:
                assert cache.get(key) == VALUE

        print(f"diskcache {diskcache.__version__}")
        for name, fn in [("set", sets), ("get", gets)]:
            low, median = best(fn, len(KEYS))
            print(f"{name}: best {low:,.0f} ns/op ({1e9 / low:,.0f} ops/s), median {median:,.0f} ns/op")
        cache.close()


if __name__ == "__main__":
    main()
