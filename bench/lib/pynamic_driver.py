#!/usr/bin/python3
"""pynamic_driver.py: import every module of a pynamic_gen.py set and call every function.

pynamic_driver.py MANIFEST [--out FILE]

MANIFEST is the set's pynamic.json (any copy: only the module names and the expected sum
are read from it).  The modules are imported by name, so they are found wherever
PYTHONPATH points (the mount, a local copy, sshfs).  Prints, and with --out writes as JSON:
the time from interpreter start-up to the driver's first line (start), the import time,
the visit time (every visit_FFFF of every module), and the wall time the moment it is done
(t_end, seconds since the epoch).  "{copy}" in FILE becomes $RUNNODE_COPY (default 1).
Exits 1 if a module is missing or the sum is wrong.
"""
import importlib
import json
import os
import sys
import time

t_begin = time.time()


def main():
    args = sys.argv[1:]
    out = None
    if len(args) == 3 and args[1] == "--out":
        out = args[2]
    elif len(args) != 1:
        sys.exit("usage: pynamic_driver.py MANIFEST [--out FILE]")
    with open(args[0]) as f:
        man = json.load(f)
    t0 = time.perf_counter()
    mods = [importlib.import_module(n) for n in man["modules"]]
    t1 = time.perf_counter()
    total, calls = 0, 0
    for m in mods:
        for name in dir(m):
            if name.startswith("visit_"):
                total += getattr(m, name)()
                calls += 1
    t2 = time.perf_counter()
    res = {"t_begin": t_begin, "import_s": t1 - t0, "visit_s": t2 - t1, "calls": calls,
           "sum_ok": total == man["expected_sum"] and calls == man["calls"],
           "first_module": mods[0].__file__ if mods else None, "t_end": time.time()}
    line = json.dumps(res)
    print(line)
    if out:
        with open(out.replace("{copy}", os.environ.get("RUNNODE_COPY", "1")), "w") as f:
            f.write(line + "\n")
    if not res["sum_ok"]:
        sys.exit("pynamic_driver: got %d from %d calls, expected %d from %d"
                 % (total, calls, man["expected_sum"], man["calls"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
