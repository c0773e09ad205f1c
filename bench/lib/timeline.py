#!/usr/bin/python3
"""timeline.py: sample every interface's byte counters of the calling network namespace.

timeline.py --out CSV --stop FILE [--interval SECS]

Writes "t,iface,rx_bytes,tx_bytes" rows (t = wall-clock seconds) every interval (default
0.02 s) until FILE exists (or 600 s pass).  Run it inside the hub namespace of a netlab
cluster: there port pI's tx is node I's download and its rx node I's upload.

timeline.py --summary CSV --t0 T0 [--bucket SECS]
Prints, per bucket, the seeder's (p0) upload and the mean, min download of the other ports
as a fraction of the link rate given by --rate-mbit.
"""
import argparse
import os
import sys
import time


def read_dev():
    rows = {}
    with open("/proc/net/dev") as f:
        for line in f.readlines()[2:]:
            name, rest = line.split(":", 1)
            v = rest.split()
            rows[name.strip()] = (int(v[0]), int(v[8]))
    return rows


def sample(out, stop, interval):
    deadline = time.monotonic() + 600
    with open(out, "w") as f:
        while not os.path.exists(stop) and time.monotonic() < deadline:
            t = time.time()
            for name, (rx, tx) in sorted(read_dev().items()):
                if name.startswith("p"):
                    f.write("%.4f,%s,%d,%d\n" % (t, name, rx, tx))
            time.sleep(interval)


def summary(path, t0, bucket, rate_mbit, t_end):
    series = {}
    for line in open(path):
        t, name, rx, tx = line.strip().split(",")
        series.setdefault(name, []).append((float(t) - t0, int(rx), int(tx)))
    cap = rate_mbit * 1e6 / 8 * bucket
    ports = sorted(series, key=lambda n: int(n[1:]))
    nodes = [p for p in ports if p != "p0"]

    def at(name, t):   # counters at the last sample <= t (clamped)
        best = series[name][0]
        for s in series[name]:
            if s[0] <= t:
                best = s
            else:
                break
        return best

    print("  t(s)  seed_up  node_down(mean/min)  node_up(mean)")
    t = 0.0
    while t < t_end:
        a, b = at("p0", t), at("p0", t + bucket)
        seed_up = (b[1] - a[1]) / cap
        downs, ups = [], []
        for n in nodes:
            a, b = at(n, t), at(n, t + bucket)
            downs.append((b[2] - a[2]) / cap)
            ups.append((b[1] - a[1]) / cap)
        print("%6.2f  %6.2f   %6.2f / %5.2f        %6.2f" % (
            t, seed_up, sum(downs) / len(downs), min(downs), sum(ups) / len(ups)))
        t += bucket


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--stop")
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--summary")
    ap.add_argument("--t0", type=float)
    ap.add_argument("--t-end", type=float, default=10)
    ap.add_argument("--bucket", type=float, default=0.25)
    ap.add_argument("--rate-mbit", type=float, default=200)
    a = ap.parse_args()
    if a.summary:
        summary(a.summary, a.t0, a.bucket, a.rate_mbit, a.t_end)
    elif a.out and a.stop:
        sample(a.out, a.stop, a.interval)
    else:
        ap.error("need --out and --stop, or --summary")


if __name__ == "__main__":
    sys.exit(main())
