#!/usr/bin/env python3
"""offload_tcsample.py: sample the byte counters of the HTB classes on one interface of a
network namespace, for bench/offload/run's deadline part (the center's per-depot rates).

    offload_tcsample.py NETNS DEV INTERVAL_S STOPFILE OUT

Every INTERVAL_S seconds, until STOPFILE exists, appends "t classid bytes" lines to OUT
(t: seconds since the sampler started, from CLOCK_MONOTONIC; bytes: what the class has
sent so far, headers included).  Runs `ip netns exec NETNS tc -s class show dev DEV`.
"""
import os
import re
import subprocess
import sys
import time

ns, dev, interval, stop, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
pat = re.compile(r"^class htb (\S+) .*?\n\s*Sent (\d+) bytes", re.M | re.S)
t0 = time.monotonic()
with open(out, "a") as f:
    while not os.path.exists(stop):
        t = time.monotonic() - t0
        try:
            txt = subprocess.run(["ip", "netns", "exec", ns, "tc", "-s", "class", "show", "dev", dev],
                                 capture_output=True, text=True, timeout=5).stdout
        except subprocess.TimeoutExpired:
            txt = ""
        # one record per class: split on "class " at line starts so the regex stays local
        for block in re.split(r"(?m)^(?=class )", txt):
            m = pat.match(block)
            if m:
                f.write(f"{t:.3f} {m.group(1)} {m.group(2)}\n")
        f.flush()
        time.sleep(max(0.0, interval - (time.monotonic() - t0 - t)))
