#!/usr/bin/python3
"""ondemand_loader.py: read files one after another, like a dynamic loader, and time it.

ondemand_loader.py ROOT LIST OUT.json [--wait-complete MP] [--bitlib BIN] [--timeout SECS]

For each path in LIST (relative to ROOT, one per line, in order): open it, read it whole,
close it, next.  Writes OUT.json with absolute wall-clock times (time.time()): "t_start",
"t_read" (the last file read) and per file [path, bytes, seconds].  With --wait-complete,
then polls `BIN status MP --json` every 50 ms until pieces_had == pieces_total and records
"t_complete" (bulk mode: when the whole set is local).  Every step is bounded by --timeout
(default 300 s, counted from the start); on a failure OUT.json gets "error".
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
    args = ap.parse_args()
    res = {"t_start": time.time(), "files": []}
    deadline = time.monotonic() + args.timeout

    def save():
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f)
        os.replace(tmp, args.out)

    try:
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
        print("ondemand_loader: %s" % res["error"], file=sys.stderr)
        return 1
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
