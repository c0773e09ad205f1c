#!/usr/bin/python3
"""ondemand_loader.py: mount, then read files one after another like a dynamic loader; time it.

ondemand_loader.py ROOT LIST OUT.json [--ready F --go F] [--pid-file F] [--done-file F] [--wait-complete MP]
                   [--bitlib BIN] [--timeout SECS] [-- MOUNT_CMD...]

With --ready/--go: create READY and wait (polling every 2 ms, at most 300 s) until GO exists,
so every node starts at one moment with its interpreter already running.  Then run MOUNT_CMD
if given (e.g. `bitlib mount ...`, which returns once the mount works), then for each path in
LIST (relative to ROOT, one per line, in order): open it, read it whole, close it, next.
Writes OUT.json with wall-clock times (time.time()): "t_start" (after the gate), "t_mount",
"t_read" (the last file read) and per file [path, bytes, seconds].  With --wait-complete, then
polls `BIN status MP --json` every 50 ms until pieces_had == pieces_total and records
"t_complete" (bulk mode: when the whole set is local).  With --pid-file, afterwards (also on
failure) writes the mount daemon's PID there (from `BIN status ROOT --json`) for cleanup;
with --done-file, last of all (on success only) the time there.
Every step is bounded by --timeout (default 300 s from the start); on a failure OUT.json
gets "error".
"""
import argparse
import json
import os
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("list")
    ap.add_argument("out")
    ap.add_argument("--wait-complete")
    ap.add_argument("--bitlib", default="bitlib")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--ready")
    ap.add_argument("--go")
    ap.add_argument("--pid-file")
    ap.add_argument("--done-file")
    ap.add_argument("mount_cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    mount_cmd = args.mount_cmd[1:] if args.mount_cmd[:1] == ["--"] else args.mount_cmd
    if args.ready and args.go:
        open(args.ready, "w").close()
        gate = time.monotonic() + 300
        while not os.path.exists(args.go):
            if time.monotonic() > gate:
                sys.exit("ondemand_loader: %s never appeared" % args.go)
            time.sleep(0.002)
    res = {"t_start": time.time(), "files": []}
    deadline = time.monotonic() + args.timeout

    def save():
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f)
        os.replace(tmp, args.out)

    def record_pid():
        if not args.pid_file:
            return
        try:
            st = subprocess.run([args.bitlib, "status", args.root, "--json"],
                                capture_output=True, text=True, timeout=10)
            with open(args.pid_file, "w") as f:
                f.write("%d\n" % json.loads(st.stdout)["pid"])
        except Exception as e:
            print("ondemand_loader: no daemon PID: %s" % e, file=sys.stderr)

    try:
        if mount_cmd:
            subprocess.run(mount_cmd, check=True, timeout=max(1.0, deadline - time.monotonic()))
        res["t_mount"] = time.time()
        with open(args.list) as f:
            paths = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        for rel in paths:
            t = time.monotonic()
            n = 0
            with open(os.path.join(args.root, rel), "rb", buffering=0) as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    n += len(b)
            res["files"].append([rel, n, round(time.monotonic() - t, 6)])
            if time.monotonic() > deadline:
                raise TimeoutError("timed out after %d of %d files" % (len(res["files"]), len(paths)))
        res["t_read"] = time.time()
        if args.wait_complete:
            while True:
                st = subprocess.run([args.bitlib, "status", args.wait_complete, "--json"],
                                    capture_output=True, text=True, timeout=10)
                if st.returncode == 0:
                    j = json.loads(st.stdout)
                    if j.get("pieces_had") == j.get("pieces_total"):
                        res["t_complete"] = time.time()
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError("the set never became complete")
                time.sleep(0.05)
    except Exception as e:  # recorded for the report, and the exit status says it
        res["error"] = "%s: %s" % (type(e).__name__, e)
        save()
        record_pid()
        print("ondemand_loader: %s" % res["error"], file=sys.stderr)
        return 1
    save()
    record_pid()
    if args.done_file:
        with open(args.done_file + ".tmp", "w") as f:
            f.write("%.6f\n" % time.time())
        os.replace(args.done_file + ".tmp", args.done_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
