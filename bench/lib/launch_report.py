#!/usr/bin/python3
"""launch_report.py: the table, JSON, CSV and plot of a bench/launch run.

launch_report.py --out PREFIX [--gnuplot launch.gp] RUN.kv...

Each RUN.kv (key=value lines, written by bench/launch) is one configuration at one N in one
round; it names a directory (resdir) with, per node I, I.ends (runnode.py --ends-file: one
line "COPY STATUS WALL_TIME" per process), I.cpu (CPU seconds of the node's processes) and
I.COPY.json (pynamic_driver.py's import and visit times).  A run's start-up time is from the
start gate (t0) until the last process of the last node was reaped.  Writes PREFIX.json,
PREFIX.csv, PREFIX.dat and PREFIX.png (time against N, one line per configuration).
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

ORDER = ["tmpfs", "hybrid", "nofuse-hybrid", "learned", "file", "nofuse-file", "file-noahead",
         "bulk", "sshfs"]


def read_kv(path):
    kv = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            kv[k] = v
    return kv


def num(s, default=None):
    try:
        return float(s)
    except (TypeError, ValueError):
        return default


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def summarize(kv):
    s = {k: kv.get(k) for k in ("system", "status", "notes", "reason")}
    for k in ("nodes", "procs", "round"):
        s[k] = int(kv.get(k, 0))
    if kv.get("status") != "OK":
        return s
    t0 = num(kv["t0"])
    res = kv["resdir"]
    node_t, statuses, imp, vis, begin = [], [], [], [], []
    for i in range(1, s["nodes"] + 1):
        with open(os.path.join(res, "%d.ends" % i)) as f:
            rows = [l.split() for l in f if l.strip()]
        node_t.append(max(float(r[2]) for r in rows) - t0)
        statuses += [int(r[1]) for r in rows]
        for j in glob.glob(os.path.join(res, "%d.*.json" % i)):
            with open(j) as f:
                d = json.load(f)
            imp.append(d["import_s"])
            vis.append(d["visit_s"])
            begin.append(d["t_begin"] - t0)
    s["time_s"] = max(node_t)
    s["node_times"] = sorted(node_t)
    s["import_median_s"], s["visit_median_s"] = med(imp), med(vis)
    s["import_max_s"] = max(imp) if imp else None
    s["python_start_median_s"] = med(begin)
    cpu = 0.0
    for c in glob.glob(os.path.join(res, "*.cpu")):
        with open(c) as f:
            u, st = f.read().split()
        cpu += float(u) + float(st)
    s["procs_cpu_s"] = cpu
    busy, total = num(kv.get("cpu_busy_ticks"), 0), num(kv.get("cpu_total_ticks"), 0)
    steal, tck = num(kv.get("cpu_steal_ticks"), 0), num(kv.get("clk_tck"), 100)
    s["cpu_busy_pct"] = 100.0 * busy / total if total else None
    s["cpu_busy_s"] = busy / tck
    s["steal_pct"] = 100.0 * steal / total if total else None
    s["load1"] = num(kv.get("load1"))
    sb = int(kv["set_bytes"])
    rx = [int(x) for x in kv.get("node_rx_bytes", "").split(",") if x]
    if rx and sb:
        s["rx_over_set_median"] = statistics.median(rx) / sb
        s["rx_over_set_min"] = min(rx) / sb
    return s


def fmt(x, spec="%.2f"):
    return "-" if x is None else spec % x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--gnuplot")
    ap.add_argument("kv", nargs="+")
    args = ap.parse_args()
    kvs = [read_kv(p) for p in args.kv]
    first = kvs[0]
    rows = [summarize(kv) for kv in kvs]
    head = ("%s modules + %s utility libraries, %s functions each (%s files, %.1f MiB); "
            "%s processes per node; %s Mbit/s links"
            % (first["modules"], first["utils"], first["funcs"], first["set_files"],
               int(first["set_bytes"]) / 1048576, first["procs"], first["rate_mbit"]))
    print(head)

    def tmpfs_of(r):
        return next((t for t in rows if t["system"] == "tmpfs" and t.get("time_s") and
                     t["nodes"] == r["nodes"] and t["round"] == r["round"]), None)

    print("%3s %-13s %2s %-7s %7s %7s %8s %8s %7s %6s %6s %6s %7s %5s" % (
        "N", "system", "r", "status", "time", "/tmpfs", "import", "visit", "py0", "cpu_s",
        "cpu%", "steal%", "rx/set", "load"))
    for r in rows:
        t = tmpfs_of(r)
        r["over_tmpfs"] = r["time_s"] / t["time_s"] if t and r.get("time_s") else None
        r["minus_tmpfs_s"] = r["time_s"] - t["time_s"] if t and r.get("time_s") else None
        if r.get("status") != "OK":
            print("%3d %-13s %2d %-7s %s" % (r["nodes"], r["system"], r["round"], r.get("status"),
                                            r.get("notes") or r.get("reason") or ""))
            continue
        print("%3d %-13s %2d %-7s %7.2f %7s %8.3f %8.3f %7.3f %6.1f %6.0f %6.1f %7.2f %5.2f" % (
            r["nodes"], r["system"], r["round"], r["status"], r["time_s"], fmt(r["over_tmpfs"]),
            r["import_median_s"], r["visit_median_s"], r["python_start_median_s"],
            r["cpu_busy_s"], r["cpu_busy_pct"], r["steal_pct"], r.get("rx_over_set_median") or 0,
            r["load1"] or 0))
    print("time: start gate until the last process of the last node finished (s); /tmpfs: over "
          "the local-tmpfs bound at the same N in the same round; import/visit: median over the "
          "processes of the driver's import and call-every-function times; py0: median gate "
          "until the driver's first line (mount, daemon start, prefetch wait, interpreter); "
          "cpu_s/cpu%/steal%: the whole machine's busy CPU seconds / share during the run, "
          "and the hypervisor's steal share; rx/set: median bytes a node received over the set's "
          "size; load: 1-minute load average at the gate")

    groups = {}
    for r in rows:
        groups.setdefault((r["system"], r["nodes"]), []).append(r)
    ns = sorted({r["nodes"] for r in rows})
    systems = sorted({r["system"] for r in rows},
                     key=lambda x: ORDER.index(x) if x in ORDER else len(ORDER))
    summary = []
    for sy in systems:
        for n in ns:
            rs = groups.get((sy, n), [])
            ok = [r for r in rs if r.get("time_s")]
            if not rs:
                continue
            summary.append({
                "system": sy, "nodes": n, "rounds": len(rs), "ok": len(ok),
                "time_median_s": med([r["time_s"] for r in ok]),
                "time_min_s": min((r["time_s"] for r in ok), default=None),
                "time_max_s": max((r["time_s"] for r in ok), default=None),
                "over_tmpfs": med([r.get("over_tmpfs") for r in ok]),
                "minus_tmpfs_s": med([r.get("minus_tmpfs_s") for r in ok]),
                "cpu_busy_s": med([r["cpu_busy_s"] for r in ok]),
                "cpu_busy_pct": med([r["cpu_busy_pct"] for r in ok]),
                "steal_pct": med([r["steal_pct"] for r in ok]),
                "import_median_s": med([r["import_median_s"] for r in ok]),
                "rx_over_set_median": med([r.get("rx_over_set_median") for r in ok])})
    one = {g["system"]: g["time_median_s"] for g in summary if g["nodes"] == ns[0]}
    for g in summary:
        g["over_first_n"] = (g["time_median_s"] / one[g["system"]]
                             if g["time_median_s"] and one.get(g["system"]) else None)
    print()
    print("medians over rounds (/tmpfs and -tmpfs, the time over and beyond the tmpfs bound, "
          "taken within each round, then the median; /N=%d: median time over this "
          "configuration's median at N=%d)" % (ns[0], ns[0]))
    print("%3s %-13s %6s %8s %8s %8s %7s %7s %7s %6s %6s %6s %7s" % (
        "N", "system", "ok", "time", "min", "max", "/tmpfs", "-tmpfs", "/N=%d" % ns[0], "cpu_s",
        "cpu%", "steal%", "rx/set"))
    for g in summary:
        print("%3d %-13s %3d/%-2d %8s %8s %8s %7s %7s %7s %6s %6s %6s %7s" % (
            g["nodes"], g["system"], g["ok"], g["rounds"], fmt(g["time_median_s"]),
            fmt(g["time_min_s"]), fmt(g["time_max_s"]), fmt(g["over_tmpfs"]),
            fmt(g["minus_tmpfs_s"]),
            fmt(g["over_first_n"]), fmt(g["cpu_busy_s"], "%.1f"), fmt(g["cpu_busy_pct"], "%.0f"),
            fmt(g["steal_pct"], "%.1f"), fmt(g["rx_over_set_median"])))

    # the targets, from the medians (printed only where both sides were measured)
    def get(sy, n):
        return next((g for g in summary if g["system"] == sy and g["nodes"] == n), None)
    big, small = ns[-1], ns[0]
    targets = []
    h_big, h_small, t_big = get("hybrid", big), get("hybrid", small), get("tmpfs", big)
    f_big, s_big, s_small = get("file", big), get("sshfs", big), get("sshfs", small)
    if h_big and h_small and h_big["time_median_s"] and h_small["time_median_s"] and big != small:
        v = h_big["time_median_s"] / h_small["time_median_s"]
        targets.append(("hybrid N=%d / N=%d" % (big, small), v, "<= 1.3", v <= 1.3))
    if h_big and t_big and h_big["over_tmpfs"]:
        v = h_big["over_tmpfs"]
        targets.append(("hybrid / tmpfs at N=%d" % big, v, "<= 1.5", v <= 1.5))
    if h_big and f_big and h_big["time_median_s"] and f_big["time_median_s"]:
        v = f_big["time_median_s"] / h_big["time_median_s"]
        targets.append(("file / hybrid at N=%d" % big, v, "<= 1.2", v <= 1.2))
    fn_big, l_big = get("file-noahead", big), get("learned", big)
    if f_big and fn_big and f_big["time_median_s"] and fn_big["time_median_s"]:
        v = f_big["time_median_s"] / fn_big["time_median_s"]
        targets.append(("file / file-noahead at N=%d" % big, v, "< 1", v < 1))
    if h_big and l_big and h_big["time_median_s"] and l_big["time_median_s"]:
        v = l_big["time_median_s"] / h_big["time_median_s"]
        targets.append(("learned / hybrid at N=%d" % big, v, "<= 1.05", v <= 1.05))
    if s_big and s_small and s_big["time_median_s"] and s_small["time_median_s"] and big != small:
        v = s_big["time_median_s"] / s_small["time_median_s"]
        targets.append(("sshfs N=%d / N=%d (linear: %.0f)" % (big, small, big / small), v,
                        "~ %.0f" % (big / small), None))
    # without FUSE beside the same mode with it, at every N (issue 14: not a target)
    nofuse = []
    for n in ns:
        for sy, base in (("nofuse-hybrid", "hybrid"), ("nofuse-file", "file")):
            a, b = get(sy, n), get(base, n)
            if a and b and a["time_median_s"] and b["time_median_s"]:
                nofuse.append("%s / %s at N=%d: %.2f" % (sy, base, n,
                                                         a["time_median_s"] / b["time_median_s"]))
    if nofuse:
        print()
        print("without FUSE (issue 14), median time over the FUSE mode's:")
        for line in nofuse:
            print("  " + line)
    if targets:
        print()
        print("targets (issues 11, 15): measured ratio, target, met")
        for name, v, want, met in targets:
            print("  %-34s %6.2f  %-7s %s" % (name, v, want, "-" if met is None else
                                               ("yes" if met else "NO")))
    if (h_big and h_small and h_big.get("minus_tmpfs_s") is not None and
            h_small.get("minus_tmpfs_s") and big != small):
        print("  (not a target: hybrid's time beyond the tmpfs bound, N=%d / N=%d: %.2f s / %.2f s "
              "= %.2f; on 2 shared cores the bound itself grows with N)"
              % (big, small, h_big["minus_tmpfs_s"], h_small["minus_tmpfs_s"],
                 h_big["minus_tmpfs_s"] / h_small["minus_tmpfs_s"]))
    ss = [g for g in summary if g["system"] == "sshfs" and g["time_median_s"]]
    fit = None
    if len(ss) >= 2:
        xs, ys = [g["nodes"] for g in ss], [g["time_median_s"] for g in ss]
        mx, my = statistics.mean(xs), statistics.mean(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx:
            b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
            a = my - b * mx
            sst = sum((y - my) ** 2 for y in ys)
            r2 = 1 - sum((y - a - b * x) ** 2 for x, y in zip(xs, ys)) / sst if sst else 1.0
            fit = {"intercept_s": a, "slope_s_per_node": b, "r2": r2}
            print("  sshfs least-squares fit: time = %.2f s + %.3f s x N (R^2 %.3f); one node's "
                  "share of the server link: %.3f s" % (a, b, r2, int(first["set_bytes"]) * 8 /
                                                        (float(first["rate_mbit"]) * 1e6)))

    with open(args.out + ".json", "w") as f:
        json.dump({"heading": head, "runs": rows, "summary": summary, "sshfs_fit": fit,
                   "targets": [{"name": t[0], "value": t[1], "target": t[2], "met": t[3]}
                               for t in targets],
                   "params": {k: first.get(k) for k in (
                       "procs", "rate_mbit", "set_bytes", "set_files", "modules", "utils", "funcs",
                       "body", "libs_per_module", "prefetch_paths", "timeout_s")}}, f, indent=1)
    cols = ["system", "nodes", "procs", "round", "status", "time_s", "over_tmpfs", "minus_tmpfs_s",
            "import_median_s", "import_max_s", "visit_median_s", "python_start_median_s",
            "procs_cpu_s", "cpu_busy_s", "cpu_busy_pct", "steal_pct", "load1",
            "rx_over_set_median", "rx_over_set_min"]
    with open(args.out + ".csv", "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join("" if r.get(c) is None else str(r.get(c)) for c in cols) + "\n")
    plotted = [sy for sy in systems if any(g["system"] == sy and g["time_median_s"] for g in summary)]
    if args.gnuplot and plotted:
        dat = args.out + ".dat"
        with open(dat, "w") as f:
            for sy in plotted:
                f.write("# %s: N median min max\n" % sy)
                for g in summary:
                    if g["system"] == sy and g["time_median_s"]:
                        f.write("%d %.4f %.4f %.4f\n" % (g["nodes"], g["time_median_s"],
                                                         g["time_min_s"], g["time_max_s"]))
                f.write("\n\n")
        png = args.out + ".png"
        subprocess.run(["gnuplot", "-e", "datafile='%s'; outfile='%s'; titles='%s'; n=%d; heading='%s'"
                        % (dat, png, " ".join(plotted), len(plotted), head.replace("'", "")),
                        args.gnuplot], check=True)
        print("plot: %s" % png)
    print("results: %s.json %s.csv" % (args.out, args.out))


if __name__ == "__main__":
    sys.exit(main())
