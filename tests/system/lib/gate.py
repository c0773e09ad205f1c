#!/usr/bin/python3
"""gate.py N OUTDIR CMD...: start N copies of CMD in the same instant.

Forks N children that each block on one pipe; closing it wakes them together and each
execs CMD (RANK=i in its environment) with stdout in OUTDIR/out<i> and stderr in
OUTDIR/err<i>.  Waits for all, writes each exit status to OUTDIR/rc<i>, and prints the
spread of the moments the children were released (ms between the first and the last exec).
"""
import os
import sys
import time

n, out, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
r, w = os.pipe()
kids = []
for i in range(1, n + 1):
    pid = os.fork()
    if pid == 0:
        os.close(w)
        tf = os.open(os.path.join(out, "t%d" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(os.open(os.path.join(out, "out%d" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
        os.dup2(os.open(os.path.join(out, "err%d" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        os.environ["RANK"] = str(i)
        os.read(r, 1)  # EOF when the parent closes w
        os.write(tf, b"%d\n" % time.clock_gettime_ns(time.CLOCK_REALTIME))
        os.execvp(cmd[0], cmd)
    kids.append(pid)
os.close(r)
time.sleep(0.2)  # every child is blocked in read
os.close(w)
for i, pid in enumerate(kids, 1):
    _, st = os.waitpid(pid, 0)
    with open(os.path.join(out, "rc%d" % i), "w") as f:
        f.write("%d\n" % os.waitstatus_to_exitcode(st))
ts = [int(open(os.path.join(out, "t%d" % i)).read()) for i in range(1, n + 1)]
print("%.1f" % ((max(ts) - min(ts)) / 1e6))
