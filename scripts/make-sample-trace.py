#!/usr/bin/env python3
"""Writes the small request log that scenarios/trace-replay.toml replays.

    python3 scripts/make-sample-trace.py > scenarios/traces/sample.csv

The trace is cdn-sim's native csv (a header, then time,key,size,client), deterministic
(seeded), and shaped like a small site's static traffic:

* 2,400 requests over 120 seconds at 20 per second on average (Poisson arrivals), times in
  whole seconds as most logs record them;
* 400 objects, popularity Zipf with exponent 0.9 (object 1 the most popular);
* each object has a fixed size drawn once from a log-normal distribution (median 16 KiB,
  a long tail up to a few MiB), the usual shape of web object sizes;
* 60 clients, each request from one of them uniformly.

Only the Python standard library is used; the same seed always writes the same bytes.
"""

import math
import random

SEED = 20261122
REQUESTS = 2400
SECONDS = 120
OBJECTS = 400
ZIPF_S = 0.9
CLIENTS = 60


def main() -> None:
    rng = random.Random(SEED)
    weights = [k ** -ZIPF_S for k in range(1, OBJECTS + 1)]
    sizes = [max(64, int(rng.lognormvariate(math.log(16 * 1024), 1.2))) for _ in range(OBJECTS)]
    rate = REQUESTS / SECONDS
    t = 0.0
    print("time,key,size,client")
    for _ in range(REQUESTS):
        t += rng.expovariate(rate)
        key = rng.choices(range(1, OBJECTS + 1), weights)[0]
        client = rng.randrange(CLIENTS)
        print(f"{int(t)},{key},{sizes[key - 1]},{client}")


if __name__ == "__main__":
    main()
