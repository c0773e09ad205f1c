#!/usr/bin/python3
"""report.py --out PREFIX RESULT.kv...: the swarm benchmark's table, PREFIX.json and PREFIX.csv.

Each RESULT.kv holds key=value lines written by bench/swarm for one system.  Per system:
  T_last   seconds from the common start until the last node had everything
  /T_min   T_last over the fluid lower bound max(F/u_seed, F/d, N*F/(u_seed + N*u))
  seed/F   bytes the seeder's interface sent during the run, over the data size F
  cpu%     busy share of all CPUs of the machine during the run (the machine is shared)
  steal%   share of it the hypervisor gave to other machines (counted in cpu%): a run with
           much steal had less CPU, whatever the system did
  cli_cpu  CPU seconds of every process the system ran (seeder, tracker, nodes)
"""
import argparse
import csv
import json
import statistics
import sys


def load(path):
    kv = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                kv[k] = v
    return kv


def fluid_bound(F, n, u_seed, d, u):
    """Seconds; F in bytes, rates in bit/s."""
    bits = 8.0 * F
    return max(bits / u_seed, bits / d, n * bits / (u_seed + n * u))


def summarize(kv):
    n = int(kv["nodes"])
    F = int(kv["data_bytes"])
    rate = float(kv["rate_mbit"]) * 1e6
    r = {"system": kv["system"], "round": int(kv.get("round", 1)),
         "status": kv.get("status", "?"), "nodes": n,
         "rate_mbit": float(kv["rate_mbit"]), "data_bytes": F, "files": int(kv["files"]),
         "t_min_s": fluid_bound(F, n, rate, rate, rate), "notes": kv.get("notes", "")}
    if r["status"] == "SKIPPED":
        r["notes"] = kv.get("reason", "")
        return r
    if "t0" not in kv:
        return r
    t0 = float(kv["t0"])
    times = {}
    for item in kv.get("done_times", "").split():
        i, t = item.split(":", 1)
        times[int(i)] = float(t) - t0
    r["node_times_s"] = {str(k): round(v, 3) for k, v in sorted(times.items())}
    r["done"] = len(times)
    r["wall_s"] = float(kv["t_end"]) - t0
    if times:
        r["t_first_s"] = min(times.values())
        r["t_median_s"] = statistics.median(times.values())
    if r["status"] == "OK" and len(times) == n:
        r["t_last_s"] = max(times.values())
        r["ratio_to_bound"] = r["t_last_s"] / r["t_min_s"]
    r["seeder_tx_bytes"] = int(kv["seeder_tx_bytes"])
    r["seeder_tx_over_F"] = r["seeder_tx_bytes"] / F
    busy, total = int(kv["cpu_busy_ticks"]), int(kv["cpu_total_ticks"])
    r["cpu_busy_pct"] = 100.0 * busy / total if total else None
    steal = int(kv.get("cpu_steal_ticks") or 0)
    r["cpu_steal_pct"] = 100.0 * steal / total if total else None
    r["client_cpu_s"] = float(kv.get("client_cpu_s") or 0)
    r["ncpu"] = int(kv["ncpu"])
    if "verify" in kv:
        r["verify"] = kv["verify"]
    return r


def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def print_rounds_summary(rows, rounds):
    """Per system over its rounds: median, fastest and slowest T_last (completed runs only)."""
    print()
    print("over %d rounds (each system ran once per round, taking turns):" % rounds)
    head = ("system", "ok", "median s", "/T_min", "fastest", "slowest", "seed/F", "steal%")
    print("%-10s %5s %9s %7s %8s %8s %7s %6s" % head)
    seen = []
    for r in rows:
        if r["system"] not in seen:
            seen.append(r["system"])
    for name in seen:
        runs = [r for r in rows if r["system"] == name]
        ok = [r for r in runs if "t_last_s" in r]
        if not ok:
            print("%-10s %5s" % (name, "0/%d" % len(runs)))
            continue
        t = [r["t_last_s"] for r in ok]
        med = statistics.median(t)
        print("%-10s %5s %9.2f %7.2f %8.2f %8.2f %7.2f %6s" % (
            name, "%d/%d" % (len(ok), len(runs)), med, med / ok[0]["t_min_s"], min(t), max(t),
            statistics.median(r["seeder_tx_over_F"] for r in ok),
            fmt(statistics.median(r["cpu_steal_pct"] for r in ok
                                  if r.get("cpu_steal_pct") is not None), ".0f")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="path prefix for .json and .csv")
    ap.add_argument("results", nargs="+")
    args = ap.parse_args()
    rows = [summarize(load(p)) for p in args.results]
    if not rows:
        return 1
    first = rows[0]
    rounds = max(r["round"] for r in rows)
    print()
    print("swarm: N=%d nodes, %g Mbit/s per link each way, F=%d bytes (%.1f MiB, %d files), "
          "fluid bound T_min=%.2f s"
          % (first["nodes"], first["rate_mbit"], first["data_bytes"],
             first["data_bytes"] / 2**20, first["files"], first["t_min_s"]))
    head = ("system", "status", "done", "T_last s", "/T_min", "median s", "seed/F",
            "cpu%", "steal%", "cli_cpu s", "verify")
    print("%-12s %-8s %5s %9s %7s %9s %7s %5s %6s %9s %6s" % head)
    for r in rows:
        print("%-12s %-8s %5s %9s %7s %9s %7s %5s %6s %9s %6s  %s" % (
            r["system"] + (" r%d" % r["round"] if rounds > 1 else ""), r["status"],
            "%d/%d" % (r["done"], r["nodes"]) if "done" in r else "-",
            fmt(r.get("t_last_s"), ".2f"), fmt(r.get("ratio_to_bound"), ".2f"),
            fmt(r.get("t_median_s"), ".2f"), fmt(r.get("seeder_tx_over_F"), ".2f"),
            fmt(r.get("cpu_busy_pct"), ".0f"), fmt(r.get("cpu_steal_pct"), ".0f"),
            fmt(r.get("client_cpu_s"), ".1f"),
            r.get("verify", "-"), r.get("notes", "")))
    if rounds > 1:
        print_rounds_summary(rows, rounds)
    with open(args.out + ".json", "w") as f:
        json.dump(rows, f, indent=1)
        f.write("\n")
    cols = ["system", "round", "status", "nodes", "rate_mbit", "data_bytes", "files", "done", "t_last_s",
            "t_min_s", "ratio_to_bound", "t_first_s", "t_median_s", "seeder_tx_bytes",
            "seeder_tx_over_F", "cpu_busy_pct", "cpu_steal_pct", "client_cpu_s", "ncpu", "wall_s", "verify", "notes"]
    with open(args.out + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    print("results: %s.json %s.csv" % (args.out, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
