#!/usr/bin/python3
"""Generate a deterministic, library-like data set for swarm tests and benchmarks.

gen_libset.py OUTDIR [--files 200] [--total-mib 64] [--seed 1] [--min-kib 16] [--max-mib 4]

Same arguments, same bytes: file names, sizes, contents and mtimes depend only on them.
Sizes are log-normal, clipped to [--min-kib, --max-mib], then scaled so they sum to exactly
--total-mib MiB.  Contents are pseudo-random (incompressible).  Most files are lib/libNNN.so.1;
some sit in plugin, python extension and gconv subdirectories.  Prints one JSON line:
{"files": N, "bytes": F, "dirs": [...]}.  OUTDIR must be absent or empty (or pass --force).
"""

import argparse
import json
import os
import random
import sys

MTIME = 1_700_000_000  # fixed, so repeated runs produce identical trees
CHUNK = 1 << 20


def pick_sizes(rng, n, total, lo, hi):
    """n integer sizes in [lo, hi] summing to total, log-normal in shape."""
    if not (n * lo <= total <= n * hi):
        raise ValueError("cannot fit %d bytes into %d files of %d..%d bytes" % (total, n, lo, hi))
    raw = [rng.lognormvariate(0.0, 1.3) for _ in range(n)]

    def clipped_sum(scale):
        return sum(min(hi, max(lo, r * scale)) for r in raw)

    a, b = 0.0, 1.0
    while clipped_sum(b) < total:
        b *= 2
    for _ in range(200):  # bisection on the scale factor
        mid = (a + b) / 2
        if clipped_sum(mid) < total:
            a = mid
        else:
            b = mid
    sizes = [int(min(hi, max(lo, r * b))) for r in raw]
    # Put the rounding remainder on files that still have room, largest first.
    diff = total - sum(sizes)
    for i in sorted(range(n), key=lambda k: -sizes[k]):
        if diff == 0:
            break
        # Grow towards hi, or shrink towards lo (room and diff are then negative).
        step = min(diff, hi - sizes[i]) if diff > 0 else max(diff, lo - sizes[i])
        sizes[i] += step
        diff -= step
    assert sum(sizes) == total and all(lo <= s <= hi for s in sizes)
    return sizes


def pick_name(rng, i):
    """A library-like relative path for file number i."""
    u = rng.random()
    if u < 0.70:
        return "lib/lib%03d.so.1" % i
    if u < 0.85:
        return "lib/plugins/mod%03d.so" % i
    if u < 0.95:
        return "lib/python3/lib-dynload/_ext%03d.cpython-311-x86_64-linux-gnu.so" % i
    return "lib/gconv/CONV%03d.so" % i


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--total-mib", type=float, default=64.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-kib", type=int, default=16)
    ap.add_argument("--max-mib", type=float, default=4.0)
    ap.add_argument("--force", action="store_true", help="write into a non-empty OUTDIR")
    args = ap.parse_args()
    if args.files < 1 or args.files > 100000:
        ap.error("--files must be between 1 and 100000")
    total = int(args.total_mib * (1 << 20))
    lo, hi = args.min_kib * 1024, int(args.max_mib * (1 << 20))
    rng = random.Random(args.seed)
    try:
        sizes = pick_sizes(rng, args.files, total, lo, hi)
    except ValueError as e:
        ap.error(str(e))
    names = [pick_name(rng, i) for i in range(args.files)]

    if os.path.isdir(args.outdir) and os.listdir(args.outdir) and not args.force:
        sys.exit("gen_libset: %s is not empty (use --force)" % args.outdir)
    dirs = sorted({os.path.dirname(n) for n in names})
    for d in dirs:
        os.makedirs(os.path.join(args.outdir, d), exist_ok=True)
    for name, size in zip(names, sizes):
        path = os.path.join(args.outdir, name)
        # Each file's content has its own stream, so it does not depend on the order of writing.
        frng = random.Random("%d/%s" % (args.seed, name))
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(CHUNK, left)
                f.write(frng.randbytes(n))
                left -= n
        os.chmod(path, 0o755)
        os.utime(path, (MTIME, MTIME))
    print(json.dumps({"files": args.files, "bytes": total, "dirs": dirs}))


if __name__ == "__main__":
    main()
