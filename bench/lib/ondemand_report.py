#!/usr/bin/python3
"""ondemand_report.py: the table, JSON, CSV and CDF plot of a bench/ondemand run.

ondemand_report.py --out PREFIX [--gnuplot cdf.gp] SYSTEM.kv...

Each SYSTEM.kv (key=value lines, written by bench/ondemand) names a directory (resdir) with
per-node results: I.json (ondemand_loader.py times), I.mount, I.done, I.status (bitlib
status --json at the end), cpu.* (runnode).  A node's time is from the start gate (t0) to
the moment it had read its K files (bitlib: the loader's t_read; ctorrent: its completion
hook).  Writes PREFIX.json, PREFIX.csv, PREFIX.cdf.dat and PREFIX.png.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys


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


def node_results(kv):
    """Per node: time to read the K files, time all-local (bulk), mount time, status."""
    res = kv.get("resdir", "")
    t0 = num(kv.get("t0"))
    nodes = []
    for i in range(1, int(kv["nodes"]) + 1):
        n = {"node": i}
        j = os.path.join(res, "%d.json" % i)
        if os.path.exists(j):
            with open(j) as f:
                d = json.load(f)
            if "t_read" in d and "error" not in d:
                n["t_read"] = d["t_read"] - t0
            if "t_complete" in d:
                n["t_complete"] = d["t_complete"] - t0
            for k in ("t_start", "t_mount"):
                if k in d:
                    n[k] = d[k] - t0
            if "error" in d:
                n["error"] = d["error"]
            lat = [x[2] for x in d.get("files", [])]
            n["files_read"] = len(lat)
            if lat:
                n["file_latency_median_s"] = statistics.median(lat)
                n["file_latency_max_s"] = max(lat)
        elif os.path.exists(os.path.join(res, "%d.done" % i)):  # ctorrent hook
            with open(os.path.join(res, "%d.done" % i)) as f:
                n["t_read"] = float(f.read()) - t0
        s = os.path.join(res, "%d.status" % i)
        if os.path.exists(s) and os.path.getsize(s):
            try:
                with open(s) as f:
                    st = json.load(f)
                for k in ("bytes_downloaded", "bytes_from_seeders", "bytes_from_peers",
                          "bytes_wasted", "pieces_had", "pieces_total"):
                    if k in st:
                        n[k] = st[k]
            except ValueError:
                pass
        nodes.append(n)
    return nodes


def summarize(kv):
    s = {k: kv.get(k) for k in ("system", "status", "notes", "reason")}
    s["order"] = kv.get("order", "same")
    s["round"] = int(kv.get("round", 1))
    s["nodes"] = int(kv["nodes"])
    if kv.get("status") in (None, "SKIPPED"):
        return s, []
    nodes = node_results(kv)
    times = sorted(n["t_read"] for n in nodes if "t_read" in n)
    s["done"] = len(times)
    s["times"] = times
    if times:
        s["median_s"] = statistics.median(times)
        s["max_s"] = max(times) if len(times) == s["nodes"] else None
    mounts = [n["t_mount"] for n in nodes if "t_mount" in n]
    if mounts:
        s["mount_median_s"] = statistics.median(mounts)
    comp = sorted(n["t_complete"] for n in nodes if "t_complete" in n)
    if comp:
        s["all_local_median_s"] = statistics.median(comp)
        s["all_local_max_s"] = max(comp) if len(comp) == s["nodes"] else None
    read_bytes = int(kv["read_bytes"])
    tx = int(kv.get("seeder_tx_bytes") or 0)
    s["seeder_tx_bytes"] = tx
    s["seeder_tx_over_read"] = tx / read_bytes if read_bytes else None
    ntx = [int(x) for x in (kv.get("node_tx_bytes") or "").split(",") if x]
    if ntx:
        s["node_tx_bytes"] = ntx
        s["max_node_tx_over_read"] = max(ntx) / read_bytes if read_bytes else None
    if times and s.get("max_s"):
        s["max_over_median"] = s["max_s"] / s["median_s"]
    for k in ("bytes_from_seeders", "bytes_from_peers", "bytes_wasted"):
        vals = [n[k] for n in nodes if k in n]
        if vals:
            s[k] = sum(vals)
    busy, total = num(kv.get("cpu_busy_ticks"), 0), num(kv.get("cpu_total_ticks"), 0)
    s["cpu_busy_pct"] = 100.0 * busy / total if total else None
    s["wall_s"] = num(kv.get("t_end"), 0) - num(kv.get("t0"), 0)
    s["timeout_s"] = int(kv.get("timeout_s", 0))
    return s, nodes


def fmt(x, spec="%.2f"):
    return "-" if x is None else spec % x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--gnuplot")
    ap.add_argument("kv", nargs="+")
    args = ap.parse_args()
    kvs = [read_kv(p) for p in args.kv]
    rows, per_node, rows_summary = [], {}, []
    for kv in kvs:
        s, nodes = summarize(kv)
        rows.append(s)
        per_node["%s.%s.r%d" % (s["system"], s["order"], s["round"])] = nodes
    first = kvs[0]
    def hybrid_of(r):
        return next((h for h in rows if h["system"] == "hybrid" and h.get("median_s") and
                     h["order"] == r["order"] and h["round"] == r["round"]), None)

    head = ("N=%s, %s Mbit/s links, %s files (%s bytes); every node reads %s of them (%s bytes)"
            % (first["nodes"], first["rate_mbit"], first["files"], first["set_bytes"],
               first["read_files"], first["read_bytes"]))
    print(head)
    print("%-11s %-8s %2s %-8s %5s %6s %8s %8s %8s %8s %7s %9s %7s %9s %7s %5s" % (
        "system", "order", "r", "status", "done", "mount", "median", "max", "med/hyb", "max/hyb",
        "max/med", "seed/read", "up/read", "all-local", "peers%", "cpu%"))
    for r in rows:
        if r.get("status") == "SKIPPED":
            print("%-11s SKIPPED  %s" % (r["system"], r.get("reason") or ""))
            continue
        hyb = hybrid_of(r)
        mh = r.get("median_s") / hyb["median_s"] if hyb and r.get("median_s") else None
        xh = (r["max_s"] / hyb["max_s"]) if hyb and r.get("max_s") and hyb.get("max_s") else None
        fs, fp = r.get("bytes_from_seeders"), r.get("bytes_from_peers")
        peers = 100.0 * fp / (fs + fp) if fs is not None and fp is not None and fs + fp else None
        r["median_over_hybrid"], r["max_over_hybrid"], r["peer_share_pct"] = mh, xh, peers
        al = (fmt(r.get("all_local_max_s")) if "all_local_median_s" in r else "-")
        print("%-11s %-8s %2d %-8s %2d/%-2d %6s %8s %8s %8s %8s %7s %9s %7s %9s %7s %5s" % (
            r["system"], r["order"], r["round"], r.get("status"), r.get("done", 0), r["nodes"],
            fmt(r.get("mount_median_s")),
            fmt(r.get("median_s")), fmt(r.get("max_s")) if r.get("max_s") else ">%d" % r.get("timeout_s", 0),
            fmt(mh), fmt(xh), fmt(r.get("max_over_median")), fmt(r.get("seeder_tx_over_read")),
            fmt(r.get("max_node_tx_over_read")), al, fmt(peers, "%.0f"),
            fmt(r.get("cpu_busy_pct"), "%.0f")))
        if r.get("times"):
            print("    node times: %s" % " ".join("%.2f" % t for t in r["times"]))
    print("times in seconds from the start gate (mount: median time the mount command took; "
          "median/max: until the node had read its last file); seed/read = bytes the seeder node sent / bytes of the files read; "
          "all-local = bulk: the last node to have the whole set; peers% = share of bitlib nodes' "
          "bytes that came from other nodes; cpu% = whole machine busy during the run; "
          "max/med = slowest node / median node; up/read = most bytes one node sent / bytes of the files read")
    groups = {}
    for r in rows:
        if r.get("median_s"):
            groups.setdefault((r["order"], r["system"]), []).append(r)
    if any(len(v) > 1 for v in groups.values()):
        def med(vals):
            vals = [v for v in vals if v is not None]
            return statistics.median(vals) if vals else None
        print()
        print("medians over rounds (ratios to hybrid taken within each round, then the median)")
        print("%-8s %-11s %6s %8s %8s %8s %8s %7s %9s %7s" % (
            "order", "system", "rounds", "median", "max", "med/hyb", "max/hyb", "max/med",
            "seed/read", "up/read"))
        summary = []
        for (order, system), rs in groups.items():
            g = {"order": order, "system": system, "rounds": len(rs),
                 "median_s": med([r["median_s"] for r in rs]),
                 "max_s": med([r.get("max_s") for r in rs]),
                 "median_over_hybrid": med([r.get("median_over_hybrid") for r in rs]),
                 "max_over_hybrid": med([r.get("max_over_hybrid") for r in rs]),
                 "max_over_median": med([r.get("max_over_median") for r in rs]),
                 "seeder_tx_over_read": med([r.get("seeder_tx_over_read") for r in rs]),
                 "max_node_tx_over_read": med([r.get("max_node_tx_over_read") for r in rs])}
            summary.append(g)
            print("%-8s %-11s %6d %8s %8s %8s %8s %7s %9s %7s" % (
                order, system, len(rs), fmt(g["median_s"]), fmt(g["max_s"]),
                fmt(g["median_over_hybrid"]), fmt(g["max_over_hybrid"]), fmt(g["max_over_median"]),
                fmt(g["seeder_tx_over_read"]), fmt(g["max_node_tx_over_read"])))
        rows_summary[:] = summary

    with open(args.out + ".json", "w") as f:
        json.dump({"heading": head, "systems": rows, "nodes": per_node, "rounds": rows_summary,
                   "params": {k: first.get(k) for k in ("nodes", "rate_mbit", "files", "set_bytes",
                                                        "read_files", "read_bytes", "piece",
                                                        "timeout_s")}}, f, indent=1)
    cols = ["system", "order", "round", "status", "nodes", "done", "mount_median_s", "median_s", "max_s", "median_over_hybrid",
            "max_over_hybrid", "seeder_tx_bytes", "seeder_tx_over_read", "all_local_median_s",
            "all_local_max_s", "bytes_from_seeders", "bytes_from_peers", "bytes_wasted",
            "cpu_busy_pct", "wall_s", "max_over_median", "max_node_tx_over_read"]
    with open(args.out + ".csv", "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join("" if r.get(c) is None else str(r.get(c)) for c in cols) + "\n")
    plotted = [r for r in rows if r.get("times")]
    if args.gnuplot and plotted:
        dat = args.out + ".cdf.dat"
        with open(dat, "w") as f:
            for r in plotted:
                f.write("# %s.%s.r%d\n%.4f 0\n" % (r["system"], r["order"], r["round"], r["times"][0]))
                for k, t in enumerate(r["times"], 1):
                    f.write("%.4f %.4f\n" % (t, k / r["nodes"]))
                f.write("\n\n")
        titles = " ".join("%s.%s.r%d" % (r["system"], r["order"], r["round"]) for r in plotted)
        png = args.out + ".png"
        subprocess.run(["gnuplot", "-e", "datafile='%s'; outfile='%s'; titles='%s'; n=%d; heading='%s'"
                        % (dat, png, titles, len(plotted), head.replace("'", "")), args.gnuplot],
                       check=True)
        print("plot: %s" % png)
    print("results: %s.json %s.csv" % (args.out, args.out))


if __name__ == "__main__":
    sys.exit(main())
