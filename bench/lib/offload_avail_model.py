#!/usr/bin/env python3
"""offload_avail_model.py: expected share of stripes recoverable when F of N depots fail,
for bench/offload/run's availability part (a model to read the measured figures against,
not a measurement).

Assumes what push aims for: the M x R copies of a stripe on M x R distinct depots, copy r
of chunk j on depot j*R + r of the stripe's set, the failed depots a uniformly random
F-subset.  A stripe survives when at least K of its M chunks have a live copy.

    offload_avail_model.py N K M R FMAX   ->  lines "F percent" for F = 0..FMAX
"""
import itertools
import sys
from math import comb


def survive(n, k, m, r, f):
    d = m * r                      # the stripe's depots
    if d > n:
        raise SystemExit("more copies than depots")
    total = 0.0
    for dead in range(0, min(d, f) + 1):
        # P(exactly `dead` of the stripe's d depots are among the f failed)
        p = comb(d, dead) * comb(n - d, f - dead) / comb(n, f)
        if p == 0:
            continue
        ok = 0
        subsets = list(itertools.combinations(range(d), dead))
        for s in subsets:
            s = set(s)
            alive = sum(1 for j in range(m) if any(j * r + x not in s for x in range(r)))
            ok += alive >= k
        total += p * ok / len(subsets)
    return 100 * total


if __name__ == "__main__":
    n, k, m, r, fmax = map(int, sys.argv[1:6])
    for f in range(fmax + 1):
        print(f, round(survive(n, k, m, r, f), 2))
