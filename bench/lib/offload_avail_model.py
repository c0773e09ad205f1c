#!/usr/bin/env python3
"""offload_avail_model.py: expected share of stripes recoverable when F of N depots fail
(uniformly random F-subset), for bench/offload/run's availability part: a model to read the
measured figures against, not a measurement.

    offload_avail_model.py N K M R FMAX       every stripe's M x R copies on M x R distinct
                                              depots (what push aims for when it can)
    offload_avail_model.py --manifest FILE FMAX
                                              the placement a real push made: the depots
                                              each chunk's copies sit on, from its manifest
                                              (N = the manifest's depots)
Prints lines "F percent" for F = 0..FMAX.  A stripe survives when at least K of its M chunks
have a copy on a live depot.  Exact: for each stripe, every subset of the depots it uses,
weighted by the hypergeometric chance that exactly those of them are among the F failed.
"""
import itertools
import sys
from math import comb


def bdecode(b, i=0):
    c = b[i:i + 1]
    if c == b"i":
        e = b.index(b"e", i)
        return int(b[i + 1:e]), e + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while b[i:i + 1] != b"e":
            v, i = bdecode(b, i)
            items.append(v)
        if c == b"l":
            return items, i + 1
        return dict(zip(items[0::2], items[1::2])), i + 1
    col = b.index(b":", i)
    n = int(b[i:col])
    return b[col + 1:col + 1 + n], col + 1 + n


def stripe_survival(n, k, chunks, f):
    """chunks: per chunk of the stripe, the set of depots holding a copy."""
    used = sorted(set().union(*chunks))
    d = len(used)
    total = 0.0
    for dead in range(0, min(d, f) + 1):
        w = comb(n - d, f - dead) / comb(n, f)   # chance of one given subset of `dead`
        if w == 0:
            continue
        for s in itertools.combinations(used, dead):
            s = set(s)
            alive = sum(1 for c in chunks if c - s)
            total += w * (alive >= k)
    return total


def main():
    if sys.argv[1] == "--manifest":
        mf, _ = bdecode(open(sys.argv[2], "rb").read())
        mf = mf[b"manifest"]
        n, k, m, fmax = len(mf[b"depots"]), mf[b"k"], mf[b"m"], int(sys.argv[3])
        ch = [set(c[b"at"]) for c in mf[b"chunks"]]
        stripes = [ch[s * m:(s + 1) * m] for s in range(len(ch) // m)]
    else:
        n, k, m, r, fmax = map(int, sys.argv[1:6])
        stripes = [[set(range(j * r, (j + 1) * r)) for j in range(m)]]
    # stripes placed alike give the same figure: compute each pattern once
    memo = {}
    for f in range(fmax + 1):
        acc = 0.0
        for st in stripes:
            key = (f, tuple(sorted(tuple(sorted(c)) for c in st)))
            if key not in memo:
                memo[key] = stripe_survival(n, k, st, f)
            acc += memo[key]
        print(f, round(100 * acc / len(stripes), 2))


if __name__ == "__main__":
    main()
